"""What the tests of every driver share (the conformance suite, and each driver's own file):
drivers for one run id, every instance tracked and stopped, the `inside` helper, and the
proof that nothing is left.

"Nothing left" is checked after each test (or module) two ways: the driver's own clean
finds nothing of the run, and a look that does not use any driver's code (`seen_on_host`:
processes, cgroups, mounts and state directories named for the run, and the containers or
domains the engines list) finds nothing either, so a clean that misses something cannot
hide it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any, Generic, TypeVar

from bench.running import new_run_id
from bench.workload.bundle import build_bundle
from foundation.errors import BenchError
from runtimes.base import Driver, ProbeCommand, RunContext, instance_prefix
from runtimes.host.build import compile_static
from runtimes.host.labels import RUN_LABEL
from runtimes.host.spawn import tagged_processes
from runtimes.instance import Instance
from tests.conftest import require

HERE = Path(__file__).parent
INSIDE_SOURCE = HERE / "inside.c"
INSIDE_LINE = re.compile(r"INSIDE (.*)")
BOOT_SECONDS = 60.0
# what a driver's clean lists that a failed start keeps on purpose, for a look (a guest's
# QEMU log): the clean removes it, but it is no leftover of a teardown
KEPT_FOR_A_LOOK = ("log ",)
STATE_DIRS = (Path("/run/bench"), Path("/run/lxc/lock/run/bench"))

D = TypeVar("D", bound=Driver[Any, Any])


def require_driver(cls: type[Driver[Any, Any]], **options: Any) -> None:
    """Root, and the driver available here with these options (a skip on a developer's
    machine, a failure in CI, as tests.conftest.require says)."""
    require(os.geteuid() == 0, f"root (the {cls.kind} driver)")
    reason = cls.unavailable_reason(cls.Options.model_validate(options))
    require(reason is None, f"the {cls.kind} driver with {options or 'its defaults'} ({reason})")


@contextmanager
def open_harness(cls: type[D], work: Path, cache: Path,
                 boot_seconds: float = BOOT_SECONDS) -> Iterator[Harness[D]]:
    """A harness that must leave nothing behind when the test ends, however it ends."""
    made = Harness(cls, work, cache, boot_seconds)
    try:
        yield made
    finally:
        made.close()


def deadline(seconds: float = BOOT_SECONDS) -> int:
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


def seen_on_host(run_id: str) -> list[str]:
    """What of the run a look that uses no driver's code finds: processes charged to a
    cgroup named for it or carrying an instance's tag, cgroup directories and mounts named
    for it, state directories under /run, containers dockerd and podman list with its label,
    libvirt domains named for it. Empty once a run's instances are all gone."""
    prefix = instance_prefix(run_id)
    found = [f"process {pid}" for pid in processes_of_run(run_id)]
    found += [f"tagged process {pid} ({name})" for pid, name in tagged_processes(prefix)]
    found += [f"cgroup {path}" for path in Path("/sys/fs/cgroup").glob(f"*/**/*{prefix}*")]
    found += [f"mount {line.split()[4]}" for line in Path("/proc/self/mountinfo").read_text()
              .splitlines() if prefix in line.split()[4] or f"/{run_id}/" in line.split()[4]]
    found += [f"state directory {path}" for base in STATE_DIRS if base.is_dir()
              for path in base.glob(f"*/{run_id}")]
    for engine in (docker_containers, podman_containers, libvirt_domains):
        found += engine(run_id)
    return found


def listed(argv: list[str], what: str) -> list[str]:
    """Each line a tool prints, named as `what`; nothing where the tool is missing."""
    if shutil.which(argv[0]) is None:
        return []
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    return [f"{what} {line}" for line in done.stdout.split() if line] if done.returncode == 0 else []


def docker_containers(run_id: str) -> list[str]:
    if not Path("/var/run/docker.sock").exists():
        return []
    return listed(["docker", "ps", "--all", "--quiet", "--filter", f"label={RUN_LABEL}={run_id}"],
                  "docker container")


def podman_containers(run_id: str) -> list[str]:
    return listed(["podman", "ps", "--all", "--quiet", "--filter", f"label={RUN_LABEL}={run_id}"],
                  "podman container")


def libvirt_domains(run_id: str) -> list[str]:
    names = listed(["virsh", "-c", "qemu:///system", "list", "--all", "--name"], "domain")
    return [name for name in names if instance_prefix(run_id) in name]


