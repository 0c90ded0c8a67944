"""What the native runtime's integration tests add to tests.integration.driver_harness (one
run id, every instance tracked, nothing left): the runtime's requirements, and the ways to
find an instance's processes from the host."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from runtimes.host.cgroups import CgroupV2, detect
from runtimes.host.launched import Contained
from runtimes.host.launcher import Launched
from runtimes.instance import Instance
from runtimes.native.driver import NativeDriver
from tests.conftest import require
from tests.integration.driver_harness import Harness as DriverHarness
from tests.integration.driver_harness import deadline, require_driver, status_fields
from tests.integration.driver_harness import open_harness as open_driver_harness

__all__ = ["Harness", "deadline", "handle", "hybrid_cgroup2", "open_harness", "probe", "probe_pid",
           "requirements", "status_fields", "workload_pids"]
Harness = DriverHarness[NativeDriver]


def requirements() -> None:
    require_driver(NativeDriver)


def handle(instance: Instance) -> Contained:
    found: Contained = instance.handle
    return found


def probe(instance: Instance) -> Launched:
    """The instance's PID 1 as the driver's launcher started it (its child)."""
    process = handle(instance).process
    assert process is not None
    return process


def workload_pids(driver: NativeDriver, instance: Instance) -> list[int]:
    """The instance's processes: everything in its cgroup (no launcher of its own is there)."""
    return driver.cgroups.members(handle(instance).cgroup)


def probe_pid(driver: NativeDriver, instance: Instance) -> int:
    pids = workload_pids(driver, instance)
    assert pids == [probe(instance).pid], f"expected only the probe in the cgroup, found {pids}"
    return pids[0]


@contextmanager
def open_harness(work: Path, cache: Path) -> Iterator[Harness]:
    """A harness that must leave nothing behind when the test ends, however it ends."""
    requirements()
    with open_driver_harness(NativeDriver, work, cache) as made:
        yield made


def hybrid_cgroup2() -> Path:
    """A hybrid host's controller-less cgroup2 mount, to try the launcher's v2 path there (a
    skip on a pure v2 host, whose every instance takes that path)."""
    if isinstance(detect(), CgroupV2):
        pytest.skip("this host is cgroup v2: every instance here takes the v2 path")
    unified = Path("/sys/fs/cgroup/unified")
    require((unified / "cgroup.procs").exists(), "a cgroup2 mount at /sys/fs/cgroup/unified")
    return unified
