"""The command line: the only place that reads the environment and turns errors into exit codes.

A BenchError becomes one line on stderr and its exit code; anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

import bench
from bench.config import Config, load_config
from bench.errors import ConfigError
from bench.fingerprint import git_commit, host_fingerprint
from bench.gate.command import add_parsers as add_gate_parsers
from bench.plan import Cell, make_plan, remaining_cells
from bench.report_command import add_parser as add_report_parser
from bench.results.manifest import read_manifest
from bench.results.store import RunStore
from bench.runner import Runner, check_available, manifest_for
from bench.workload.bundle import Bundle, build_bundle
from runtimes.errors import BenchError

err = Console(stderr=True)
out = Console(width=None if sys.stdout.isatty() else 150)


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bench"


def results_dir_for(output: str, config_path: Path, run_id: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    parent = Path(output)
    if not parent.is_absolute():
        parent = Path.cwd() / parent
    return parent / f"{stamp}-{config_path.stem}-{run_id}"


def cmd_run(args: argparse.Namespace) -> int:
    if args.resume:
        return resume_run(args)
    if not args.config:
        raise ConfigError("bench run needs a CONFIG (or --resume DIR)")
    config_path = Path(args.config)
    config = load_config(config_path)
    check_available(config)
    run_id = secrets.token_hex(3)
    cells = make_plan(config)
    path = Path(args.output) if args.output else results_dir_for(config.output, config_path, run_id)
    bundle = build_bundle(default_cache_dir())
    manifest = manifest_for(config, config_path, run_id, cells, host_fingerprint(),
                            git_commit(config_path.resolve().parent))
    store = RunStore.create(path, {**manifest, "bundle": bundle.digest})
    err.print(f"run {run_id}: {len(cells)} cells ({manifest['recorded_cells']} recorded) -> {path}")
    return execute(config, store, bundle, cells, args.baseline)


def resume_run(args: argparse.Namespace) -> int:
    path = Path(args.resume)
    manifest = read_manifest(path)
    config_path = Path(args.config or manifest["config_path"])
    config = load_config(config_path)
    manifest, cells = remaining_cells(path, config)
    bundle = build_bundle(default_cache_dir())
    store = RunStore.reopen(path)
    store.update_manifest(status="running", resumed=[*manifest.get("resumed", []), time.time()])
    err.print(f"resuming run {manifest['run_id']}: {sum(not c.warmup for c in cells)} cells left -> {path}")
    return execute(config, store, bundle, cells, args.baseline)


def execute(config: Config, store: RunStore, bundle: Bundle, cells: list[Cell],
            baseline: str | None) -> int:
    runner = Runner(config, store, bundle, store.manifest["run_id"], default_cache_dir())
    try:
        failed = run_with_progress(runner, cells)
    finally:
        store.close()
        write_run_report(store.path)  # a partial one too, when the run stopped early
    print_summary(store.path, out)
    gate_code = gate_against(store.path, Path(baseline), config) if baseline else 0
    if gate_code:
        return gate_code
    if failed:
        err.print(f"[yellow]{failed} cell(s) failed[/]; their reasons are in {store.path}/cells.jsonl")
        return 3
    return 0


def write_run_report(path: Path) -> None:
    from reports.html import write_report

    try:
        err.print(f"report: {write_report([path], path / 'report.html')}")
    except BenchError as error:
        err.print(f"[yellow]no report written:[/] {error}")


def gate_against(candidate: Path, baseline: Path, config: Config) -> int:
    """`bench run --baseline DIR`: gate the run just made with the config's gate section."""
    from bench.gate.evaluate import exit_code, gate_run
    from bench.gate.output import print_table

    result = gate_run(candidate, baseline, config.gate)
    print_table(result, out)
    return exit_code(result)


def run_with_progress(runner: Runner, cells: list[Cell]) -> int:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=err, transient=False) as progress:
        task = progress.add_task("preparing", total=len(cells))

        def on_prepare(name: str) -> None:
            progress.update(task, description=f"preparing {name}")

        def on_cell(cell: Cell, error: str | None) -> None:
            label = "warm-up " if cell.warmup else ""
            progress.update(task, advance=1, description=f"{label}{cell.key}")
            if error:
                progress.console.print(f"[red]cell {cell.key} failed:[/] {error}")

        return runner.run(cells, on_cell, on_prepare)


def cmd_summary(args: argparse.Namespace) -> int:
    from bench.results.summary import summary_json

    if args.json:
        print(json.dumps(summary_json(Path(args.results)), indent=2))
    else:
        print_summary(Path(args.results), out)
    return 0


def print_summary(path: Path, console: Console) -> None:
    """The summary's headline rows as a terminal table (bench.results.summary.summary_table)."""
    from bench.results.summary import summary_json, summary_table

    console.print(summary_table(summary_json(path), f"summary of {path.name}"))


def cmd_runtimes(args: argparse.Namespace) -> int:
    from bench.doctor import print_runtimes
    print_runtimes(out)
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from bench.doctor import print_doctor
    return print_doctor(out)


def cmd_clean(args: argparse.Namespace) -> int:
    from bench.doctor import clean_leftovers
    found = clean_leftovers(args.run, args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    for line in found:
        out.print(f"{verb} {line}", highlight=False)
    out.print(f"{len(found)} leftover(s) {verb}" if found else "nothing left behind")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bench", description="Measure what isolation costs: boot time, memory overhead and "
        "syscall latency of the same probe as a process, in namespaces, in Docker and in a VM.")
    parser.add_argument("--version", action="version", version=f"bench {bench.__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands: list[tuple[str, str, Callable[[argparse.Namespace], int]]] = [
        ("run", "run a config's plan and store the results", cmd_run),
        ("summary", "median, percentiles and 95%% CI per runtime, workload and metric", cmd_summary),
        ("runtimes", "list the drivers and whether each is available here", cmd_runtimes),
        ("doctor", "check the host: cgroups, namespaces, compiler, daemons, accel", cmd_doctor),
        ("clean", "remove what killed runs left behind (containers, domains, cgroups)", cmd_clean),
    ]
    parsers = {}
    for name, help_text, handler in commands:
        parsers[name] = sub.add_parser(name, help=help_text, description=help_text)
        parsers[name].set_defaults(handler=handler)
    parsers["run"].add_argument("config", nargs="?", help="YAML config (see configs/quick.yaml)")
    parsers["run"].add_argument("--resume", metavar="DIR", help="finish the cells of a stopped run "
                                "(refused if the config changed)")
    parsers["run"].add_argument("-o", "--output", help="results directory to create "
                                "(default: <config output>/<time>-<config>-<run id>)")
    parsers["run"].add_argument("--baseline", metavar="DIR", help="after the run, gate it against "
                                "this results directory with the config's gate section (exit 1 "
                                "on a regression)")
    parsers["summary"].add_argument("results", help="a results directory")
    parsers["summary"].add_argument("--json", action="store_true",
                                    help="print the summary contract as a JSON array")
    parsers["clean"].add_argument("--run", help="only this run id (default: every bench run)")
    parsers["clean"].add_argument("--dry-run", action="store_true", help="list, remove nothing")
    add_gate_parsers(sub)
    add_report_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.handler(args)
    except BenchError as error:
        err.print(f"bench: {error}", markup=False, highlight=False, soft_wrap=True)
        return error.exit_code
    return code


if __name__ == "__main__":
    sys.exit(main())
