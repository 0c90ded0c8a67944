"""The helper that checks two runs' ratios against each other's intervals (issue 12's check)."""

from __future__ import annotations

from pathlib import Path

from tests.benchmarks.ratio_agreement import agreement, main, share
from tests.report_fixtures import ALL, write_results


def test_two_runs_of_one_config_agree_and_a_changed_run_does_not(tmp_path: Path) -> None:
    first = write_results(tmp_path / "a", runtimes=ALL, repetitions=6, seed=1, syscall_batches=4)
    second = write_results(tmp_path / "b", runtimes=ALL, repetitions=6, seed=2, syscall_batches=4)
    checks = agreement(first, second)
    rows = {c.row for c in checks}
    assert ("docker", "syscalls", "syscall.getppid") in rows
    assert ("process", "syscalls", "syscall.getppid") not in rows  # the baseline has no ratio
    assert len(checks) == 2 * len(rows)  # both directions
    assert share(checks) >= 0.9
    assert main([str(first), str(second)]) == 0
    few = write_results(tmp_path / "few", runtimes=ALL, repetitions=3, seed=3, syscall_batches=4)
    assert share(agreement(first, few)) < 0.9  # no interval in the small run: no agreement
    assert main([str(first), str(few)]) == 1
