"""`bench run`: a config's plan, run and stored in a fresh results directory (or a stopped
run resumed), then its report, summary and, with --baseline, its gate."""

from __future__ import annotations

import argparse
import os
import secrets
import time
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bench.config import Config, load_config
from bench.errors import ConfigError
from bench.fingerprint import git_commit, host_fingerprint
from bench.plan import Cell, make_plan, remaining_cells
from bench.results.manifest import read_manifest
from bench.results.store import RunStore
from bench.runlog import run_log
from bench.runner import Runner, check_available, manifest_for
from bench.terminal import err, out, print_summary
from bench.workload.bundle import Bundle, build_bundle
from runtimes.errors import BenchError


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
    check_available(config)  # once per runtime per run, before anything is created
    run_id = secrets.token_hex(3)
    cells = make_plan(config)
    path = Path(args.output) if args.output else results_dir_for(config.output, config_path, run_id)
    bundle = build_bundle(default_cache_dir())
    manifest = manifest_for(config, config_path, run_id, cells, host_fingerprint(),
                            git_commit(config_path.resolve().parent))
    store = RunStore.create(path, {**manifest, "bundle": bundle.digest})
    err.print(f"run {run_id}: {len(cells)} cells ({manifest['recorded_cells']} recorded) -> {path}")
    return execute(config, store, bundle, cells, args)


def resume_run(args: argparse.Namespace) -> int:
    path = Path(args.resume)
    manifest = read_manifest(path)
    config_path = Path(args.config or manifest["config_path"])
    config = load_config(config_path)
    check_available(config)
    manifest, cells = remaining_cells(path, config)
    bundle = build_bundle(default_cache_dir())
    store = RunStore.reopen(path)
    store.update_manifest(status="running", resumed=[*manifest.get("resumed", []), time.time()])
    err.print(f"resuming run {manifest['run_id']}: {sum(not c.warmup for c in cells)} cells left -> {path}")
    return execute(config, store, bundle, cells, args)


def execute(config: Config, store: RunStore, bundle: Bundle, cells: list[Cell],
            args: argparse.Namespace) -> int:
    baseline = args.baseline
    try:
        with run_log(store.path, verbose=args.verbose) as log:
            runner = Runner(config, store, bundle, store.manifest["run_id"], default_cache_dir(),
                            log)
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




def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Adds `run` to bench's subcommands."""
    help_text = "run a config's plan and store the results"
    parser = sub.add_parser("run", help=help_text, description=help_text)
    parser.set_defaults(handler=cmd_run)
    parser.add_argument("config", nargs="?", help="YAML config (see configs/quick.yaml)")
    parser.add_argument("--resume", metavar="DIR", help="finish the cells of a stopped run "
                        "(refused if the config changed)")
    parser.add_argument("-o", "--output", help="results directory to create "
                        "(default: <config output>/<time>-<config>-<run id>)")
    parser.add_argument("--baseline", metavar="DIR", help="after the run, gate it against "
                        "this results directory with the config's gate section (exit 1 "
                        "on a regression)")
    parser.add_argument("-v", "--verbose", action="store_true", help="show every external "
                        "action (commands, API calls, domain XML, cgroup writes) as it happens; "
                        "they are always written to run.log in the results directory")
