"""Cross-checks (`bench verify`): the agreement of a figure with its reference, the verdict
against a tolerance, and verify.json written and read back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench.results.crosschecks import (
    VERIFY,
    CrossCheck,
    cell_runs,
    read_checks,
    tolerance_text,
    verdict,
    write_checks,
)
from bench.verify.checks import Line
from bench.verify.launches import after_cgroup, boot_total
from foundation.errors import ResultsError
from runtimes.protocol import parse_target


def check(bench: list[float], reference: list[float], **changes: Any) -> CrossCheck:
    values: dict[str, Any] = dict(figure="boot.total", runtime="process", reference="hyperfine -N",
                                  how="the same launch", unit="ms", tolerance=0.1, paired=False,
                                  bench=bench, reference_values=reference)
    values.update(changes)
    return CrossCheck(**values)


def test_the_verdict_holds_the_whole_interval_against_the_tolerance() -> None:
    assert verdict(-0.05, 0.08, 0.1) == "agree"
    assert verdict(0.11, 0.3, 0.1) == "disagree"
    assert verdict(-0.4, -0.2, 0.1) == "disagree"
    assert verdict(-0.05, 0.2, 0.1) == "unclear"


def test_figures_that_agree_and_figures_that_do_not() -> None:
    close = check([10.0, 10.1, 9.9, 10.05, 9.95] * 4, [10.02, 9.98, 10.0, 10.1, 9.9] * 4)
    result = close.agreement()
    assert result.verdict == "agree" and result.relative is not None and abs(result.relative) < 0.01
    assert result.bench == pytest.approx(10.0) and result.difference == pytest.approx(0.0, abs=0.05)
    far = check([15.0, 15.2, 14.8] * 5, [10.0, 10.1, 9.9] * 5)
    assert far.agreement().verdict == "disagree"
    assert far.agreement().relative == pytest.approx(0.5)


def test_paired_readings_compare_instance_by_instance() -> None:
    paired = check([100.0, 200.0, 300.0], [99.0, 198.0, 297.0], paired=True, tolerance=0.02,
                   unit="bytes", figure="memory.host_pss")
    result = paired.agreement()
    assert result.relative == pytest.approx(1 / 99) and result.verdict == "agree"


def test_a_difference_within_the_instruments_resolution_agrees() -> None:
    """A cgroup charge read twice a moment apart moves by up to a charge batch: 32 KiB of
    640 KiB (5.2 %) agrees within a 256 KiB batch, 512 KiB over it does not."""
    kib = 1024.0
    line = {"figure": "memory.cgroup", "unit": "bytes", "paired": True, "tolerance": 0.05}
    batch = 256 * kib
    assert check([672 * kib], [640 * kib], **line).agreement().verdict == "disagree"
    assert check([672 * kib], [640 * kib], **line, resolution=batch).agreement().verdict == "agree"
    assert check([1152 * kib], [640 * kib], **line,
                 resolution=batch).agreement().verdict == "disagree"
    assert tolerance_text(check([1.0], [1.0], **line, resolution=batch)) == "\u00b15% or 256 KiB"
    assert tolerance_text(check([1.0], [1.0])) == "\u00b110%"


def test_a_reference_that_could_not_be_taken_is_failed_never_a_number() -> None:
    result = check([10.0], [], failed="hyperfine is not installed").agreement()
    assert result.verdict == "failed" and result.relative is None
    assert result.reason == "hyperfine is not installed"
    assert check([], [1.0]).agreement().reason == "bench has no value"


def test_a_launch_line_takes_the_sittings_median_correction_off_every_cell() -> None:
    line = Line(check([], [], by_cell=True))
    for cell, (ours, raw, correction) in enumerate(((2.0, 3.0, 1.0), (2.1, 3.4, 1.5),
                                                    (2.2, 3.2, 0.6))):  # a scattered calibration
        line.ours[cell] = ours
        line.theirs[cell] = [raw - 0.1, raw, raw + 0.5]  # its runs: the median is raw
        line.corrections.append(correction)
    gathered = line.check()
    assert gathered.reference_values == pytest.approx([2.0, 2.4, 2.2])
    assert gathered.reference_runs[1] == pytest.approx([2.3, 2.4, 2.9])  # every run corrected
    line.problems.append("hyperfine failed after one cell")  # kept, the line is not failed
    assert line.check().failed is None
    assert Line(check([2.0], []), problems=["no hyperfine"]).check().failed == "no hyperfine"


def test_a_line_beside_each_cell_keeps_the_cells_with_both_values_as_pairs() -> None:
    line = Line(check([], [], by_cell=True))
    line.ours.update({3: 1.3, 1: 1.1, 7: 1.7})      # cell 5's instance failed: no value
    line.theirs.update({1: [1.0], 5: [1.5], 7: [1.6]})    # cell 3's reference failed
    line.corrections.append(0.0)
    gathered = line.check()
    assert gathered.bench == [1.1, 1.7] and gathered.reference_values == [1.0, 1.6]


def test_cells_compared_pair_by_pair_leave_the_sittings_drift_out_of_the_interval() -> None:
    """The host's speed moves from one minute to the next (levels some per cent apart) and
    moves bench's cell and the reference taken right after it alike: over the cells' ratios
    that drift cancels, where the ratio of the two sides' medians carries it twice."""
    drift = [1.0, 1.3, 0.85, 1.15, 0.95, 1.25, 0.9, 1.1, 1.2, 0.8] * 2
    bench = [1.02 * level for level in drift]
    reference = [1.0 * level * (1.01 if i % 2 else 0.99) for i, level in enumerate(drift)]
    apart = check(bench, reference).agreement()
    by_cell = check(bench, reference, by_cell=True).agreement()
    assert apart.verdict == "unclear"
    assert by_cell.verdict == "agree"
    assert by_cell.relative == pytest.approx(0.02, abs=0.015)
    assert by_cell.relative_low is not None and by_cell.relative_high is not None
    assert 0.0 < by_cell.relative_low < by_cell.relative_high < 0.05
    # a real difference is not hidden by the pairing: 20 % over the reference in every cell
    slower = check([1.2 * r for r in reference], reference, by_cell=True).agreement()
    assert slower.verdict == "disagree" and slower.relative == pytest.approx(0.2, abs=0.02)


