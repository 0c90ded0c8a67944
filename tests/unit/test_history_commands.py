"""The history commands without a daemon: SQLite stores, synthetic results directories."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.cli import main
from bench.history.actions import record_after_run
from bench.results.run import load_run
from tests.history_fixtures import history_run

T0 = 1_750_000_000.0


def test_an_unreachable_store_that_is_not_required_is_a_warning(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = history_run(tmp_path / "run", "r1", T0)
    nowhere = f"postgresql://bench@/bench?host={tmp_path / 'no-server'}"
    assert record_after_run(load_run(results), nowhere, tmp_path / "unused.sqlite", required=False) == 0
    printed = capsys.readouterr().err.strip().splitlines()
    assert len(printed) == 1 and printed[0].startswith("bench: warning: history store")


def regressed(path: Path, factor: float, metric: str = "syscall.getppid") -> Path:
    """The same run with every sample of one metric multiplied: a synthetic regression."""
    lines = [json.loads(line) for line in (path / "samples.jsonl").read_text().splitlines()]
    for line in lines:
        if line["metric"] == metric and line["value"] is not None:
            line["value"] *= factor
    (path / "samples.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_gate_against_history(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                              monkeypatch: pytest.MonkeyPatch) -> None:
    """`--history 5`: an A/A candidate passes, a 20 % getppid regression fails naming the
    row, and the verdict names the runs it compared with."""
    monkeypatch.setenv("BENCH_STORE", str(tmp_path / "history.sqlite"))
    past = [history_run(tmp_path / f"past{n}", f"past{n}", T0 + 3600 * n, seed=n,
                        repetitions=10) for n in range(6)]
    assert main(["history", "import", *map(str, past)]) == 0
    same = history_run(tmp_path / "aa", "aa", T0 + 3600 * 7, seed=70, repetitions=10)
    slower = regressed(history_run(tmp_path / "slow", "slow", T0 + 3600 * 8, seed=71,
                                   repetitions=10), 1.2)
    capsys.readouterr()
    assert main(["gate", "--candidate", str(same), "--history", "5", "--json",
                 "--uncalibrated"]) == 2
    refused = capsys.readouterr().err  # imported runs decide nothing unless asked
    assert "no comparable run" in refused and "--include-imported" in refused
    assert main(["gate", "--candidate", str(same), "--history", "5", "--include-imported",
                 "--json", "--uncalibrated"]) == 0
    verdicts = json.loads(capsys.readouterr().out)
    compared = verdicts["baseline"]
    assert all(f"past{n}" in compared for n in range(1, 6)) and "past0" not in compared
    assert main(["gate", "--candidate", str(slower), "--history", "5", "--include-imported",
                 "--json", "--uncalibrated"]) == 1
    failed = [row for row in json.loads(capsys.readouterr().out)["evaluations"]
              if row["verdict"] == "fail"]
    assert {(row["runtime"], row["metric"]) for row in failed} == {
        ("process", "syscall.getppid"), ("native", "syscall.getppid")}
    assert all("5 of 5 runs fail" in row["message"] for row in failed)
