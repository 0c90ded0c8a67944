"""`bench history import|list|show|export|prune`: the actions are bench/history/actions.py."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from bench.commands.arguments import (
    add_filters,
    add_store_option,
    filters_from,
    path_or_none,
    store_choice,
)

NAME = "history"
HELP = "the results store across runs: import, list, show, export, prune"
LIST_LIMIT = 50


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="history_command", required=True, metavar="ACTION")
    imported = actions.add_parser("import", help="record results directories (again: no change)")
    imported.add_argument("results", nargs="+", metavar="DIR", help="a results directory")
    listed = actions.add_parser("list", help="runs in the store, newest first")
    add_filters(listed)
    listed.add_argument("--limit", type=int, default=LIST_LIMIT,
                        help=f"at most this many runs (default {LIST_LIMIT}; 0: all)")
    listed.add_argument("--json", action="store_true", help="print a JSON array")
    shown = actions.add_parser("show", help="one run: its keys and summary rows")
    shown.add_argument("run", help="run id (or its unambiguous start)")
    shown.add_argument("--json", action="store_true", help="print run, manifest and rows as JSON")
    exported = actions.add_parser("export", help="summary rows of the selected runs as CSV or JSON")
    add_filters(exported)
    exported.add_argument("--format", choices=["csv", "json"], default="csv")
    exported.add_argument("-o", "--output", metavar="FILE", help="file to write (default: stdout)")
    pruned = actions.add_parser("prune", help="keep the newest N runs of each host and config")
    pruned.add_argument("--keep", type=int, required=True, metavar="N",
                        help="runs kept per host fingerprint and config hash (at least 1)")
    add_filters(pruned, rows=False)
    pruned.add_argument("--dry-run", action="store_true", help="list, delete nothing")
    for action in (imported, listed, shown, exported, pruned):
        add_store_option(action)


def main(args: argparse.Namespace) -> int:
    return ACTIONS[args.history_command](args)


def import_main(args: argparse.Namespace) -> int:
    from bench.history.actions import import_results

    return import_results(store_choice(args), [Path(folder) for folder in args.results])


def list_main(args: argparse.Namespace) -> int:
    from bench.history.actions import list_store

    return list_store(store_choice(args), filters_from(args), args.limit, args.json)


def show_main(args: argparse.Namespace) -> int:
    from bench.history.actions import show_run

    return show_run(store_choice(args), args.run, args.json)


def export_main(args: argparse.Namespace) -> int:
    from bench.history.actions import export_store

    return export_store(store_choice(args), filters_from(args), args.format,
                        path_or_none(args.output))


def prune_main(args: argparse.Namespace) -> int:
    from bench.history.actions import prune_store

    return prune_store(store_choice(args), args.keep, filters_from(args), args.dry_run)


ACTIONS: dict[str, Callable[[argparse.Namespace], int]] = {
    "import": import_main, "list": list_main, "show": show_main, "export": export_main,
    "prune": prune_main}
