"""`bench summary DIR [--json]`: the summary contract (bench/results/summary.py) of a run, as
the terminal table or as strict JSON."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

NAME = "summary"
HELP = "median, percentiles and 95%% CI per runtime, workload and metric"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", help="a results directory")
    parser.add_argument("--json", action="store_true",
                        help="print the summary contract as a JSON array")


def main(args: argparse.Namespace) -> int:
    return summary(Path(args.results), args.json)


def summary(results: Path, as_json: bool) -> int:
    from bench.results.run import load_run
    from bench.results.summary import run_summary_json
    from bench.results.writer import json_safe
    from bench.terminal import out, print_summary, warn_invalid

    run = load_run(results)
    if as_json:  # strict JSON: a statistic that came out infinite is null, never Infinity
        print(json.dumps(json_safe(run_summary_json(run)), indent=2, allow_nan=False))
        warn_invalid(run)
    else:
        print_summary(run, out)
    return 0
