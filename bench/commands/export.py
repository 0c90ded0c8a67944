"""`bench export DIR`: a results directory in another tool's format (bench/export.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.commands.arguments import path_or_none

NAME = "export"
HELP = "write a results directory in another tool's format"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", metavar="DIR", help="a results directory")
    parser.add_argument("--format", default="pytest-benchmark", choices=["pytest-benchmark"],
                        help="pytest-benchmark: JSON for `pytest-benchmark compare` (time "
                        "metrics, in seconds)")
    parser.add_argument("-o", "--output", metavar="FILE", help="file to write (default: stdout)")


def main(args: argparse.Namespace) -> int:
    from bench.export import export

    export(Path(args.results), path_or_none(args.output))
    return 0
