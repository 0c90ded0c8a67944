"""A gate that knows its machine: a calibration belongs to a host kind, is applied to that kind
only, a gate between sittings without one is refused in one line, and `bench calibrate
--history` builds one from the store's runs of one commit (A/A sittings by construction)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from bench.gate.calibration import (
    Calibration,
    describe_kind,
    estimate,
    for_host,
    host_identity,
    read,
    write,
)
from bench.gate.evaluate import exit_code, gate_run
from bench.gate.history_calibration import from_history
from bench.history.database import Store, open_store
from bench.history.location import store_url
from bench.history.record import record_run
from bench.results.run import load_run
from foundation.errors import ResultsError, UncalibratedHost
from tests.gate_fixtures import HOST, MEDIANS, cli, make_run

CONFIGS = Path(__file__).parents[2] / "configs"
GETPPID = ("process", "syscalls", "syscall.getppid")
CLEAN = {"bench_commit": "c0ffee"}  # a run of one known code (not +dirty)
OTHER_KIND = {"cpu_model": "Intel Xeon", "kernel": "6.1.0-99-amd64"}
# what each sitting did to every figure: the spread between sittings, about 3.5 %
SITTINGS = [1.0, 1.04, 0.96, 1.02, 0.97, 1.05, 0.95, 1.01]


def sittings(folder: Path, shifts: list[float], seed: int, **host: object) -> list[Path]:
    return [make_run(folder / f"s{seed}-{i}", {"process": shift}, seed=seed + i,
                     host={**CLEAN, **host}) for i, shift in enumerate(shifts)]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(store_url(str(tmp_path / "history.sqlite"), tmp_path / "unused"))
    yield opened
    opened.close()


def test_a_gate_between_sittings_without_a_calibration_of_this_kind_is_refused_in_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base, cand = sittings(tmp_path, [1.0, 1.0], seed=1)
    with pytest.raises(UncalibratedHost) as refused:
        gate_run(cand, base, None)
    assert refused.value.source is None and refused.value.exit_code == 2
    assert cli(["gate", "--baseline", str(base), "--candidate", str(cand)]) == 2
    (line,) = capsys.readouterr().out.splitlines()  # one line: what is missing, how to calibrate
    assert "no calibration of this host's kind" in line and "bench calibrate --history" in line
    assert describe_kind(host_identity(load_run(cand).manifest)) in line


def test_a_calibration_of_another_host_kind_is_never_applied(tmp_path: Path) -> None:
    calibration = tmp_path / "calibration.json"
    elsewhere = sittings(tmp_path / "elsewhere", SITTINGS[:5], seed=10, **OTHER_KIND)
    assert cli(["calibrate", *map(str, elsewhere), "-o", str(calibration)]) == 0
    base, cand = sittings(tmp_path, [1.0, 1.0], seed=20)
    with pytest.raises(UncalibratedHost) as refused:
        gate_run(cand, base, None, calibration=calibration)
    assert refused.value.source == str(calibration)
    (known,) = refused.value.known
    assert "Intel Xeon" in known and "kernel 6.1.0-99-amd64" in known
    here = sittings(tmp_path / "here", SITTINGS[:5], seed=30)
    assert cli(["calibrate", *map(str, here), "-o", str(calibration)]) == 0
    found = read(calibration)  # one calibration per host kind, the other kind's kept
    assert sorted(c.host["cpu_model"] for c in found) == ["AMD EPYC 7B13", "Intel Xeon"]
    used = for_host(found, load_run(cand).manifest)
    assert used is not None and used.host["cpu_model"] == HOST["cpu_model"]
    result = gate_run(cand, base, None, calibration=calibration)
    boot = next(e for e in result.evaluations if e.metric == "boot.total")
    assert boot.sitting_sd == used.sd[("process", "idle", "boot.total")]
    assert any(describe_kind(used.host) in note for note in result.notes)


def test_sittings_of_two_host_kinds_make_no_calibration(tmp_path: Path) -> None:
    mixed = [*sittings(tmp_path, SITTINGS[:2], seed=40),
             *sittings(tmp_path / "b", SITTINGS[2:3], seed=50, **OTHER_KIND)]
    with pytest.raises(ResultsError, match="another host kind"):
        estimate([load_run(path) for path in mixed])


def test_the_shipped_calibration_is_an_example_of_its_own_host_kind(tmp_path: Path) -> None:
    """configs/ci-gate.calibration.json says it is an example, and applies to no other kind:
    a gate of a run of another host (these tests' synthetic one) with it is refused."""
    shipped = CONFIGS / "ci-gate.calibration.json"
    document = json.loads(shipped.read_text())
    assert "example" in document["note"] and "bench calibrate" in document["note"]
    (example,) = read(shipped)
    base, cand = sittings(tmp_path, [1.0, 1.0], seed=60)
    assert for_host([example], load_run(cand).manifest) is None
    assert cli(["gate", "--baseline", str(base), "--candidate", str(cand), "--calibration",
                str(shipped)]) == 2


def test_a_version_1_calibration_still_reads(tmp_path: Path) -> None:
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"format": "bench-gate-calibration", "format_version": 1,
                               "sittings": 6, "host": {"cpu_model": "x"}, "rows": [
                                   {"runtime": "process", "workload": "syscalls",
                                    "metric": "syscall.getppid", "sd": 0.02}]}))
    (found,) = read(old)
    spread = found.of(GETPPID)
    assert spread is not None and (spread.sd, spread.dof) == (0.02, 5)


