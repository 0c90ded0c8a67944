"""Start storms with the real drivers: `bench run` of a storm config, its per-N rows, and a
run killed mid-storm then cleaned, leaving nothing of it behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from bench.drivers import driver_class
from tests.conftest import require
from tests.integration.run_harness import (
    bench_cmd,
    mine,
    run_id_of,
    start_run,
    stop_and_clean,
    wait_until,
)

pytestmark = pytest.mark.integration
HOST_DRIVERS = ("process", "native", "oci", "lxc")
LATE_S = 5.0


def require_drivers(*names: str) -> None:
    for name in names:
        cls = driver_class(name)
        require(cls.unavailable_reason(cls.Options()) is None, f"the {name} driver")


def storm_config(runtimes: tuple[str, ...], counts: list[int], reps: int) -> dict[str, Any]:
    return {"repetitions": reps, "warmup": 0, "cell_timeout": 60, "settle": 0,
            "history": {"store": "none"},
            "runtimes": {name: {"driver": name} for name in runtimes},
            "workloads": {"idle": {"mode": "ready"},
                          "burst": {"mode": "storm", "concurrency": counts}}}


def test_storms_of_every_host_driver_give_rows_per_n(tmp_path: Path) -> None:
    require_drivers(*HOST_DRIVERS)
    run, out = start_run(tmp_path, storm_config(HOST_DRIVERS, [1, 6], reps=2))
    try:
        _, stderr = run.communicate(timeout=600)
        assert run.returncode == 0, stderr
        summary = subprocess.run(bench_cmd("summary", str(out), "--json"), capture_output=True,
                                 text=True, timeout=120, check=True)
        rows = {(r["runtime"], r["metric"], r.get("count")): r for r in json.loads(summary.stdout)}
        for runtime in HOST_DRIVERS:
            ready = rows[(runtime, "storm.ready", 6)]
            assert ready["n"] == 2 and ready["samples"] == 12  # every instance of both storms
            assert rows[(runtime, "storm.failed", 6)]["median"] == 0
            assert rows[(runtime, "storm.p99", 6)]["median"] >= rows[(runtime, "storm.p50", 6)]["median"]
            assert rows[(runtime, "storm.throughput", 6)]["median"] > 0
            assert rows[(runtime, "storm.memory", 6)]["median"] > rows[(runtime, "storm.memory", 1)]["median"]
        assert mine(json.loads((out / "manifest.json").read_text())["run_id"]) == []
    finally:
        stop_and_clean([(run, out)])


def storm_under_way(out: Path, runtime: str) -> bool:
    """Whether run.log says the storm of 16 of this runtime has asked for 8 instances (each
    start is logged as it is asked for, before the driver launches it)."""
    try:
        text = (out / "run.log").read_text()
    except OSError:
        return False
    storm = text.partition(f"{runtime}/burst@16/0: start")[2]
    return storm.count(f"-{runtime}-1-") >= 8


@pytest.mark.parametrize("runtime", ["native", "oci", "lxc",
                                     pytest.param("docker", marks=pytest.mark.docker), "podman"])
def test_sigkill_mid_storm_then_clean_leaves_nothing(tmp_path: Path, runtime: str) -> None:
    require_drivers("process", runtime)
    config = storm_config(("process", runtime), [16], reps=3)
    config["workloads"] = {"burst": config["workloads"]["burst"]}
    run, out = start_run(tmp_path, config)
    try:
        run_id = run_id_of(out)
        wait_until(lambda: storm_under_way(out, runtime), 300, f"no {runtime} storm began")
        os.kill(run.pid, signal.SIGKILL)  # instances asked for, some ready, some half-way
        run.wait()
        left = wait_until(lambda: mine(run_id), 30, "a storm killed mid-way left nothing (so "
                          "this test proves nothing)")
        clean = subprocess.run(bench_cmd("clean", "--run", run_id), capture_output=True,
                               text=True, timeout=300)
        assert clean.returncode == 0, clean.stderr
        assert mine(run_id) == [], left
        time.sleep(LATE_S)  # a create the killed run had asked for and an engine finished late
        assert mine(run_id) == [], "something of the run appeared after bench clean"
    finally:
        stop_and_clean([(run, out)])
