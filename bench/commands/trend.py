"""`bench trend`: the page is reports/trend.py."""

from __future__ import annotations

import argparse

from bench.commands.arguments import (
    add_filters,
    add_store_option,
    filters_from,
    path_or_none,
    store_choice,
)
from reports.trend import OUTPUT, trend_of_store

NAME = "trend"
HELP = "write an HTML page of medians over commits or time from the history store"
DESCRIPTION = HELP + ("; by default every metric except boot and teardown phases (boot.total, "
                      "stop.total are kept)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_filters(parser)
    add_store_option(parser)
    parser.add_argument("--by", choices=["time", "commit"], default="time",
                        help="x axis: when the store received the run, or its commit in that order")
    parser.add_argument("-o", "--output", metavar="FILE", help=f"page to write (default ./{OUTPUT})")


def main(args: argparse.Namespace) -> int:
    return trend_of_store(store_choice(args), filters_from(args), args.by,
                          path_or_none(args.output))
