"""The face of bench: one module per subcommand, as asv keeps them.

Each module here has a NAME, a one-line HELP (and, where its page says more, a DESCRIPTION
and an EPILOG), `add_arguments(parser)`, and `main(args) -> int`, which turns the parsed
arguments into a plain typed call into the layer that does the work: `argparse.Namespace`
stops here. Adding a command is a new module and one line in COMMANDS. bench.cli builds the
parser from COMMANDS and imports only the module of the command asked for (`bench --help`
and an unknown command import them all); nothing but bench.cli imports this package, and
this file imports nothing heavy.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

# Every subcommand and the module that holds it, in the order `bench --help` lists them.
COMMANDS: dict[str, str] = {
    "run": "bench.commands.run",
    "gate": "bench.commands.gate",
    "calibrate": "bench.commands.calibrate",
    "export": "bench.commands.export",
    "report": "bench.commands.report",
    "verify": "bench.commands.verify",
    "history": "bench.commands.history",
    "trend": "bench.commands.trend",
    "cache": "bench.commands.cache",
    "fleet": "bench.commands.fleet",
    "summary": "bench.commands.summary",
    "runtimes": "bench.commands.runtimes",
    "doctor": "bench.commands.doctor",
    "clean": "bench.commands.clean",
}


class Command(Protocol):
    """What a command module holds (a module is checked against this by mypy)."""

    NAME: str
    HELP: str

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def main(self, args: argparse.Namespace) -> int: ...


@dataclass(frozen=True)
class Environment:
    """What bench.cli read from the environment, the only place that reads it: the store
    $BENCH_STORE names, and the per-user default store ($XDG_DATA_HOME/bench/history.sqlite)."""

    store: str | None
    default_store: Path
