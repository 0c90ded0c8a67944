"""What several commands share: the history store option and the history filters, and the
typed values they become (a StoreChoice, Filters, paths)."""

from __future__ import annotations

import argparse
import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from bench.commands import Environment
from bench.history import StoreChoice
from foundation.errors import ConfigError

if TYPE_CHECKING:  # SQLAlchemy loads only for the commands that open a store
    from bench.history.queries import Filters

STORE_HELP = ("history store: `default` (the per-user SQLite file), a SQLite path, or a URL "
              "(postgresql://USER@HOST/DB); default: $BENCH_STORE, else `default`")


def environment_of(args: argparse.Namespace) -> Environment:
    """What bench.cli read from the environment, handed to every command with its arguments."""
    environment: Environment = args.environment
    return environment


def store_choice(args: argparse.Namespace) -> StoreChoice:
    """The store named by --store, else $BENCH_STORE, else the per-user default file."""
    environment = environment_of(args)
    return StoreChoice(args.store or environment.store, environment.default_store)


def path_or_none(text: str | None) -> Path | None:
    return Path(text) if text else None


def add_store_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", metavar="URL", help=STORE_HELP)


def add_filters(parser: argparse.ArgumentParser, rows: bool = True) -> None:
    parser.add_argument("--host", help="a host name, or the start of a host fingerprint hash")
    parser.add_argument("--config", help="a config name, or the start of a config hash")
    parser.add_argument("--branch", help="git branch of the config's checkout (* and ? match)")
    parser.add_argument("--since", metavar="DATE", help="runs started on or after DATE "
                        "(ISO 8601: 2026-12-01 or 2026-12-01T14:00; UTC unless it says)")
    parser.add_argument("--until", metavar="DATE", help="runs started before DATE")
    if rows:
        parser.add_argument("--runtime", help="runtime name (* and ? match)")
        parser.add_argument("--workload", help="workload name (* and ? match)")
        parser.add_argument("--metric", help="metric, e.g. 'syscall.*' (* and ? match)")


def parse_date(text: str | None, option: str) -> float | None:
    if text is None:
        return None
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"{option} {text!r}: expected an ISO 8601 date, e.g. 2026-12-01") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp()


def filters_from(args: argparse.Namespace) -> Filters:
    from bench.history.queries import Filters

    return Filters(host=args.host, config=args.config, branch=args.branch,
                   runtime=getattr(args, "runtime", None), workload=getattr(args, "workload", None),
                   metric=getattr(args, "metric", None), since=parse_date(args.since, "--since"),
                   until=parse_date(args.until, "--until"))