def test_a_version_1_verify_json_reads_with_its_lines_unpaired(tmp_path: Path) -> None:
    write_checks(tmp_path, [check([10.0, 11.0], [10.5, 10.4])], {}, {})
    document = json.loads((tmp_path / VERIFY).read_text())
    document["format_version"] = 1
    for line in document["checks"]:
        del line["by_cell"]
    (tmp_path / VERIFY).write_text(json.dumps(document))
    [line] = read_checks(tmp_path) or []
    assert not line.by_cell and line.bench == [10.0, 11.0]


def test_verify_json_round_trips(tmp_path: Path) -> None:
    checks = [check([10.0, 11.0], [10.5, 10.4]), check([1.0], [], failed="no perf")]
    write_checks(tmp_path, checks, {"hyperfine": "hyperfine 1.15.0"}, {"load_before": 0.5})
    document = json.loads((tmp_path / VERIFY).read_text())
    assert document["checks"][0]["agreement"]["verdict"] in {"agree", "unclear", "disagree"}
    assert document["tools"] == {"hyperfine": "hyperfine 1.15.0"}
    assert read_checks(tmp_path) == checks
    assert read_checks(tmp_path / "nothing") is None


def test_a_nan_in_a_check_is_written_as_null_and_the_file_stays_json(tmp_path: Path) -> None:
    def refuse(token: str) -> None:
        raise ValueError(f"{token} is not JSON")

    nan = float("nan")
    write_checks(tmp_path, [check([10.0, nan], [10.5, 10.4], paired=True)], {},
                 {"load_before": float("inf")})
    document = json.loads((tmp_path / VERIFY).read_text(), parse_constant=refuse)
    assert document["checks"][0]["bench"] == [10.0, None]
    assert document["checks"][0]["agreement"]["relative_high"] is None
    assert document["sitting"] == {"load_before": None}


def test_a_newer_verify_json_is_refused(tmp_path: Path) -> None:
    (tmp_path / VERIFY).write_text(json.dumps({"format": "bench-verify", "format_version": 99,
                                               "checks": []}))
    with pytest.raises(ResultsError, match="newer than this bench reads"):
        read_checks(tmp_path)


def test_the_native_launch_is_compared_from_the_cgroup_on() -> None:
    phases = {"boot.total": 5.0, "boot.cgroup": 1.5, "boot.spawn": 2.0}
    assert boot_total(phases) == 5.0
    assert after_cgroup(phases) == 3.5
    assert after_cgroup({"boot.total": 5.0}) is None


