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


def test_a_finished_run_is_loaded_once_for_the_report_summary_history_and_gate(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 22: `bench run` reads the run it made back once, and hands that to each reader
    (before: the report, the summary, the history recorder and the gate each loaded it)."""
    from bench.cli import main
    from bench.gate.calibration import Calibration, host_identity, write
    from bench.results import run as results
    from bench.results.manifest import read_manifest

    calibration = tmp_path / "calibration.json"
    config = {"repetitions": 2, "warmup": 0, "settle": 0.1, "cell_timeout": 30,
              "runtimes": {"process": {"driver": "process"}},
              "workloads": {"sys": {"mode": "syscall", "batches": 3, "calls": 500}},
              "gate": {"calibration": str(calibration)}}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    first = bench("run", str(path), "-o", str(tmp_path / "first"), "--store", "none")
    assert first.returncode == 0, first.stderr
    write(calibration, Calibration({}, 3, host_identity(read_manifest(tmp_path / "first"))))
    loads: list[Path] = []
    real = results.load_groups

    def counted(where: Path, baseline: str | None) -> results.Groups:
        loads.append(Path(where))
        return real(where, baseline)

    monkeypatch.setattr(results, "load_groups", counted)
    store = tmp_path / "history.sqlite"
    code = main(["run", str(path), "-o", str(tmp_path / "second"), "--store", str(store),
                 "--baseline", str(tmp_path / "first")])
    printed = capsys.readouterr()
    assert code in (0, 1), printed.err  # 1: the gate found a regression between the sittings
    assert loads.count(tmp_path / "second") == 1, loads
    assert loads.count(tmp_path / "first") == 1  # the baseline, by the gate
    assert (tmp_path / "second" / "report.html").stat().st_size > 0  # the report had it
    assert "summary of second" in printed.out  # the summary
    assert "history: recorded run" in printed.err  # the history store
    assert "calibrated from 3 A/A sittings" in printed.out  # the gate's notes
