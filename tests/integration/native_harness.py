"""What the native runtime's integration tests add to tests.integration.driver_harness (one
run id, every instance tracked, nothing left): the runtime's requirements, and the ways to
find an instance's processes from the host."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from runtimes.instance import Instance
from runtimes.native.driver import NativeDriver, NativeHandle
from tests.integration.driver_harness import Harness as DriverHarness
from tests.integration.driver_harness import deadline, require_driver, status_fields
from tests.integration.driver_harness import open_harness as open_driver_harness

__all__ = ["Harness", "deadline", "handle", "launcher", "open_harness", "probe_pid",
           "requirements", "status_fields", "workload_pids"]
Harness = DriverHarness[NativeDriver]


def requirements() -> None:
    require_driver(NativeDriver)


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


@contextmanager
def open_harness(work: Path, cache: Path) -> Iterator[Harness]:
    """A harness that must leave nothing behind when the test ends, however it ends."""
    requirements()
    with open_driver_harness(NativeDriver, work, cache) as made:
        yield made