def test_the_probe_names_what_its_path_calls_reach() -> None:
    target = parse_target(["BENCH-READY syscall", "BENCH-TARGET name=probe fs=0x794c7630"])
    assert target is not None and (target.name, target.filesystem) == ("probe", "overlayfs")
    assert parse_target(["BENCH-TARGET name=init fs=0x1234"]).filesystem == "0x1234"  # type: ignore[union-attr]
    assert parse_target(["BENCH-DONE 0"]) is None


def test_a_run_whose_load_moved_or_lost_cpu_to_a_hypervisor_is_flagged() -> None:
    from bench.results.recorded_noise import judge

    quiet = {"load_before": 0.2, "load_after": 0.3, "steal_percent": 0.1}
    cells = [{"key": "process/idle/0", "noise": quiet},
             {"key": "native/idle/0", "noise": {**quiet, "load_after": 1.9}},
             {"key": "docker/idle/0", "noise": {**quiet, "steal_percent": 7.5}}]
    change = judge(cells, cores=2)
    assert change is not None and change.load_moved and (change.load_low, change.load_high) == (0.2, 1.9)
    assert change.stolen == [("docker/idle/0", 7.5)]
    calm = judge(cells[:1], cores=2)
    assert calm is not None and not calm.load_moved and not calm.stolen
    assert judge([{"key": "old", "status": "ok"}], cores=2) is None  # made before the record


def modes(rng: np.random.Generator, size: int, scale: float = 1.0) -> list[float]:
    """Starts that fall into modes, as lxc-start's do on the build host (it waits for one RCU
    grace period or two): about 11.5, 15 and 26 ms, with 35 %, 30 % and 35 % of the starts."""
    centre = rng.choice([11.5, 15.0, 26.0], size=size, p=[0.35, 0.3, 0.35])
    return list(scale * centre * rng.normal(1.0, 0.03, size=size))


def test_single_starts_in_modes_are_held_against_each_run_of_their_cell() -> None:
    """bench's side of a cell is one start; held against the median of its cell's nine runs,
    starts in modes leave the line wide (which mode each start fell in); held against every
    run of its cell, each start meets the reference's own spread of modes: the interval
    narrows (to 0.18-0.77 of the other's width over 30 seeds of this draw, 120 cells), the
    same launch on both sides agrees, and a real difference still shows."""
    rng = np.random.default_rng(7)
    ours = modes(rng, 120)
    runs = [modes(rng, 9) for _ in ours]
    medians = [float(np.median(cell)) for cell in runs]
    by_runs = check(ours, medians, by_cell=True, reference_runs=runs).agreement()
    by_medians = check(ours, medians, by_cell=True).agreement()
    assert by_runs.relative_low is not None and by_runs.relative_high is not None
    assert by_medians.relative_low is not None and by_medians.relative_high is not None
    assert by_runs.verdict == "agree", by_runs
    assert (by_runs.relative_high - by_runs.relative_low
            < 0.8 * (by_medians.relative_high - by_medians.relative_low))
    slower = check([1.25 * value for value in ours], medians, by_cell=True,
                   reference_runs=runs).agreement()
    assert slower.verdict == "disagree" and slower.relative == pytest.approx(0.25, abs=0.06)


def test_a_line_without_its_runs_reads_each_cells_value_as_its_one_run() -> None:
    """A verify.json of format 2 kept no runs: its by-cell lines read as they were judged."""
    line = check([1.1, 1.7], [1.0, 1.6], by_cell=True)
    assert cell_runs(line) == [[1.0], [1.6]]
    assert check([1.1], [1.0], by_cell=True, reference_runs=[[0.9, 1.0, 1.2]]).agreement().relative \
        == pytest.approx(1.1 / 1.0 - 1)


def test_a_large_line_is_resampled_in_chunks_to_the_same_interval(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The bootstrap draws at most DRAWN_LIMIT ratios at once (thousands of cells of nine runs
    would take gigabytes drawn whole); drawn in chunks, the interval is the same within the
    bootstrap's own scatter."""
    import bench.results.crosschecks as crosschecks
    rng = np.random.default_rng(3)
    ours = modes(rng, 60)
    runs = [modes(rng, 9) for _ in ours]
    line = check(ours, [float(np.median(cell)) for cell in runs], by_cell=True, reference_runs=runs)
    whole = line.agreement()
    monkeypatch.setattr(crosschecks, "DRAWN_LIMIT", 60 * 9 * 7)  # 7 resamples at a time
    chunked = line.agreement()
    assert chunked.relative == whole.relative
    assert chunked.relative_low == pytest.approx(whole.relative_low, abs=0.01)
    assert chunked.relative_high == pytest.approx(whole.relative_high, abs=0.01)
