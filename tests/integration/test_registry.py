"""Cold starts from the run's registry on loopback: docker and podman pull before boot
(pull.* rows apart from boot.*), a warm start pulls nothing, the registry serves 127.0.0.1
only, and a killed run's registry and images are found and removed by `bench clean`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import psutil
import pytest

from bench.drivers import driver_class
from bench.results.records import read_lines
from runtimes.host.registry import registry_name, start_registry, stop_process, unavailable
from tests.conftest import leftovers, require
from tests.integration.run_harness import bench_cmd, mine, run_id_of, start_run, stop_and_clean, wait_until

pytestmark = pytest.mark.integration
DOCKER_PHASES = {"pull.manifest", "pull.layers", "pull.unpack", "pull.image"}
PODMAN_PHASES = {"pull.manifest", "pull.layers_and_unpack", "pull.image"}


def require_engine(driver: str) -> None:
    require(unavailable() is None, "docker-registry (apt-get install docker-registry)")
    cls = driver_class(driver)
    require(cls.unavailable_reason(cls.Options(pull="cold")) is None, f"the {driver} driver")


def pull_config(driver: str, reps: int) -> dict[str, Any]:
    return {"repetitions": reps, "warmup": 0, "cell_timeout": 60, "settle": 0,
            "history": {"store": "none"},
            "runtimes": {"process": {"driver": "process"},
                         "warm": {"driver": driver, "options": {"pull": "warm"}},
                         "cold": {"driver": driver, "options": {"pull": "cold"}}},
            "workloads": {"idle": {"mode": "ready"}}}


def test_the_registry_serves_loopback_only_and_stops(tmp_path: Path) -> None:
    require(unavailable() is None, "docker-registry (apt-get install docker-registry)")
    served = start_registry(registry_name("0a0a0a"), tmp_path / "registry")
    try:
        host, port = served.address.split(":")
        assert host == "127.0.0.1"
        listening = [c.laddr for c in psutil.Process(served.process.pid).net_connections("inet")
                     if c.status == psutil.CONN_LISTEN]
        assert [(a.ip, a.port) for a in listening] == [("127.0.0.1", int(port))]
        # `bench clean` finds it by its name, as it finds a killed run's instances
        assert any(registry_name("0a0a0a") in item for item in leftovers())
    finally:
        stop_process(served.process)
    assert served.process.poll() is not None


@pytest.mark.parametrize(("driver", "phases"), [
    pytest.param("docker", DOCKER_PHASES, marks=pytest.mark.docker), ("podman", PODMAN_PHASES)])
def test_a_cold_start_has_pull_and_boot_rows_and_a_warm_one_no_pull(
        tmp_path: Path, driver: str, phases: set[str]) -> None:
    require_engine(driver)
    run, out = start_run(tmp_path, pull_config(driver, reps=2))
    try:
        _, stderr = run.communicate(timeout=600)
        assert run.returncode == 0, stderr
        samples = read_lines(out, "samples.jsonl")
        cold = {s["metric"] for s in samples if s["runtime"] == "cold"}
        warm = {s["metric"] for s in samples if s["runtime"] == "warm"}
        assert phases | {"pull.total", "boot.total"} <= cold
        assert "boot.total" in warm and not {m for m in warm if m.startswith("pull.")}
        for cell in {s["cell"] for s in samples if s["metric"] == "pull.total"}:
            rows = {s["metric"]: s["value"] for s in samples if s["cell"] == cell}
            assert sum(rows[p] for p in phases) == pytest.approx(rows["pull.total"])
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["drivers"]["cold"]["registry"]["address"].startswith("127.0.0.1:")
        assert mine(manifest["run_id"]) == []  # registry, images, containers: all gone
    finally:
        stop_and_clean([(run, out)])


@pytest.mark.docker
def test_sigkill_then_clean_removes_the_registry_and_its_images(tmp_path: Path) -> None:
    require_engine("docker")
    config = pull_config("docker", reps=50)
    run, out = start_run(tmp_path, config)
    try:
        run_id = run_id_of(out)
        wait_until(lambda: len(read_lines(out, "cells.jsonl")) >= 2, 300, "no cell ran")
        os.kill(run.pid, signal.SIGKILL)
        run.wait()
        left = mine(run_id)
        assert any(registry_name(run_id) in item for item in left), left
        assert any(item.startswith("image ") for item in left), left
        clean = subprocess.run(bench_cmd("clean", "--run", run_id), capture_output=True,
                               text=True, timeout=300)
        assert clean.returncode == 0, clean.stderr
        assert mine(run_id) == []
    finally:
        stop_and_clean([(run, out)])
