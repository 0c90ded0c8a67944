"""The gate against history: one noisy baseline cannot fail a change on its own, a real
regression fails against every run, and what the store cannot compare is refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.gate.evaluate import Evaluation, exit_code, gate_run
from bench.gate.history import gate_history, majority
from bench.gate.rules import parse_gate
from bench.history.database import Store, open_store
from bench.history.location import store_url
from bench.history.record import RUN, record_run
from bench.results.run import load_run
from foundation.errors import GateError
from tests.history_fixtures import history_run

T0 = 1_750_000_000.0
GETPPID = ("process", "syscalls", "syscall.getppid")
RULES = parse_gate({"rules": [  # one row per runtime keeps these tests quick
    {"kind": "relative", "metric": "syscall.getppid", "percent": 10, "floor": "10 ns"}]})


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(store_url(str(tmp_path / "history.sqlite"), tmp_path / "unused"))
    yield opened
    opened.close()


def past_runs(tmp_path: Path, store: Store, scales: list[float]) -> list[Path]:
    runs = [history_run(tmp_path / f"past{n}", f"past{n}", T0 + 3600 * n, seed=n, scale=scale,
                        repetitions=10) for n, scale in enumerate(scales)]
    for run in runs:
        record_run(store, run, RUN)  # as `bench run` records what it ran here
    return runs


def verdict_of(evaluations: list[Evaluation], key: tuple[str, str, str]) -> Evaluation:
    return next(e for e in evaluations
                if (e.runtime, e.workload, e.metric) == key and e.kind == "relative")


def test_one_fast_baseline_alone_cannot_fail_an_unchanged_candidate(tmp_path: Path,
                                                                    store: Store) -> None:
    runs = past_runs(tmp_path, store, [1.0, 1.0, 0.85, 1.0, 1.0])  # past2: a lucky sitting
    candidate = history_run(tmp_path / "cand", "cand", T0 + 3600 * 9, seed=90, repetitions=10)
    alone = gate_run(candidate, runs[2], RULES, uncalibrated=True)
    assert exit_code(alone) == 1  # against that run alone, the unchanged candidate fails
    pooled = gate_history(candidate, store, 5, RULES, uncalibrated=True)
    assert exit_code(pooled) == 0
    row = verdict_of(pooled.evaluations, GETPPID)
    assert row.verdict == "pass" and "1 of 5 runs fail, 3 needed" in row.message


def test_a_regression_fails_against_the_majority_and_names_the_runs(tmp_path: Path,
                                                                     store: Store) -> None:
    past_runs(tmp_path, store, [1.0] * 6)
    candidate = history_run(tmp_path / "cand", "cand", T0 + 3600 * 9, seed=91, scale=1.2,
                            repetitions=10)
    result = gate_history(candidate, store, 5, RULES, uncalibrated=True)
    assert exit_code(result) == 1
    row = verdict_of(result.evaluations, GETPPID)
    assert row.verdict == "fail" and "5 of 5 runs fail" in row.message
    assert result.baseline is not None
    assert [f"past{n}" in result.baseline for n in range(6)] == [False] + [True] * 5


def test_no_comparable_run_is_refused(tmp_path: Path, store: Store) -> None:
    past_runs(tmp_path, store, [1.0])
    other = history_run(tmp_path / "cand", "cand", T0 + 9e4, seed=9, repetitions=10,
                        host={"kernel": "6.9.0", "cpu_model": "Other"})
    with pytest.raises(GateError, match="no comparable run"):
        gate_history(other, store, 5, RULES)


def test_majority() -> None:
    assert [majority(n) for n in (1, 2, 3, 4, 5, 10)] == [1, 2, 2, 3, 3, 6]


def test_the_history_gate_takes_the_calibration_as_the_baseline_gate_does(
        tmp_path: Path, store: Store) -> None:
    """Each past run is another sitting: with a calibration, a row's change is tested against
    the sittings' spread. A 20 % step stands out from a 1 % spread and fails against every
    run; against a 30 % spread it is what sittings do, and passes."""
    from bench.gate.calibration import Calibration, host_identity, write

    past_runs(tmp_path, store, [1.0] * 5)
    candidate = history_run(tmp_path / "cand", "cand", T0 + 3600 * 9, seed=92, scale=1.2,
                            repetitions=10)
    verdicts = {}
    for spread in (0.01, 0.30):
        path = tmp_path / f"calibration-{spread}.json"
        write(path, Calibration({GETPPID: spread}, 12, host_identity(load_run(candidate).manifest)))
        result = gate_history(candidate, store, 5, RULES, calibration=path)
        verdicts[spread] = verdict_of(result.evaluations, GETPPID).verdict
        assert any("calibrated from 12 A/A sittings" in note for note in result.notes)
    assert verdicts == {0.01: "fail", 0.30: "pass"}
