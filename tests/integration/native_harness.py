"""What the native runtime's integration tests share: drivers for one run id, every instance
tracked, and proof at the end that no cgroup, mount or process of the run is left; plus the
ways to find an instance's processes from the host."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.workload.bundle import build_bundle
from runtimes.base import ProbeCommand, RunContext
from runtimes.instance import Instance
from runtimes.native.driver import NativeDriver, NativeHandle, NativeOptions
from tests.conftest import require


def requirements() -> None:
    require(os.geteuid() == 0, "root (namespaces, cgroups)")
    reason = NativeDriver.unavailable_reason(NativeOptions())
    require(reason is None, f"the native runtime to be available ({reason})")


class Harness:
    """Makes drivers for one run id, tracks every instance, and proves the cleanup."""

    def __init__(self, work: Path, cache: Path) -> None:
        self.run_id = f"t{uuid.uuid4().hex[:8]}"
        self.work = work
        self.cache = cache
        self.probe = build_bundle(cache).probe
        self.started: list[tuple[NativeDriver, Instance]] = []
        self.drivers: list[NativeDriver] = []

    def driver(self, options: dict[str, Any] | None = None,
               cls: type[NativeDriver] = NativeDriver,
               extra_files: dict[str, Path] | None = None) -> NativeDriver:
        context = RunContext(run_id=self.run_id, cache_dir=self.cache, work_dir=self.work)
        driver = cls(f"native{len(self.drivers)}", NativeOptions(**(options or {})), context)
        driver.prepare(self.probe, extra_files)
        self.drivers.append(driver)
        return driver

    def start(self, driver: NativeDriver, mode: str, *args: str) -> Instance:
        instance = driver.start(ProbeCommand(mode, args), deadline(10))
        self.started.append((driver, instance))
        return instance

    def close(self) -> None:
        for driver, instance in self.started:
            driver.stop(instance)
        for driver in self.drivers:
            driver.close()
        assert NativeDriver.clean(NativeOptions(), self.run_id, dry_run=True) == []
        assert processes_of_run(self.run_id) == []
        mounts = Path("/proc/self/mountinfo").read_text()
        assert str(self.work) not in mounts


def deadline(seconds: float) -> int:
    return time.monotonic_ns() + int(seconds * 1e9)


def processes_of_run(run_id: str) -> list[int]:
    """Host pids whose cgroup carries the run id (nothing may outlive its instance)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and f"bench-{run_id}-" in (entry / "cgroup").read_text():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def handle(instance: Instance) -> NativeHandle:
    found: NativeHandle = instance.handle
    return found


def launcher(instance: Instance) -> subprocess.Popen[bytes]:
    process = handle(instance).launcher
    assert process is not None
    return process


def workload_pids(driver: NativeDriver, instance: Instance) -> list[int]:
    """The instance's processes other than the launcher (v1 counts the launcher in the cgroup)."""
    return [p for p in driver.cgroups.members(handle(instance).cgroup)
            if p != launcher(instance).pid]


def probe_pid(driver: NativeDriver, instance: Instance) -> int:
    pids = workload_pids(driver, instance)
    assert len(pids) == 1, f"expected only the probe in the cgroup, found {pids}"
    return pids[0]


def status_fields(text: str) -> dict[str, str]:
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


@contextmanager
def open_harness(work: Path, cache: Path) -> Iterator[Harness]:
    """A harness that must leave nothing behind when the test ends, however it ends."""
    requirements()
    made = Harness(work, cache)
    try:
        yield made
    finally:
        made.close()
