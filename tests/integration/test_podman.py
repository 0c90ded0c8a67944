"""The podman driver against the real podman, conmon, runc and runsc: the image built from the
docker driver's context, container settings, isolation seen from the host, memory by role,
teardown, clean, and the refusals it reports."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from foundation.errors import InstanceError
from runtimes.base import ProbeCommand
from runtimes.docker.image import image_tag
from runtimes.host.oci_runtimes import CRUN_HYBRID_REFUSAL, is_hybrid
from runtimes.podman.driver import PodmanDriver, PodmanOptions
from tests.integration.driver_harness import (
    Harness,
    deadline,
    open_harness,
    require_driver,
    status_fields,
)

pytestmark = pytest.mark.integration
CAP_SYS_ADMIN = 21


def require_podman(runtime: str = "runc") -> None:
    require_driver(PodmanDriver, runtime=runtime)


@pytest.fixture
def harness(tmp_path: Path, cache: Path) -> Iterator[Harness[PodmanDriver]]:
    with open_harness(PodmanDriver, tmp_path, cache) as made:
        yield made


def podman_inspect(name: str) -> dict[str, Any]:
    done = subprocess.run(["podman", "container", "inspect", name], capture_output=True,
                          text=True, timeout=60, check=True)
    found: dict[str, Any] = json.loads(done.stdout)[0]
    return found


def status_of(pid: int) -> dict[str, str]:
    return status_fields(Path(f"/proc/{pid}/status").read_text())


def test_image_boot_and_container_settings(harness: Harness[PodmanDriver]) -> None:
    require_podman()
    driver = harness.driver({"memory_limit": "64MiB", "pids_limit": 16, "seccomp": "unconfined"})
    assert driver.image == f"localhost/{image_tag(harness.probe)}", \
        "the docker driver's tag, built by podman"
    instance = harness.start(driver)
    assert list(instance.boot_phases()) == ["create", "start", "ready"]
    assert sum(instance.boot_phases().values()) == pytest.approx(instance.boot_total_ms())
    container = podman_inspect(instance.name)
    host = container["HostConfig"]
    assert host["NetworkMode"] == "none"
    assert host["Memory"] == 64 * 2**20 and host["PidsLimit"] == 16
    assert "seccomp=unconfined" in (host.get("SecurityOpt") or [])
    assert container["OCIRuntime"] == "runc"
    labels = container["Config"]["Labels"]
    assert labels["bench.run"] == harness.run_id and labels["bench.instance"] == instance.name


def test_isolation_seen_from_the_host(harness: Harness[PodmanDriver]) -> None:
    """PID 1 of its own namespace, its own hostname, only lo, podman's capability set (no
    CAP_SYS_ADMIN), read through /proc of the probe's host pid."""
    require_podman()
    driver = harness.driver()
    instance = harness.start(driver)
    pid = int(podman_inspect(instance.name)["State"]["Pid"])
    assert status_of(pid)["NSpid"].split() == [str(pid), "1"]
    interfaces = Path(f"/proc/{pid}/net/dev").read_text().splitlines()[2:]
    assert [line.split(":")[0].strip() for line in interfaces] == ["lo"]
    hostname = subprocess.run(["nsenter", f"--target={pid}", "--uts", "uname", "-n"],
                              capture_output=True, text=True, timeout=30, check=True).stdout.strip()
    assert hostname == podman_inspect(instance.name)["Config"]["Hostname"]
    bounding = int(status_of(pid)["CapBnd"], 16)
    assert bounding != 0 and not bounding >> CAP_SYS_ADMIN & 1
    for namespace in ("pid", "mnt", "uts", "ipc", "net"):
        assert os.readlink(f"/proc/{pid}/ns/{namespace}") != os.readlink(f"/proc/self/ns/{namespace}")


def test_memory_of_workload_and_conmon(harness: Harness[PodmanDriver]) -> None:
    require_podman()
    driver = harness.driver()
    instance = harness.start(driver)
    instance.output.wait_for("BENCH-IDLE", deadline(), "podman probe")
    reading = driver.memory(instance)
    assert set(reading.host_parts) == {"workload", "conmon"}
    assert PodmanDriver.clean(PodmanOptions(), harness.run_id, dry_run=True) == [
        f"podman container {instance.name}"]
    assert all(value > 0 for value in reading.host_parts.values())
    assert reading.cgroup is not None and reading.cgroup > 0
    fingerprint = driver.fingerprint()
    assert fingerprint["runtime"] == "runc" and fingerprint["runtime_version"].startswith("runc version")
    assert fingerprint["runtime_flags"] == []
    assert fingerprint["engine_version"] and fingerprint["conmon_version"].startswith("conmon version")


def test_with_gvisor(harness: Harness[PodmanDriver]) -> None:
    require_podman("runsc")
    driver = harness.driver({"runtime": "runsc"})
    instance = harness.start(driver)
    instance.output.wait_for("BENCH-IDLE", deadline(), "podman runsc probe")
    reading = driver.memory(instance)
    assert set(reading.host_parts) == {"sentry", "gofer", "workload", "conmon"}
    assert podman_inspect(instance.name)["OCIRuntime"] == "runsc"
    assert driver.fingerprint()["runtime_flags"] == ["--runtime-flag=platform=ptrace",
                                                     "--runtime-flag=network=none"]


def test_stop_leaves_then_removes(harness: Harness[PodmanDriver]) -> None:
    require_podman()
    driver = harness.driver()
    instance = harness.start(driver)
    driver.stop(instance)
    assert list(instance.stop_phases()) == ["exit", "remove", "total"]
    assert "BENCH-DONE 0" in instance.output.text(), "EOF on stdin let the probe leave"
    gone = subprocess.run(["podman", "container", "exists", instance.name], timeout=60)
    assert gone.returncode == 1


def test_a_killed_container_says_how_it_ended(harness: Harness[PodmanDriver]) -> None:
    require_podman()
    driver = harness.driver()
    instance = harness.start(driver)
    subprocess.run(["podman", "kill", "--signal", "KILL", instance.name], check=True,
                   capture_output=True, timeout=60)
    assert instance.output.wait_closed(deadline(30))
    with pytest.raises(InstanceError) as failed:
        driver.memory(instance)
    assert failed.value.cause is not None and failed.value.cause.signal == 9


def test_refusals_name_their_reason(harness: Harness[PodmanDriver], monkeypatch: pytest.MonkeyPatch,
                                    tmp_path: Path) -> None:
    require_podman()
    crun = PodmanDriver.unavailable_reason(PodmanOptions(runtime="crun"))
    assert (crun is not None and CRUN_HYBRID_REFUSAL in crun) if is_hybrid() else crun is None
    driver = harness.driver()
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    reason = PodmanDriver.unavailable_reason(PodmanOptions())
    assert reason is not None and reason.startswith("podman is not installed")
    assert "apt-get install podman" in reason
    with pytest.raises(InstanceError, match="cannot run podman: No such file"):
        driver.start(ProbeCommand("ready", ("idle=5",)), deadline())