def status_fields(text: str) -> dict[str, str]:
    """/proc/PID/status as a mapping: NSpid, CapBnd, ..."""
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


def inside_facts(instance: Instance[Any]) -> dict[str, str]:
    """The `inside` helper's line as a mapping: pid, hostname, ifaces, capeff, capbnd, nnp, rootro."""
    _, line = instance.output.wait_for("INSIDE ", deadline(30), "the inside helper")
    found = INSIDE_LINE.search(line)
    assert found, line
    return dict(item.split("=", 1) for item in found.group(1).split())


def attempt(action: Callable[[], object], what: str) -> list[str]:
    """[] when the action works, else what failed: a teardown's error must not stop the
    harness from cleaning up (and is reported all the same)."""
    try:
        action()
    except BenchError as error:
        return [f"{what}: {error}"]
    return []


class Harness(Generic[D]):
    """Makes drivers of one class for one run id, tracks every instance, proves the cleanup."""

    def __init__(self, cls: type[D], work: Path, cache: Path,
                 boot_seconds: float = BOOT_SECONDS) -> None:
        self.cls = cls
        self.run_id = new_run_id()  # as long as the ids bench makes: names must fit
        self.work = work
        self.cache = cache
        self.boot_seconds = boot_seconds  # a TCG guest takes ten seconds or more
        self.bundle = build_bundle(cache)
        self.probe = self.bundle.probe
        self.started: list[tuple[D, Instance[Any]]] = []
        self.drivers: list[D] = []

    def context(self) -> RunContext:
        return RunContext(run_id=self.run_id, cache_dir=self.cache, work_dir=self.work)

    def driver(self, options: dict[str, Any] | None = None, inside: bool = False,
               cls: type[D] | None = None, extra_files: dict[str, Path] | None = None,
               probe: Path | None = None) -> D:
        """A prepared driver; its rootfs also holds extra_files, and /inside with inside;
        `probe` stands in for the real one (a program that fails on purpose)."""
        made = (cls or self.cls)(f"{self.cls.kind}{len(self.drivers)}",
                                 self.cls.Options.model_validate(options or {}), self.context())
        self.drivers.append(made)  # closed at the end even if prepare fails half-way
        extra = dict(extra_files or {})
        if inside:
            extra["inside"] = compile_static(INSIDE_SOURCE, self.cache)
        if extra:
            made.prepare(probe or self.probe, extra)  # type: ignore[call-arg]  (the rootfs drivers take it)
        else:
            made.prepare(probe or self.probe)
        return made

    def start(self, driver: D, mode: str | None = None, *args: str) -> Instance[Any]:
        """The probe as asked, or (no mode) ready and idle for five minutes."""
        command = ProbeCommand("ready", ("idle=300",)) if mode is None else ProbeCommand(mode, args)
        instance = driver.start(command, deadline(self.boot_seconds))
        self.started.append((driver, instance))
        return instance

    def close(self) -> None:
        """Stop what was started, close the drivers, then prove nothing of the run is left.
        The driver's clean removes what it finds (and the test fails all the same), so a
        teardown that failed leaves no container or cgroup behind for the next test."""
        problems = [problem for driver, instance in self.started
                    for problem in attempt(partial(driver.stop, instance), f"stop {instance.name}")]
        problems += [problem for driver in self.drivers
                     for problem in attempt(driver.close, f"close {driver.name}")]
        seen = seen_on_host(self.run_id)  # before clean removes it
        options = self.cls.Options()
        cleaned = [line for line in self.cls.clean(options, self.run_id, dry_run=False)
                   if not line.startswith(KEPT_FOR_A_LOOK)]
        still = self.cls.clean(options, self.run_id, dry_run=True)
        mounted = str(self.work) in Path("/proc/self/mountinfo").read_text()
        left = (problems, cleaned, still, seen, mounted)
        assert left == ([], [], [], [], False), f"left behind: {left}"


def inside_driver(cls: type[D]) -> type[D]:
    """The driver class running /inside instead of the probe."""

    class Inside(cls):  # type: ignore[valid-type,misc]
        def command_argv(self, command: ProbeCommand) -> list[str]:
            return ["/inside"]

    return Inside  # type: ignore[no-any-return]
