"""What the tests of the host drivers (native, oci, lxc, podman) share: drivers for one run
id, every instance tracked and stopped, the `inside` helper, and the proof that nothing is
left.

"Nothing left" is checked three ways after each test: the driver's own clean finds nothing
of the run, no process sits in a cgroup named after the run, and no mount of the run's
work directory is left on the host.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Generic, TypeVar

from bench.run_command import new_run_id
from bench.workload.bundle import build_bundle
from runtimes.base import Driver, ProbeCommand, RunContext
from runtimes.host.build import compile_static
from runtimes.instance import Instance
from tests.conftest import require

HERE = Path(__file__).parent
INSIDE_SOURCE = HERE / "inside.c"
INSIDE_LINE = re.compile(r"INSIDE (.*)")

D = TypeVar("D", bound=Driver[Any, Any])


def require_driver(cls: type[Driver[Any, Any]], **options: Any) -> None:
    """Root, and the driver available here with these options (a skip on a developer's
    machine, a failure in CI, as tests.conftest.require says)."""
    require(os.geteuid() == 0, f"root (the {cls.kind} driver)")
    reason = cls.unavailable_reason(cls.Options.model_validate(options))
    require(reason is None, f"the {cls.kind} driver with {options or 'its defaults'} ({reason})")


@contextmanager
def open_harness(cls: type[D], work: Path, cache: Path) -> Iterator[Harness[D]]:
    """A harness that must leave nothing behind when the test ends, however it ends."""
    made = Harness(cls, work, cache)
    try:
        yield made
    finally:
        made.close()


def deadline(seconds: float = 60.0) -> int:
    return time.monotonic_ns() + int(seconds * 1e9)


def processes_of_run(run_id: str) -> list[int]:
    """Live host pids whose cgroup carries the run id (nothing may outlive its instance).

    A container's process is no child of ours (the runtime exits after `create`): once it
    ends it waits as a zombie, its resources freed, until the host's init reaps it; that
    is not a leftover."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if (entry.name.isdigit() and f"bench-{run_id}-" in (entry / "cgroup").read_text()
                    and (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def status_fields(text: str) -> dict[str, str]:
    """/proc/PID/status as a mapping: NSpid, CapBnd, ..."""
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


def inside_facts(instance: Instance[Any]) -> dict[str, str]:
    """The `inside` helper's line as a mapping: pid, hostname, ifaces, capeff, capbnd, nnp, rootro."""
    _, line = instance.output.wait_for("INSIDE ", deadline(30), "the inside helper")
    found = INSIDE_LINE.search(line)
    assert found, line
    return dict(item.split("=", 1) for item in found.group(1).split())


class Harness(Generic[D]):
    """Makes drivers of one class for one run id, tracks every instance, proves the cleanup."""

    def __init__(self, cls: type[D], work: Path, cache: Path) -> None:
        self.cls = cls
        self.run_id = new_run_id()  # as long as the ids bench makes: names must fit
        self.work = work
        self.cache = cache
        self.probe = build_bundle(cache).probe
        self.started: list[tuple[D, Instance[Any]]] = []
        self.drivers: list[D] = []

    def context(self) -> RunContext:
        return RunContext(run_id=self.run_id, cache_dir=self.cache, work_dir=self.work)

    def driver(self, options: dict[str, Any] | None = None, inside: bool = False,
               cls: type[D] | None = None, extra_files: dict[str, Path] | None = None) -> D:
        """A prepared driver; its rootfs also holds extra_files, and /inside with inside."""
        made = (cls or self.cls)(f"{self.cls.kind}{len(self.drivers)}",
                                 self.cls.Options.model_validate(options or {}), self.context())
        extra = dict(extra_files or {})
        if inside:
            extra["inside"] = compile_static(INSIDE_SOURCE, self.cache)
        if extra:
            made.prepare(self.probe, extra)  # type: ignore[call-arg]  (the rootfs drivers take it)
        else:
            made.prepare(self.probe)
        self.drivers.append(made)
        return made

    def start(self, driver: D, mode: str | None = None, *args: str) -> Instance[Any]:
        """The probe as asked, or (no mode) ready and idle for two minutes."""
        command = ProbeCommand("ready", ("idle=120",)) if mode is None else ProbeCommand(mode, args)
        instance = driver.start(command, deadline())
        self.started.append((driver, instance))
        return instance

    def close(self) -> None:
        """Stop what was started, close the drivers, then prove nothing of the run is left.
        The driver's clean removes what it finds (and the test fails all the same), so a
        teardown that failed leaves no container or cgroup behind for the next test."""
        for driver, instance in self.started:
            driver.stop(instance)
        for driver in self.drivers:
            driver.close()
        processes = processes_of_run(self.run_id)  # before clean ends them
        left = (self.cls.clean(self.cls.Options(), self.run_id, dry_run=False), processes,
                str(self.work) in Path("/proc/self/mountinfo").read_text())
        assert left == ([], [], False), f"left behind: {left}"


def inside_driver(cls: type[D]) -> type[D]:
    """The driver class running /inside instead of the probe."""

    class Inside(cls):  # type: ignore[valid-type,misc]
        def command_argv(self, command: ProbeCommand) -> list[str]:
            return ["/inside"]

    return Inside  # type: ignore[no-any-return]
