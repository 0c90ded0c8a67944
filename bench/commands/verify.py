"""`bench verify CONFIG`: the verify run is bench/verify/verifying.py."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.commands.arguments import path_or_none

NAME = "verify"
HELP = ("run a config's cells and, interleaved, an independent reference for each "
        "headline figure; report the agreement")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="YAML config (e.g. configs/quick.yaml)")
    parser.add_argument("-o", "--output", help="results directory to create "
                        "(default: <config output>/<time>-<config>-verify-<run id>)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="show every external action as it happens (always in run.log)")


def main(args: argparse.Namespace) -> int:
    from bench.running import under_signals
    from bench.verify.verifying import verify

    config, output = Path(args.config), path_or_none(args.output)
    return under_signals(lambda: verify(config, output, args.verbose))
