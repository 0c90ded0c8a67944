"""The command line: the only place that reads the environment and turns errors into exit codes.

A BenchError becomes one line on stderr and its exit code; anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import bench
from bench.results.text import visible
from bench.terminal import err, out, plain, print_summary, warn_invalid
from foundation.errors import BenchError

# The modules that add subcommands, and the subcommands each adds. Only the module of the
# command asked for is imported (`bench history list` need not load pydantic, numpy and
# the runner: it answers in well under a second); `bench --help` and an unknown command
# import them all.
COMMAND_MODULES: list[tuple[str, str, tuple[str, ...]]] = [
    ("bench.run_command", "add_parser", ("run",)),
    ("bench.gate.command", "add_parsers", ("gate", "calibrate")),
    ("bench.export", "add_parser", ("export",)),
    ("bench.report_command", "add_parser", ("report",)),
    ("bench.verify.command", "add_parser", ("verify",)),
    ("bench.history.command", "add_parsers", ("history",)),
    ("reports.trend", "add_parser", ("trend",)),
    ("bench.cache.command", "add_parser", ("cache",)),
]


def default_store_path() -> Path:
    """The per-user history store: $XDG_DATA_HOME/bench/history.sqlite (~/.local/share)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "bench" / "history.sqlite"


def cmd_summary(args: argparse.Namespace) -> int:
    from bench.results.run import load_run
    from bench.results.store import json_safe
    from bench.results.summary import run_summary_json

    if args.json:  # strict JSON: a statistic that came out infinite is null, never Infinity
        run = load_run(Path(args.results))
        print(json.dumps(json_safe(run_summary_json(run)), indent=2, allow_nan=False))
        warn_invalid(run)
    else:
        print_summary(Path(args.results), out)
    return 0


def cmd_runtimes(args: argparse.Namespace) -> int:
    from bench.doctor import print_runtimes
    print_runtimes(out)
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from bench.doctor import print_doctor
    return print_doctor(out)


def cmd_clean(args: argparse.Namespace) -> int:
    from bench.config import load_config
    from bench.doctor import check_run_id, clean_leftovers, live_runs

    if args.run is not None:
        check_run_id(args.run)
    configs = [load_config(Path(path)) for path in args.config]
    live = set() if args.force else live_runs()
    if args.run is not None:
        live &= {args.run}
    found = clean_leftovers(args.run, args.dry_run, configs, force=args.force, live=live)
    verb = "would remove" if args.dry_run else "removed"
    for line in found:  # one line each, however long (32-digit run ids, socket paths)
        out.print(f"{verb} {plain(line)}", highlight=False, soft_wrap=True)
    for run_id in sorted(live):
        out.print(f"left run {plain(run_id)} alone: it is still running (its lock is held); "
                  "--force to clean it anyway", highlight=False, soft_wrap=True)
    # what is there after the removal, looked for again: never "nothing left" while it is
    left = [] if args.dry_run else clean_leftovers(args.run, True, configs, force=args.force,
                                                   live=live)
    for line in left:
        out.print(f"still there: {plain(line)}", highlight=False, soft_wrap=True)
    if left:
        return 1
    out.print(f"{len(found)} leftover(s) {verb}" if found else "nothing left behind")
    return 0


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """bench's parser; given the command asked for, only the module that adds it is imported
    (its sibling commands in that module come along)."""
    parser = argparse.ArgumentParser(
        prog="bench", description="Measure what isolation costs: boot time, memory overhead and "
        "syscall latency of the same probe as a process, in namespaces, in Docker and in a VM.")
    parser.add_argument("--version", action="version", version=f"bench {bench.__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    wanted = [entry for entry in COMMAND_MODULES if command in entry[2]] or COMMAND_MODULES
    for module, function, _ in wanted:
        getattr(importlib.import_module(module), function)(sub)
    commands: list[tuple[str, str, Callable[[argparse.Namespace], int]]] = [
        ("summary", "median, percentiles and 95%% CI per runtime, workload and metric", cmd_summary),
        ("runtimes", "list the drivers and whether each is available here", cmd_runtimes),
        ("doctor", "check the host: cgroups, namespaces, compiler, daemons, accel", cmd_doctor),
        ("clean", "remove what killed runs left behind (containers, domains, cgroups)", cmd_clean),
    ]
    parsers = {}
    for name, help_text, handler in commands:
        parsers[name] = sub.add_parser(name, help=help_text, description=help_text)
        parsers[name].set_defaults(handler=handler)
    parsers["summary"].add_argument("results", help="a results directory")
    parsers["summary"].add_argument("--json", action="store_true",
                                    help="print the summary contract as a JSON array")
    parsers["clean"].add_argument("--run", help="only this run id (default: every bench run)")
    parsers["clean"].add_argument("--force", action="store_true", help="clean runs that are "
                                  "still going too (by default a run whose lock is held is left "
                                  "alone)")
    parsers["clean"].add_argument("--dry-run", action="store_true", help="list, remove nothing")
    parsers["clean"].add_argument("--config", action="append", default=[], metavar="CONFIG",
                                  help="also sweep where this config's runtimes point (a docker "
                                  "endpoint, a libvirt URI); repeatable")
    parser.set_defaults(env_store=os.environ.get("BENCH_STORE"),
                        default_store_path=str(default_store_path()))
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
    try:
        code: int = args.handler(args)
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