def record(store: Store, paths: list[Path]) -> None:
    for path in paths:
        record_run(store, path)


def test_calibrate_from_history_pools_the_sittings_of_each_commit(
        tmp_path: Path, store: Store) -> None:
    """Runs of one commit are A/A sittings; a change between commits (here +30 % on every row)
    adds nothing to the spread, and runs of no known code are left out with the reason."""
    first = sittings(tmp_path / "c1", SITTINGS[:4], seed=70, bench_commit="c1")
    second = sittings(tmp_path / "c2", [1.3 * s for s in SITTINGS[4:]], seed=80,
                      bench_commit="c2")
    dirty = sittings(tmp_path / "dirty", [3.0, 0.3], seed=90, bench_commit="c1+dirty")
    record(store, [*first, *second, *dirty])
    calibration, found = from_history(store, load_run(first[0]), imported=True)
    spread = calibration.of(GETPPID)
    assert spread is not None and spread.dof == 3 + 3
    logs = [np.log(SITTINGS[:4]) - np.mean(np.log(SITTINGS[:4])),
            np.log(SITTINGS[4:]) - np.mean(np.log(SITTINGS[4:]))]
    expected = float(np.sqrt(sum(float(np.sum(d ** 2)) for d in logs) / 6))
    assert spread.sd == pytest.approx(expected, rel=0.35)  # the sittings', not the commits'
    assert calibration.sittings == 8 and len(found.left_out) == 2
    assert all("c1+dirty: not one known code" in line for line in found.left_out)
    assert calibration.host == host_identity(load_run(first[0]).manifest)


def test_calibrate_history_on_the_command_line_then_an_aa_gate_passes_and_a_regression_fails(
        tmp_path: Path, store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    aa = sittings(tmp_path, SITTINGS, seed=100)
    record(store, aa)
    store.close()
    calibration = tmp_path / "calibration.json"
    url = str(tmp_path / "history.sqlite")
    assert cli(["calibrate", "--history", "--include-imported", str(aa[-1]), "--store", url, "-o",
                str(calibration)], capsys) == 0
    printed = capsys.readouterr().out
    assert "8 runs at 1 commit(s)" in printed and "syscall.getppid" in printed
    base, same = sittings(tmp_path / "later", [0.95, 1.05], seed=200)  # same code, +10 %
    assert exit_code(gate_run(same, base, None, calibration=calibration)) == 0
    assert exit_code(gate_run(same, base, None, uncalibrated=True)) == 1  # the rank test alone
    slower = make_run(tmp_path / "slower", {"process": 1.0}, seed=300, host=CLEAN,
                      medians={**MEDIANS, ("syscalls", "syscall.getppid"): 250.0 * 1.3})
    steady = make_run(tmp_path / "steady", {"process": 1.0}, seed=301, host=CLEAN)
    result = gate_run(slower, steady, None, calibration=calibration)
    verdict = {(e.runtime, e.workload, e.metric): e.verdict for e in result.evaluations}
    assert verdict[GETPPID] == "fail" and verdict[("process", "idle", "boot.total")] == "pass"


def test_calibrate_history_needs_sittings_of_one_commit(tmp_path: Path, store: Store) -> None:
    runs = [make_run(tmp_path / f"r{i}", {"process": 1.0}, seed=i,
                     host={"bench_commit": f"commit{i}"}) for i in range(4)]
    record(store, runs)
    with pytest.raises(ResultsError, match="needs 3 complete runs at one commit"):
        from_history(store, load_run(runs[0]))
    assert cli(["calibrate", "--history", str(runs[0]), str(runs[1]), "--store",
                str(tmp_path / "history.sqlite")]) == 2


def test_writing_over_a_file_that_is_no_calibration_is_refused(tmp_path: Path) -> None:
    precious = tmp_path / "notes.json"
    precious.write_text('{"mine": true}')
    with pytest.raises(ResultsError):
        write(precious, Calibration({GETPPID: 0.1}, 5, dict(HOST)))
    assert precious.read_text() == '{"mine": true}'
