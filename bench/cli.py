"""The entry point: the only place that reads the environment and turns errors into exit codes.

The parser is built from the registry of command modules (bench.commands); each command's
module turns its arguments into a typed call. A BenchError becomes one line on stderr and
its exit code; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import cast

import bench
from bench.commands import COMMANDS, Command, Environment
from bench.results.text import visible
from bench.terminal import err
from foundation.errors import BenchError


def default_store_path() -> Path:
    """The per-user history store: $XDG_DATA_HOME/bench/history.sqlite (~/.local/share)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "bench" / "history.sqlite"


def environment() -> Environment:
    """What the commands take from the environment, read here only."""
    return Environment(store=os.environ.get("BENCH_STORE"), default_store=default_store_path())


def command_module(name: str) -> Command:
    return cast(Command, importlib.import_module(COMMANDS[name]))


def add_command(sub: argparse._SubParsersAction[argparse.ArgumentParser],
                command: Command) -> None:
    """The command's parser: its name, one-line help, page (description, epilog) and arguments."""
    epilog: str | None = getattr(command, "EPILOG", None)
    parser = sub.add_parser(
        command.NAME, help=command.HELP, description=getattr(command, "DESCRIPTION", command.HELP),
        epilog=epilog, formatter_class=(argparse.RawDescriptionHelpFormatter if epilog
                                        else argparse.HelpFormatter))
    command.add_arguments(parser)
    parser.set_defaults(main=command.main)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """bench's parser; given the command asked for, only its module is imported (`bench
    --help` and an unknown command import them all)."""
    parser = argparse.ArgumentParser(
        prog="bench", description="Measure what isolation costs: boot time, memory overhead and "
        "syscall latency of the same probe as a process, in namespaces, in Docker and in a VM.")
    parser.add_argument("--version", action="version", version=f"bench {bench.__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in [command] if command in COMMANDS else COMMANDS:
        add_command(sub, command_module(name))
    return parser


def reader_gone() -> int:
    """stdout's reader left (`bench history list | head`): end quietly, with what a shell
    reports for a program SIGPIPE killed (bench ignores SIGPIPE: a daemon's socket closing
    under a run must not kill it before its teardown)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())  # the interpreter's last flush finds no pipe
    os.close(devnull)
    return 128 + signal.SIGPIPE


def stdout_is_devnull() -> bool:
    """Whether rich has put /dev/null under stdout: what it does when the pipe breaks, before
    it raises SystemExit(1)."""
    try:
        return os.path.samestat(os.fstat(sys.stdout.fileno()), os.stat(os.devnull))
    except (OSError, ValueError):
        return False


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(words[0] if words else None).parse_args(words)
    args.environment = environment()
    try:
        code: int = args.main(args)
        sys.stdout.flush()  # a reader that left is found here, not in the interpreter's exit
    except BrokenPipeError:
        return reader_gone()
    except SystemExit as stop:  # rich's way out of a broken pipe (no command calls sys.exit)
        if stop.code == 1 and stdout_is_devnull():
            return reader_gone()
        raise
    except BenchError as error:
        err.print(f"bench: {visible(str(error))}", markup=False, highlight=False, soft_wrap=True)
        return error.exit_code
    except KeyboardInterrupt:  # a command with nothing to tear down: one line, not a traceback
        err.print("bench: interrupted", markup=False, highlight=False)
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
