"""Whole runs of the VM side: libvirt, QEMU's q35 and QEMU's microvm in one run, their
hypervisor-stack section drawn by headless Chromium; one image's sysbench in a container,
under gVisor and in a microvm; bench verify's line for the microvm; and a run killed with
SIGKILL mid-boot, after which `bench clean` leaves no QEMU, state directory, socket or disk.

TCG boots take about 10 s each: every run here is one repetition (the full comparison with
intervals is configs/vms.yaml, about 12 minutes: docs/vms.md).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from bench.results.crosschecks import read_checks
from runtimes.docker.driver import DockerDriver, DockerOptions
from runtimes.libvirt.driver import LibvirtDriver, LibvirtOptions
from runtimes.qemu.driver import QemuDriver, QemuOptions
from runtimes.qemu.host import qemu_processes
from runtimes.qemu.options import STATE_DIR
from tests.conftest import require
from tests.integration.browser_harness import check_page
from tests.integration.run_harness import bench_cmd, run_id_of, start_run, stop_and_clean, wait_until
from tests.integration.sysbench_image import build_sysbench_image

pytestmark = [pytest.mark.integration]

CPU = {"mode": "command", "argv": ["sysbench", "cpu", "--threads=1", "--time=1", "run"],
       "parser": "sysbench-cpu", "timeout": 60}
MICROVM = {"driver": "qemu", "options": {"machine": "microvm"}}


def bench(*args: str, timeout: int = 1200) -> subprocess.CompletedProcess[str]:
    return subprocess.run(bench_cmd(*args), capture_output=True, text=True, timeout=timeout)


def run_config(tmp_path: Path, config: dict[str, Any], verb: str = "run") -> tuple[
        subprocess.CompletedProcess[str], Path]:
    import yaml

    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    out = tmp_path / "out"
    return bench(verb, str(path), "-o", str(out)), out


def summary(out: Path) -> dict[tuple[str, str, str], dict[str, Any]]:
    rows = json.loads(bench("summary", str(out), "--json").stdout)
    return {(r["runtime"], r["workload"], r["metric"]): r for r in rows}


def require_qemu() -> None:
    require(os.geteuid() == 0, "root (the guest kernel in /boot is root's to read)")
    reason = QemuDriver.unavailable_reason(QemuOptions())
    require(reason is None, f"QEMU, qemu.qmp and a guest kernel ({reason})")


@pytest.mark.libvirt
@pytest.mark.browser
def test_three_guests_in_one_run_and_the_hypervisor_view_draws(browser: Any, tmp_path: Path) -> None:
    require_qemu()
    require(LibvirtDriver.unavailable_reason(LibvirtOptions()) is None, "libvirtd")
    config = {"repetitions": 1, "warmup": 0, "cell_timeout": 300, "settle": 0.5,
              "runtimes": {"libvirt": {"driver": "libvirt", "options": {"machine": "q35"}},
                           "qemu-q35": {"driver": "qemu", "options": {"machine": "q35"}},
                           "qemu-microvm": MICROVM},
              "workloads": {"idle": {"mode": "ready"}}}
    run, out = run_config(tmp_path, config)
    assert run.returncode == 0, run.stderr
    rows = summary(out)
    for runtime in ("libvirt", "qemu-q35", "qemu-microvm"):
        for metric in ("boot.total", "boot.first_byte", "boot.kernel_to_init", "boot.ready",
                       "guest.kernel_to_init", "memory.guest_ram", "memory.host_pss.vmm",
                       "memory.host_pss.tcg_code_cache"):
            assert rows[(runtime, "idle", metric)]["median"] > 0, (runtime, metric)
    for phase in ("process", "qmp", "running"):
        assert rows[("qemu-microvm", "idle", f"boot.{phase}")]["median"] >= 0
    drivers = json.loads((out / "manifest.json").read_text())["drivers"]
    assert drivers["libvirt"]["accel"] == drivers["qemu-q35"]["accel"] == drivers["qemu-microvm"]["accel"]
    page = out / "report.html"
    check_page(browser, page, tmp_path / "report.png")
    shown = browser.execute_script(
        "return document.getElementById('hypervisor').innerText")
    assert "management stack" in shown and "machine model" in shown
    assert browser.execute_script(
        "return document.querySelectorAll('#hypervisor div.js-plotly-plot svg.main-svg').length") > 0


@pytest.mark.docker
def test_one_image_runs_in_a_container_under_gvisor_and_in_a_microvm(tmp_path: Path) -> None:
    require_qemu()
    require(shutil.which("sysbench") is not None, "sysbench (.ci/host-setup installs it)")
    require(DockerDriver.unavailable_reason(DockerOptions(runtime="runsc")) is None,
            "dockerd with runsc registered (.ci/host-setup)")
    tag = build_sysbench_image(tmp_path)
    try:
        config = {"repetitions": 1, "warmup": 0, "cell_timeout": 300,
                  "runtimes": {"docker-runc": {"driver": "docker", "options": {"runtime": "runc"}},
                               "docker-runsc": {"driver": "docker",
                                                "options": {"runtime": "runsc"}},
                               "qemu-microvm": MICROVM},
                  "workloads": {"cpu": {**CPU, "image": tag}}}
        run, out = run_config(tmp_path, config)
        assert run.returncode == 0, run.stderr
        rows = summary(out)
        for runtime in ("docker-runc", "docker-runsc", "qemu-microvm"):
            assert rows[(runtime, "cpu", "workload.events_per_s")]["median"] > 0, runtime
            assert rows[(runtime, "cpu", "boot.total")]["median"] > 0, runtime
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["workloads"]["cpu"]["source"] == "image"
        assert manifest["drivers"]["qemu-microvm"]["machine"] == "microvm"
        assert manifest["drivers"]["docker-runsc"]["runtime"] == "runsc"
    finally:
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True, timeout=60)


def test_verify_holds_the_microvm_against_plain_qemu_started_by_hand(tmp_path: Path) -> None:
    require_qemu()
    require(shutil.which("hyperfine") is not None, "hyperfine (.ci/host-setup installs it)")
    config = {"repetitions": 1, "warmup": 0, "cell_timeout": 300, "settle": 0.5,
              "runtimes": {"qemu-microvm": MICROVM}, "workloads": {"idle": {"mode": "ready"}}}
    run, out = run_config(tmp_path, config, verb="verify")
    assert run.returncode in (0, 1), run.stderr  # 1: a line disagrees on a busy host
    checks = {(c.figure, c.runtime, c.reference): c for c in read_checks(out) or []}
    boot = checks[("boot.total", "qemu-microvm", "hyperfine -N")]
    assert "-M microvm" in boot.how and len(boot.bench) == 1 and len(boot.reference_values) == 1
    assert boot.agreement().verdict != "failed", boot.agreement()
    ram = checks[("memory.guest_ram", "qemu-microvm", "QEMU monitor + smaps")]
    assert ram.agreement().verdict == "agree", ram.agreement()


def test_sigkill_mid_run_then_clean_leaves_no_qemu_state_socket_or_disk(tmp_path: Path) -> None:
    require_qemu()
    require(shutil.which("sleep") is not None, "sleep")
    scratch = tmp_path / "scratch"
    config = {"repetitions": 1, "warmup": 0, "cell_timeout": 300,
              "runtimes": {"qemu-microvm": MICROVM},
              "workloads": {"w": {"mode": "command", "argv": ["sleep", "60"], "timeout": 120,
                                  "scratch": {"size": "32MiB", "dir": str(scratch)}}}}
    runs = [start_run(tmp_path / "run", config)]
    run, out = runs[0]
    try:
        run_id = run_id_of(out)
        prefix = f"bench-{run_id}-"
        wait_until(lambda: qemu_processes(prefix), 300, "no QEMU of the run started")
        state = STATE_DIR / f"{prefix}qemu-microvm-1-state"
        wait_until(lambda: list(state.glob("*.qmp")) and list(scratch.glob(f"{prefix}*")), 60,
                   "no QMP socket or scratch disk appeared")
        # once QEMU answered on QMP and runs the guest (a QEMU killed under a harness before it
        # connected to the harness's socket exits by itself: nothing to clean)
        wait_until(lambda: ": cont" in (out / "run.log").read_text(), 120, "the guest never ran")
        os.kill(run.pid, signal.SIGKILL)
        run.wait(timeout=30)
        assert qemu_processes(prefix), "QEMU outlives the harness killed under it"
        cleaned = bench("clean", "--run", run_id, "--config", str(tmp_path / "run" / "c.yaml"))
        assert cleaned.returncode == 0, cleaned.stderr
        assert "qemu process" in cleaned.stdout + cleaned.stderr
        assert qemu_processes(prefix) == []
        assert not state.exists(), "the state directory (QMP socket, pid file, log) is gone"
        assert list(scratch.glob(f"{prefix}*")) == [], "the scratch disk image is gone"
    finally:
        stop_and_clean(runs)
