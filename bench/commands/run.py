"""`bench run CONFIG` (or `--resume DIR`): the run's lifecycle is bench/running.py."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.commands.arguments import path_or_none, store_choice

NAME = "run"
HELP = "run a config's plan and store the results"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", nargs="?", help="YAML config (see configs/quick.yaml)")
    parser.add_argument("--resume", metavar="DIR", help="finish the cells of a stopped run "
                        "(refused if the config changed)")
    parser.add_argument("-o", "--output", help="results directory to create "
                        "(default: <config output>/<time>-<config>-<run id>)")
    parser.add_argument("--baseline", metavar="DIR", help="after the run, gate it against "
                        "this results directory with the config's gate section (exit 1 "
                        "on a regression)")
    parser.add_argument("--store", metavar="URL", help="record the run in this history store: "
                        "`default` (the per-user SQLite file), a path, a URL, or `none` to "
                        "record nowhere (default: $BENCH_STORE, else the config's "
                        "history.store, else `default`)")
    parser.add_argument("--store-required", action="store_true", help="fail the run when it "
                        "cannot be recorded in the store (as the config's history.required "
                        "does; `bench fleet run` asks it of every host)")
    parser.add_argument("-v", "--verbose", action="store_true", help="show every external "
                        "action (commands, API calls, domain XML, cgroup writes) as it happens; "
                        "they are always written to run.log in the results directory")


def main(args: argparse.Namespace) -> int:
    from bench.history import NO_STORE
    from bench.history.urls import check_store
    from bench.running import RunOptions, new_run, resume_run, under_signals

    store = store_choice(args)
    if store.named and store.named != NO_STORE:  # a malformed store URL is refused before the run
        check_store(store.named)
    options = RunOptions(store, path_or_none(args.baseline), args.verbose, args.store_required)
    config = path_or_none(args.config)
    if args.resume:
        resume = Path(args.resume)
        return under_signals(lambda: resume_run(resume, config, options))
    output = path_or_none(args.output)
    return under_signals(lambda: new_run(config, output, options))
