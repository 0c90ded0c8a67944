"""`bench export --format pytest-benchmark`: a file pytest-benchmark's own tools read."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pytest_benchmark.stats import Stats

from bench.export import benchmark_stats, to_pytest_benchmark
from tests.gate_fixtures import cli, make_run


def test_stats_match_pytest_benchmark() -> None:
    for data in ([3.0], [2.0, 1.0], [5.0, 1.0, 4.0, 2.0, 3.0, 9.0, 0.5],
                 [0.1 * i * i for i in range(1, 14)], [1.0, 1.0, 1.0, 50.0, 2.0, 3.0]):
        reference = Stats()
        for value in data:
            reference.update(value)
        ours = benchmark_stats(data)
        for name, value in reference.as_dict().items():
            assert ours[name] == pytest.approx(value), name
        assert ours["data"] == data and ours["iterations"] == 1


def test_time_metrics_in_seconds(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", {"process": 1.0, "docker": 1.3}, repetitions=5)
    document = to_pytest_benchmark(run)
    names = {b["name"] for b in document["benchmarks"]}
    assert names == {"boot.total[process]", "boot.total[docker]",
                     "syscall.getppid[process]", "syscall.getppid[docker]"}  # no memory
    boot = next(b for b in document["benchmarks"] if b["name"] == "boot.total[process]")
    assert boot["stats"]["median"] == pytest.approx(5e-3, rel=0.1)  # 5 ms
    assert boot["stats"]["rounds"] == 5
    syscall = next(b for b in document["benchmarks"] if b["name"] == "syscall.getppid[docker]")
    assert syscall["stats"]["median"] == pytest.approx(325e-9, rel=0.1)  # 250 ns x 1.3
    assert document["commit_info"] == {"id": "abc123", "dirty": True, "project": "bench",
                                       "branch": None, "time": None, "author_time": None}


def test_pytest_benchmark_compare_reads_the_export(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", {"process": 1.0, "docker": 1.3}, repetitions=5)
    first, second = tmp_path / "0001_first.json", tmp_path / "0002_second.json"
    assert cli(["export", str(run), "--format", "pytest-benchmark", "-o", str(first)]) == 0
    second.write_text(first.read_text())
    json.loads(first.read_text())
    command = [sys.executable, "-m", "pytest_benchmark", "compare", str(first), str(second),
               "--columns=min,median,max,rounds", "--group-by=group"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "Failed to load" not in output
    for name in ("boot.total[process]", "syscall.getppid[docker]", "idle boot.total"):
        assert name in output
    assert "(time in ns)" in output  # getppid: pytest-benchmark scales seconds to ns


def test_export_to_stdout_and_nothing_to_export(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    run = make_run(tmp_path / "run", repetitions=2)
    capsys.readouterr()
    assert cli(["export", str(run)]) == 0
    assert json.loads(capsys.readouterr().out)["benchmarks"]
    memory_only = make_run(tmp_path / "memory", repetitions=2,
                           medians={("idle", "memory.host_pss"): 1e6})
    assert cli(["export", str(memory_only)]) == 2
    assert cli(["export", str(tmp_path / "missing")]) == 2
