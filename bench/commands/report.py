"""`bench report DIR [DIR ...] [-o FILE]`: the comparative HTML report of one or more runs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

NAME = "report"
HELP = "write one self-contained HTML report of one or more results directories"
DESCRIPTION = HELP + "; with several, the first is the reference the others are compared against"
REPORT_NAME = "report.html"
COMPARISON_NAME = "bench-report.html"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", nargs="+", metavar="DIR", help="a results directory")
    parser.add_argument("-o", "--output", metavar="FILE", help=(
        f"HTML file to write (default: DIR/{REPORT_NAME} for one directory, "
        f"./{COMPARISON_NAME} for several)"))


def default_output(results: list[Path]) -> Path:
    return results[0] / REPORT_NAME if len(results) == 1 else Path.cwd() / COMPARISON_NAME


def main(args: argparse.Namespace) -> int:
    from reports.html import write_report  # plotly and pandas load only for this command

    results = [Path(p) for p in args.results]
    output = Path(args.output) if args.output else default_output(results)
    written = write_report(results, output)
    print(f"report written to {written}", file=sys.stderr)
    return 0
