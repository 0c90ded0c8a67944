"""The verify run: the config's cells and, interleaved with them in the same
sitting, the independent reference for each headline figure; store both, the agreement in
verify.json, and a report with a Cross-checks section.

Exit codes: 0 every line agrees or is unclear, 1 a line disagrees or a reference failed,
2 bad config, 3 some of bench's own cells failed. The command line is
bench/commands/verify.py.
"""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from bench.host_noise import host_load
from bench.interrupts import shielded
from bench.results.crosschecks import CrossCheck, tolerance_text, write_checks
from bench.results.numbers import format_value
from bench.running import RunHooks, create_run, default_cache_dir, run_cells
from bench.terminal import out
from bench.verify.checks import Verifier
from bench.verify.references import tool_versions
from reports.intervals import difference_text


def verify(config_path: Path, output: Path | None, verbose: bool) -> int:
    """The run of `bench run` (bench.running.run_cells) with the Verifier's hooks beside
    its cells, and verify.json written once they ran, before the report that shows it."""
    run = create_run(config_path, output, kind="verify")
    start = f"verify {run.run_id}: {len(run.cells)} cells and their references -> {run.writer.path}"
    verifier = Verifier(run.config, run.run_id, default_cache_dir())
    before = host_load()

    def record() -> None:
        sitting = {"load_before": before.load1, "load_after": host_load().load1}
        write_checks(run.writer.path, verifier.checks(), tool_versions(), sitting)

    hooks = RunHooks(verifier.at_instance, verifier.after_cell, record, verifier.before_cell)
    try:
        finished = run_cells(run.config, run.writer, run.bundle, run.cells, start,
                             run.workloads, verbose, hooks)
    finally:
        with shielded():
            verifier.close()
    checks = verifier.checks()
    print_checks(checks)
    return exit_code(checks, finished.failed)


def exit_code(checks: list[CrossCheck], failed_cells: int) -> int:
    verdicts = [check.agreement().verdict for check in checks]
    if "disagree" in verdicts or "failed" in verdicts:
        return 1
    return 3 if failed_cells else 0


def print_checks(checks: list[CrossCheck]) -> None:
    table = Table(title="cross-checks: bench against independent references",
                  title_justify="left")
    for column in ("figure", "runtime", "reference", "bench", "reference value",
                   "difference (95% CI)", "tolerance", "verdict"):
        table.add_column(column)
    for check in checks:
        result = check.agreement()
        table.add_row(check.figure, check.runtime, check.reference,
                      format_value(result.bench, check.unit),
                      format_value(result.reference, check.unit), difference_text(result),
                      tolerance_text(check), result.verdict)
    out.print(table)

