"""`bench run` end to end with the real probe: exit code, results directory, summary contract."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from runtimes.native.driver import NativeDriver, NativeOptions
from tests.conftest import require

pytestmark = pytest.mark.integration

CONTRACT = {"runtime", "workload", "metric", "unit", "direction", "n", "samples", "median", "p90",
            "p99", "mean", "ci_low", "ci_high", "ci_note", "ratio", "ratio_low", "ratio_high",
            "ratio_note", "failed"}


def bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bench.cli", *args], capture_output=True,
                          text=True, timeout=600)


def test_run_then_summary_json(tmp_path: Path) -> None:
    require(NativeDriver.unavailable_reason(NativeOptions()) is None, "the native runtime (root, namespaces)")
    config = {"repetitions": 6, "warmup": 1, "settle": 0.2, "cell_timeout": 30,
              "runtimes": {"process": {"driver": "process"}, "native": {"driver": "native"}},
              "workloads": {"idle": {"mode": "ready"},
                            "sys": {"mode": "syscall", "batches": 5, "calls": 2000}}}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    run = bench("run", str(path), "-o", str(tmp_path / "out"))
    assert run.returncode == 0, run.stderr
    summary = bench("summary", str(tmp_path / "out"), "--json")
    assert summary.returncode == 0, summary.stderr
    rows = {(r["runtime"], r["metric"]): r for r in json.loads(summary.stdout)}
    for runtime in ("process", "native"):
        for metric in ("boot.total", "memory.overhead", "syscall.getppid", "memory.host_pss"):
            row = rows[(runtime, metric)]
            assert row.keys() >= CONTRACT
            assert row["n"] == 6  # instances: a 95 % interval needs six
            assert row["ci_low"] <= row["median"] <= row["ci_high"]
    assert rows[("process", "syscall.getppid")]["samples"] == 6 * 5  # their batches
    native = rows[("native", "syscall.getppid")]
    assert native["ratio_low"] <= native["ratio"] <= native["ratio_high"]
    assert rows[("process", "syscall.getppid")]["ratio_note"] == "the baseline itself"
    assert rows[("native", "memory.cgroup")]["n"] == 6
    assert (tmp_path / "out" / "report.html").stat().st_size > 0
    assert rows[("process", "memory.host_pss")]["median"] > 100_000  # a static binary's pages
    assert 1 < rows[("process", "syscall.getppid")]["median"] < 100_000
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert {"kernel", "cpu_model", "cgroup_version", "mitigations", "bench_version"} <= set(
        manifest["host"])
