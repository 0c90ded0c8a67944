"""`bench clean`: remove what killed runs left behind (the sweep is bench/leftovers.py), one
line per thing removed, and look again: never "nothing left" while something is (exit 1)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.config import Config

NAME = "clean"
HELP = "remove what killed runs left behind (containers, domains, cgroups)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", help="only this run id (default: every bench run)")
    parser.add_argument("--force", action="store_true", help="clean runs that are still going "
                        "too (by default a run whose lock is held is left alone)")
    parser.add_argument("--dry-run", action="store_true", help="list, remove nothing")
    parser.add_argument("--config", action="append", default=[], metavar="CONFIG",
                        help="also sweep where this config's runtimes point (a docker endpoint, "
                        "a libvirt URI); repeatable")


def main(args: argparse.Namespace) -> int:
    from bench.config import load_config
    from bench.leftovers import check_run_id

    if args.run is not None:
        check_run_id(args.run)
    configs = [load_config(Path(path)) for path in args.config]
    return clean(args.run, configs, force=args.force, dry_run=args.dry_run)


def clean(run_id: str | None, configs: list[Config], *, force: bool, dry_run: bool) -> int:
    from bench.leftovers import clean_leftovers, live_runs
    from bench.terminal import out, plain

    live = set() if force else live_runs()
    if run_id is not None:
        live &= {run_id}
    found = clean_leftovers(run_id, dry_run, configs, force=force, live=live)
    verb = "would remove" if dry_run else "removed"
    for line in found:  # one line each, however long (32-digit run ids, socket paths)
        out.print(f"{verb} {plain(line)}", highlight=False, soft_wrap=True)
    for owner in sorted(live):
        out.print(f"left run {plain(owner)} alone: it is still running (its lock is held); "
                  "--force to clean it anyway", highlight=False, soft_wrap=True)
    # what is there after the removal, looked for again: never "nothing left" while it is
    left = [] if dry_run else clean_leftovers(run_id, True, configs, force=force, live=live)
    for line in left:
        out.print(f"still there: {plain(line)}", highlight=False, soft_wrap=True)
    if left:
        return 1
    out.print(f"{len(found)} leftover(s) {verb}" if found else "nothing left behind")
    return 0
