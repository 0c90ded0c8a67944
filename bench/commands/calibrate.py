"""`bench calibrate`: a gate's calibration from A/A sittings or the history store; the
calibration itself is bench/gate/calibrating.py."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.commands.arguments import path_or_none, store_choice

NAME = "calibrate"
HELP = "measure a gate on A/A sittings: its calibration, false-fail rate and the " \
    "smallest change it catches"
EPILOG = """\
Give K >= 3 results directories of the same config and the same code on one host kind, run
one after the other (K >= 5 to measure the false-fail rate, 10 or more for a useful
calibration); or, with --history, one results directory (e.g. the candidate): the sittings are
then the history store's complete runs of its host kind and config, grouped by commit (runs of
one commit are A/A sittings by construction), their spread pooled over the commits.
`-o FILE` adds this host kind's calibration to FILE (replacing an older one of the same kind,
keeping the other kinds').
  calibration      per row, the SD of the log of its median over the sittings (what a
                   sitting moves it by); `-o FILE` writes it for the gate's `calibration:`.
  false fails      every ordered pair of sittings gated against each other, each pair with a
                   calibration from the other K - 2 sittings only; and without a calibration.
  smallest change  per between-run row, the smallest synthetic regression (the candidate's
                   row scaled by 1 + x) that fails in 90 % of the pairs, the whole gate
                   evaluated (Holm's correction counts every row); "-" when not even +500 %."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sittings", nargs="+", metavar="DIR",
                        help="results directories of the same config and code (A/A); with "
                        "--history, one run of the host kind and config to calibrate")
    parser.add_argument("--history", action="store_true", help="the sittings from the "
                        "history store: its runs of DIR's host kind and config, by commit")
    parser.add_argument("--include-imported", action="store_true", help="with --history: "
                        "also take runs brought in by `bench history import` (by default only "
                        "runs `bench run` recorded here are sittings)")
    parser.add_argument("--store", metavar="URL", help="history store for --history "
                        "(default: $BENCH_STORE, else the per-user SQLite file)")
    parser.add_argument("-o", "--output", metavar="FILE",
                        help="write the calibration here (a gate's `calibration:` file)")
    parser.add_argument("--rules", metavar="FILE", help="YAML gate section (or a run "
                        "config with one); default: the first sitting's, else the defaults")


def main(args: argparse.Namespace) -> int:
    from bench.gate.calibrating import CalibrateRequest, calibrate

    return calibrate(CalibrateRequest(
        tuple(Path(path) for path in args.sittings), store_choice(args) if args.history else None,
        args.include_imported, path_or_none(args.rules), path_or_none(args.output)))
