"""`bench cache list|prune`: the actions are bench/cache/actions.py."""

from __future__ import annotations

import argparse

from bench.cache import default_cache_dir

NAME = "cache"
HELP = "the build cache and bench's images: list them, or prune old ones"
DESCRIPTION = HELP + (f" (cache: {default_cache_dir()}, $XDG_CACHE_HOME/bench; images: "
                      "bench-workload and bench-probe in docker and podman)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="cache_command", required=True, metavar="ACTION")
    listed = actions.add_parser("list", help="entries and images, their size, age and user")
    listed.add_argument("--json", action="store_true", help="print a JSON object")
    pruned = actions.add_parser("prune", help="remove entries and images no live run uses")
    which = pruned.add_mutually_exclusive_group(required=True)
    which.add_argument("--older-than", type=float, metavar="DAYS",
                       help="only what was last used (an image: built) more than DAYS ago")
    which.add_argument("--unused", action="store_true", help="everything no live run uses")
    pruned.add_argument("--no-images", action="store_true", help="leave images alone")
    pruned.add_argument("--dry-run", action="store_true", help="list, remove nothing")


def main(args: argparse.Namespace) -> int:
    from bench.cache.actions import PruneRequest, list_cache, prune_cache

    if args.cache_command == "list":
        return list_cache(args.json)
    return prune_cache(PruneRequest(None if args.unused else args.older_than,
                                    not args.no_images, args.dry_run))
