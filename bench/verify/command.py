"""`bench verify CONFIG`: run the config's cells and, interleaved with them in the same
sitting, the independent reference for each headline figure; store both, the agreement in
verify.json, and a report with a Cross-checks section.

Exit codes: 0 every line agrees or is unclear, 1 a line disagrees or a reference failed,
2 bad config, 3 some of bench's own cells failed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.table import Table

from bench.noise import host_load
from bench.results.crosschecks import Agreement, CrossCheck, write_checks
from bench.results.units import format_value
from bench.run_command import create_run, default_cache_dir, run_with_progress, write_run_report
from bench.runlog import run_log
from bench.runner import Runner
from bench.terminal import err, out
from bench.verify.checks import Verifier
from bench.verify.references import tool_versions


def cmd_verify(args: argparse.Namespace) -> int:
    run = create_run(Path(args.config), args.output, kind="verify", verify=True)
    config, run_id, store = run.config, run.run_id, run.store
    err.print(f"verify {run_id}: {len(run.cells)} cells and their references -> {store.path}")
    before = host_load()
    try:
        with run_log(store.path, verbose=args.verbose) as log:
            runner = Runner(config, store, run.bundle, run_id, default_cache_dir(), log)
            verifier = Verifier(config, run_id, default_cache_dir(), lambda: runner.drivers)
            runner.on_instance = verifier.at_instance
            try:
                failed = run_with_progress(runner, run.cells, after_cell=verifier.after_cell)
            finally:
                verifier.close()
            checks = verifier.checks()
            sitting = {"load_before": before.load1, "load_after": host_load().load1}
            write_checks(store.path, checks, tool_versions(), sitting)
    finally:
        store.close()
        write_run_report(store.path)
    print_checks(checks)
    return exit_code(checks, failed)


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
                      format_value(result.reference, check.unit), difference(result),
                      f"±{check.tolerance:.0%}", result.verdict)
    out.print(table)


def difference(result: Agreement) -> str:
    """`+1.2% (-0.5% .. +2.9%)`, or why there is no difference to show."""
    if result.relative is None or result.relative_low is None or result.relative_high is None:
        return result.reason or "-"
    return (f"{result.relative:+.1%} ({result.relative_low:+.1%} .. "
            f"{result.relative_high:+.1%})")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    help_text = ("run a config's cells and, interleaved, an independent reference for each "
                 "headline figure; report the agreement")
    parser = sub.add_parser("verify", help=help_text, description=help_text)
    parser.set_defaults(handler=cmd_verify)
    parser.add_argument("config", help="YAML config (e.g. configs/quick.yaml)")
    parser.add_argument("-o", "--output", help="results directory to create "
                        "(default: <config output>/<time>-<config>-verify-<run id>)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="show every external action as it happens (always in run.log)")

