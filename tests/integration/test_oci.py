"""The oci driver against the real runc, runsc and crun: bundles, isolation seen from the
inside, limits, memory by role, teardown, clean, and the refusals it reports."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from foundation.errors import InstanceError
from runtimes.base import ProbeCommand
from runtimes.host.oci_runtimes import CRUN_HYBRID_REFUSAL, is_hybrid, runtime_refusal
from runtimes.host.placed_cgroups import mounted_roots, spread
from runtimes.host.tools import find_tool
from runtimes.oci.driver import CGROUP_PARENT, OciDriver, OciOptions, state_root
from runtimes.protocol import parse_syscalls
from tests.conftest import require
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


def require_runtime(runtime: str) -> None:
    require_driver(OciDriver, runtime=runtime)


@pytest.fixture
def harness(tmp_path: Path, cache: Path) -> Iterator[Harness[OciDriver]]:
    with open_harness(OciDriver, tmp_path, cache) as made:
        yield made


@pytest.mark.parametrize("runtime", ["runc", "runsc"])
def test_boot_phases_and_isolation_from_inside(harness: Harness[OciDriver], runtime: str) -> None:
    require_runtime(runtime)
    driver = harness.driver({"runtime": runtime}, inside=True, cls=inside_driver(OciDriver))
    instance = harness.start(driver)
    phases = instance.boot_phases()
    assert list(phases) == ["run", "ready"]
    assert sum(phases.values()) == pytest.approx(instance.boot_total_ms())
    facts = inside_facts(instance)
    assert facts["pid"] == "1"
    assert facts["hostname"] == instance.name
    assert facts["ifaces"] == "lo"
    assert int(facts["capeff"], 16) == 0 and int(facts["capbnd"], 16) == 0
    assert facts["nnp"] == "1"
    assert facts["rootwrite"] == str(errno.EROFS)  # gVisor's statfs does not flag it, writes fail


def test_limits_are_the_cgroups_and_beyond_them_is_out_of_memory(harness: Harness[OciDriver]) -> None:
    require_runtime("runc")
    driver = harness.driver({"memory_limit": "32MiB", "pids_limit": 16})
    within = harness.start(driver, "memtouch", "mib=8", "idle=120")
    within.output.wait_for("BENCH-IDLE", deadline(), "memtouch within the limit")
    memory_dir = within.handle.cgroup.dirs[0]  # v1: the memory controller's; v2: the one
    limit_file = "memory.max" if (memory_dir / "memory.max").exists() else "memory.limit_in_bytes"
    assert int((memory_dir / limit_file).read_text()) == 32 * MIB
    reading = driver.memory(within)
    assert reading.cgroup is not None and reading.cgroup >= 8 * MIB
    assert set(reading.host_parts) == {"workload"} and reading.host_pss >= 8 * MIB

    beyond = harness.start(driver, "memtouch", "mib=64", "idle=120")
    assert beyond.output.wait_closed(deadline(30))
    with pytest.raises(InstanceError) as failed:
        driver.memory(beyond)
    assert failed.value.cause is not None and failed.value.cause.oom


def test_gvisor_memory_is_its_sentry_gofer_and_stubs(harness: Harness[OciDriver]) -> None:
    require_runtime("runsc")
    driver = harness.driver({"runtime": "runsc"})
    instance = harness.start(driver)
    instance.output.wait_for("BENCH-IDLE", deadline(), "runsc probe")
    reading = driver.memory(instance)
    assert set(reading.host_parts) == {"sentry", "gofer", "workload"}
    assert all(value > 0 for value in reading.host_parts.values())
    assert reading.host_pss == sum(reading.host_parts.values())
    assert reading.cgroup is not None and reading.cgroup > 0
    found = OciDriver.clean(OciOptions(), harness.run_id, dry_run=True)
    assert f"container {instance.name} (runsc, state in {driver.cli.root})" in found
    fingerprint = driver.fingerprint()
    assert fingerprint["platform"] == "ptrace" and "--platform=ptrace" in fingerprint["runtime_flags"]


def test_gvisor_times_its_syscalls(harness: Harness[OciDriver]) -> None:
    require_runtime("runsc")
    driver = harness.driver({"runtime": "runsc"})
    instance = harness.start(driver, "syscall", "batches=3", "calls=200", "warmup=1")
    assert instance.output.wait_closed(deadline(120))
    batches = parse_syscalls(instance.output.text())
    assert {b.name for b in batches} >= {"getppid", "open_close", "stat"}
    assert all(b.ns_per_call > 0 for b in batches if b.name == "getppid")


def test_stop_kills_then_deletes(harness: Harness[OciDriver]) -> None:
    require_runtime("runc")
    driver = harness.driver()
    instance = harness.start(driver)
    cgroup = spread(f"{CGROUP_PARENT}/{instance.name}", mounted_roots())
    assert cgroup.dirs, "runc made the instance's cgroup"
    assert driver.cli.container_ids() == [instance.name]
    driver.stop(instance)
    assert list(instance.stop_phases()) == ["kill", "delete", "total"]
    assert "BENCH-DONE 0" in instance.output.text(), "SIGTERM let the probe leave on its own"
    assert driver.cli.container_ids() == []
    assert not any(d.exists() for d in cgroup.dirs)


def test_the_binary_missing_is_said_before_and_during_a_run(
        harness: Harness[OciDriver], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    require_runtime("runc")
    driver = harness.driver()
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    reason = OciDriver.unavailable_reason(OciOptions())
    assert reason is not None and reason.startswith("runc is not installed")
    assert "apt-get install runc" in reason
    object.__setattr__(driver.cli, "path", tmp_path / "gone" / "runc")  # removed after prepare
    with pytest.raises(InstanceError, match="cannot run .*gone/runc: .*No such file"):
        driver.start(driver_command(), deadline())


def driver_command() -> ProbeCommand:
    return ProbeCommand("ready", ("idle=5",))


def test_crun_is_refused_on_hybrid_cgroups_with_its_own_words(harness: Harness[OciDriver]) -> None:
    """The refusal `bench runtimes` shows is what crun itself says when asked to run here."""
    require(find_tool("crun") is not None, "crun (Debian: apt-get install crun)")
    reason = runtime_refusal("crun")
    if not is_hybrid():
        assert reason is None  # a pure v1 or v2 host: crun runs, and the runc tests cover it
        return
    assert reason is not None and CRUN_HYBRID_REFUSAL in reason
    assert OciDriver.unavailable_reason(OciOptions(runtime="crun")) == reason
    listed = subprocess.run([sys.executable, "-m", "bench.cli", "runtimes"], capture_output=True,
                            text=True, timeout=60,
                            env={**os.environ, "COLUMNS": "400"})
    row = next(line for line in listed.stdout.splitlines() if "oci/crun" in line)
    assert " no " in row and "hybrid" in row
    # crun itself, on a bundle this driver wrote: the same refusal, not a guess
    driver = OciDriver("crun", OciOptions(runtime="crun"), harness.context())
    driver.prepare(harness.probe)
    harness.drivers.append(driver)
    with pytest.raises(InstanceError) as refused:
        driver.start(driver_command(), deadline())
    assert CRUN_HYBRID_REFUSAL in str(refused.value)


def test_fingerprint_names_the_runtime_and_its_version(harness: Harness[OciDriver]) -> None:
    require_runtime("runc")
    fingerprint = harness.driver({"memory_limit": "64MiB", "pids_limit": 10}).fingerprint()
    own = subprocess.run(["runc", "--version"], capture_output=True, text=True, timeout=30)
    assert fingerprint["runtime_version"] == own.stdout.splitlines()[0]
    assert (fingerprint["memory_limit"], fingerprint["pids_limit"]) == (64 * MIB, 10)
    assert fingerprint["state_root"] == str(state_root(harness.run_id) / "runc")


def test_each_instance_gets_its_bundle_over_the_shared_rootfs(harness: Harness[OciDriver]) -> None:
    require_runtime("runc")
    driver = harness.driver({"hostname": "probe-host"})
    first, second = harness.start(driver), harness.start(driver)
    configs = [json.loads((harness.work / i.name / "config.json").read_text()) for i in (first, second)]
    assert {c["root"]["path"] for c in configs} == {str(driver.rootfs)}
    assert [c["linux"]["cgroupsPath"] for c in configs] == [
        f"/{CGROUP_PARENT}/{first.name}", f"/{CGROUP_PARENT}/{second.name}"]
    assert all(c["hostname"] == "probe-host" and c["root"]["readonly"] for c in configs)
    found = OciDriver.clean(OciOptions(), harness.run_id, dry_run=True)  # in clean's words
    for instance in (first, second):
        assert f"container {instance.name} (runc, state in {driver.cli.root})" in found
        assert any(line.startswith("cgroup ") and instance.name in line for line in found), found
    assert f"state directory {state_root(harness.run_id)}" in found
