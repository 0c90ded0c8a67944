"""The lxc driver against the real liblxc: the probe as init (lxc-start) or under lxc-init
(lxc-execute), isolation seen from the inside, limits, memory, teardown, clean, and the
binary missing."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from foundation.errors import InstanceError
from runtimes.base import ProbeCommand
from runtimes.host.placed_cgroups import mounted_roots, spread
from runtimes.lxc.driver import CGROUP_PARENT, LxcDriver, LxcOptions, lock_dir, lxc_path
from tests.integration.driver_harness import (
    Harness,
    deadline,
    inside_driver,
    inside_facts,
    open_harness,
    require_driver,
)

pytestmark = pytest.mark.integration
MIB = 1024**2


def require_lxc(launcher: str = "start") -> None:
    require_driver(LxcDriver, launcher=launcher)


@pytest.fixture
def harness(tmp_path: Path, cache: Path) -> Iterator[Harness[LxcDriver]]:
    with open_harness(LxcDriver, tmp_path, cache) as made:
        yield made


@pytest.mark.parametrize(("launcher", "pid"), [("start", "1"), ("execute", "2")])
def test_isolation_from_inside(harness: Harness[LxcDriver], launcher: str, pid: str) -> None:
    """lxc-start makes the probe the container's init; lxc-execute puts lxc-init first."""
    require_lxc(launcher)
    driver = harness.driver({"launcher": launcher}, inside=True, cls=inside_driver(LxcDriver))
    instance = harness.start(driver)
    assert list(instance.boot_phases()) == ["spawn", "ready"]
    facts = inside_facts(instance)
    assert facts["pid"] == pid
    assert facts["hostname"] == instance.name
    assert facts["ifaces"] == "lo"
    assert int(facts["capeff"], 16) == 0 and int(facts["capbnd"], 16) == 0
    assert facts["nnp"] == "1" and facts["rootro"] == "1"
    assert facts["rootwrite"] == str(errno.EROFS)


def test_limits_and_memory_of_workload_and_monitor(harness: Harness[LxcDriver]) -> None:
    require_lxc()
    driver = harness.driver({"memory_limit": "32MiB", "pids_limit": 16, "hostname": "lxc-probe"})
    within = harness.start(driver, "memtouch", "mib=8", "idle=120")
    within.output.wait_for("BENCH-IDLE", deadline(), "memtouch within the limit")
    memory_dir = within.handle.cgroup.dirs[0]
    limit_file = "memory.max" if (memory_dir / "memory.max").exists() else "memory.limit_in_bytes"
    assert int((memory_dir / limit_file).read_text()) == 32 * MIB
    assert int((within.handle.cgroup.dirs[-1] / "pids.max").read_text()) == 16
    reading = driver.memory(within)
    assert set(reading.host_parts) == {"workload", "monitor"}
    assert reading.host_parts["workload"] >= 8 * MIB and reading.host_parts["monitor"] > 0
    assert reading.cgroup is not None and reading.cgroup >= 8 * MIB
    found = LxcDriver.clean(LxcOptions(), harness.run_id, dry_run=True)  # in clean's words
    assert sum(within.name in line for line in found if line.startswith("cgroup ")) == 2  # and .monitor
    assert f"lxc directory {lxc_path(harness.run_id)}" in found
    assert f"lxc directory {lock_dir(lxc_path(harness.run_id))}" in found

    beyond = harness.start(driver, "memtouch", "mib=64", "idle=120")
    assert beyond.output.wait_closed(deadline(30))
    assert "BENCH-IDLE" not in beyond.output.text(), "the limit stopped it before it touched 64 MiB"
    with pytest.raises(InstanceError) as failed:
        driver.memory(beyond)
    # liblxc removes the cgroup, and its OOM counter, as soon as init dies: the cause is
    # named when the counter was read first, and never named as anything else
    assert failed.value.cause is None or failed.value.cause.oom


def test_stop_takes_the_cgroups(harness: Harness[LxcDriver]) -> None:
    require_lxc()
    driver = harness.driver()
    instance = harness.start(driver)
    container = spread(f"{CGROUP_PARENT}/{instance.name}", mounted_roots())
    monitor = spread(f"{CGROUP_PARENT}/{instance.name}.monitor", mounted_roots())
    assert container.dirs and monitor.dirs
    driver.stop(instance)
    assert list(instance.stop_phases()) == ["exit", "cgroup_removed", "total"]
    assert "BENCH-DONE 0" in instance.output.text(), "EOF on stdin let the probe leave"
    assert not any(d.exists() for d in (*container.dirs, *monitor.dirs))


def test_the_binary_missing(harness: Harness[LxcDriver], monkeypatch: pytest.MonkeyPatch,
                            tmp_path: Path) -> None:
    require_lxc()
    driver = harness.driver()
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    reason = LxcDriver.unavailable_reason(LxcOptions())
    assert reason is not None and reason.startswith("lxc-start is not installed")
    assert "apt-get install lxc" in reason
    with pytest.raises(InstanceError, match="cannot run lxc-start: .*No such file"):
        driver.start(ProbeCommand("ready", ("idle=5",)), deadline())


def test_a_killed_container_says_how_it_ended(harness: Harness[LxcDriver]) -> None:
    """lxc-execute passes the probe's status on; lxc-start does not, so only what the probe
    announced (nothing, when SIGKILLed) is known."""
    require_lxc("execute")
    driver = harness.driver({"launcher": "execute"})
    instance = harness.start(driver)
    probe = [p for p in driver.cgroups.members(instance.handle.cgroup)
             if Path(f"/proc/{p}/cmdline").read_bytes().startswith(b"/probe")]
    assert len(probe) == 1
    os.kill(probe[0], 9)
    assert instance.output.wait_closed(deadline(30))
    with pytest.raises(InstanceError) as failed:
        driver.memory(instance)
    assert failed.value.cause is not None and failed.value.cause.signal == 9
