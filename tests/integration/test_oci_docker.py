"""Docker with another OCI runtime: runsc registered with dockerd by .ci/host-setup, the
runtime and its version in the fingerprint, gVisor's processes in the memory reading, and
crun refused with the reason where the host refuses it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bench.running import new_run_id
from bench.workload.bundle import build_bundle
from runtimes.base import ProbeCommand, RunContext
from runtimes.docker.driver import DockerDriver, DockerOptions
from runtimes.host.oci_runtimes import CRUN_HYBRID_REFUSAL, is_hybrid
from tests.conftest import require
from tests.integration.driver_harness import deadline

pytestmark = [pytest.mark.integration, pytest.mark.docker]


def test_docker_runs_the_probe_on_runsc(tmp_path: Path) -> None:
    reason = DockerDriver.unavailable_reason(DockerOptions(runtime="runsc"))
    require(reason is None, f"dockerd with runsc registered (.ci/host-setup) ({reason})")
    run_id = new_run_id()
    driver = DockerDriver("docker-runsc", DockerOptions(runtime="runsc", seccomp="unconfined"),
                          RunContext(run_id, tmp_path, tmp_path))
    try:
        driver.prepare(build_bundle(tmp_path).probe)
        instance = driver.start(ProbeCommand("ready", ("idle=120",)), deadline())
        try:
            instance.output.wait_for("BENCH-IDLE", deadline(), "probe on runsc")
            reading = driver.memory(instance)
        finally:
            driver.stop(instance)
        fingerprint = driver.fingerprint()
    finally:
        driver.close()
        assert DockerDriver.clean(DockerOptions(), run_id, dry_run=False) == []
    assert set(reading.host_parts) == {"sentry", "gofer", "workload", "shim"}
    assert all(value > 0 for value in reading.host_parts.values())
    own = subprocess.run(["runsc", "--version"], capture_output=True, text=True, timeout=30)
    assert fingerprint["runtime"] == "runsc"
    assert fingerprint["runtime_version"] == own.stdout.splitlines()[0]
    assert fingerprint["runtime_path"] and Path(fingerprint["runtime_path"]).exists()


def test_crun_is_refused_with_the_reason() -> None:
    reason = DockerDriver.unavailable_reason(DockerOptions(runtime="crun"))
    require(DockerDriver.unavailable_reason(DockerOptions()) is None, "a running dockerd")
    if is_hybrid():
        assert reason is not None and CRUN_HYBRID_REFUSAL in reason
    else:  # where crun runs, .ci/host-setup registered it
        assert reason is None
