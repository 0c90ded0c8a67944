"""The run's lifecycle: a config's plan, run and stored in a fresh results directory (or a
stopped run resumed), then its report, summary and, with a baseline, its gate. The command
line of `bench run` is bench/commands/run.py; `bench verify` runs its cells through here too.

The whole command runs under bench.interrupts: SIGINT, SIGTERM or SIGHUP at any point (the
compile, a cell, the report) ends in teardown, a manifest that says what happened, a
report of what was kept, and exit 128+N. The results directory is locked from its creation
(or a --resume's start) to the end, so a second writer is refused in one line.
"""

from __future__ import annotations

import secrets
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bench.cache import default_cache_dir as default_cache_dir
from bench.cache.ledger import HeldLedger, hold
from bench.config import Config, load_config
from bench.fingerprint import git_branch, git_commit, host_fingerprint
from bench.history import DEFAULT, NO_STORE, StoreChoice
from bench.history.actions import record_after_run
from bench.interrupts import handling_signals, shielded, signal_of
from bench.leftovers import clean_leftovers
from bench.plan import Cell, make_plan, remaining_cells
from bench.results.lock import DirectoryLock
from bench.results.manifest import Kind, Manifest, RunConfig, read_manifest
from bench.results.run import Run, load_run
from bench.results.writer import RunWriter
from bench.runlog import run_log
from bench.runner import (
    BeforeCell,
    InstanceHook,
    Runner,
    check_available,
    check_commands,
    endpoints,
    scratch_dirs,
    without,
)
from bench.storm import check_storms
from bench.terminal import err, out, plain, print_summary
from bench.workload.bundle import Bundle, build_bundle
from bench.workload.package import PreparedWorkload, prepare_workloads, write_tree_manifests
from foundation.errors import BenchError, ConfigError, Interrupted, ResultsError
from runtimes.base import AnyDriver

AfterCell = Callable[[Cell, AnyDriver, str | None], None]
RUN_ID_BYTES = 16  # 128 bits: two runs of a shared store never meet (6 hex digits did, 3 % by 1,000)


def new_run_id() -> str:
    """A fresh run id: 32 hex digits (runs made before this had 6; both keep working)."""
    return secrets.token_hex(RUN_ID_BYTES)


def results_dir_for(output: str, config_path: Path, run_id: str, kind: str = "") -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    parent = Path(output)
    if not parent.is_absolute():
        parent = Path.cwd() / parent
    return parent / f"{stamp}-{config_path.stem}-{kind + '-' if kind else ''}{run_id}"


@dataclass(frozen=True)
class RunOptions:
    """What `bench run` asks of a run beyond its config: the store it is recorded in (--store,
    else $BENCH_STORE; else the config's), a baseline to gate it against, and whether every
    external action is shown as it happens, and whether a run that cannot be recorded fails."""

    store: StoreChoice
    baseline: Path | None = None
    verbose: bool = False
    store_required: bool = False  # fail when the run cannot be recorded (bench fleet asks it)


def history_store(store: StoreChoice, config: Config) -> str | None:
    """Where the run is recorded: --store, $BENCH_STORE (both in `store.named`, the latter
    read by bench.cli), the config's history.store, else the per-user default store; `none`
    records nowhere."""
    configured = config.history.store if config.history else None
    named = store.named or configured or DEFAULT
    return None if named == NO_STORE else named


def under_signals(command: Callable[[], int]) -> int:
    """A command (bench run, bench verify) under bench.interrupts from its first step: a
    signal before the run existed or after it ended is one Interrupted line too."""
    with handling_signals():
        try:
            return command()
        except KeyboardInterrupt as stop:  # before a run existed, or after it ended
            signum = signal_of(stop)
            raise Interrupted(f"interrupted by {signal.Signals(signum).name}", signum) from None


def new_run(config_path: Path | None, output: Path | None, options: RunOptions) -> int:
    if not config_path:
        raise ConfigError("bench run needs a CONFIG (or --resume DIR)")
    run = create_run(config_path, output)
    return execute(run.config, run.writer, run.bundle, run.cells, options, run.start,
                   run.workloads)


@dataclass(frozen=True)
class NewRun:
    """A run about to start: the runtimes that can run here, the plan, the probe and the
    workloads' trees, its freshly created (and locked) results directory, its first line."""

    config: Config
    run_id: str
    cells: list[Cell]
    bundle: Bundle
    writer: RunWriter
    workloads: dict[str, PreparedWorkload]
    start: str


def create_run(config_path: Path, output: Path | None, kind: Kind = "run") -> NewRun:
    """Load and check the config, plan it, build the probe and the workloads, and create the
    results directory (<time>-<config>-[<kind>-]<run id> unless `output` names it) with the
    run's manifest. Shared by `bench run` and `bench verify` (kind "verify")."""
    config = load_config(config_path)
    skipped = check_available(config)  # once per runtime per run, before anything is created
    for name, reason in skipped.items():
        err.print(f"[yellow]skipping runtime {plain(name)}:[/] {plain(reason)}", highlight=False)
    runnable = without(config, skipped)
    check_storms(runnable, str(config_path))  # an N whose guests cannot fit: refused now
    run_id = new_run_id()
    workloads = command_workloads(runnable, run_id)
    cells = make_plan(runnable)
    path = output or results_dir_for(config.output, config_path, run_id,
                                     "" if kind == "run" else kind)
    bundle = build_bundle(default_cache_dir())
    folder = config_path.resolve().parent
    manifest = Manifest(
        run_id=run_id, kind=kind, created=time.time(), config_path=str(config_path),
        config=RunConfig(config.model_dump(mode="json")), config_commit=git_commit(folder),
        config_branch=git_branch(folder), cells=len(cells),
        recorded_cells=sum(not c.warmup for c in cells), bundle=bundle.digest,
        host=host_fingerprint(), endpoints=endpoints(config), skipped=skipped,
        workloads={name: item.summary() for name, item in workloads.items()})
    writer = RunWriter.create(path, manifest)
    hold_ledger(run_id, workloads, bundle, path)
    write_tree_manifests(path, workloads)
    start = f"run {run_id}: {len(cells)} cells ({manifest.recorded_cells} recorded) -> {path}"
    return NewRun(runnable, run_id, cells, bundle, writer, workloads, start)


def hold_ledger(run_id: str, workloads: dict[str, PreparedWorkload], bundle: Bundle,
                results: Path) -> HeldLedger:
    """The run's ledger in the cache, held until bench exits (bench.cache.ledger): what
    `bench cache prune` must keep, and where `bench clean` finds a killed run's scratch."""
    from runtimes.docker.image import probe_digest

    return hold(default_cache_dir(), run_id, trees=[w.tree.digest for w in workloads.values()],
                probe=bundle.probe, probe_digest=probe_digest(bundle.probe),
                scratch_dirs=scratch_dirs(workloads), results=results)


def command_workloads(config: Config, run_id: str) -> dict[str, PreparedWorkload]:
    """Each command workload's tree, built or found in the cache, and checked against the
    runtimes it runs on: bad input stops the run here (exit 2), before anything exists."""
    workloads = prepare_workloads(config.workloads, default_cache_dir(), run_id)
    check_commands(config, workloads)
    return workloads


def resume_run(path: Path, config_given: Path | None, options: RunOptions) -> int:
    """Finish a stopped run, under its directory's lock (a run still going is refused), after
    sweeping what the stopped attempt left; this attempt's instances get new names. The
    config is the one the run names unless `config_given`."""
    lock = DirectoryLock.acquire(path)
    try:
        manifest = read_manifest(path)
        if not manifest.run_id:
            raise ResultsError(f"{path}: the manifest has no run id; it cannot be resumed")
        run_id = manifest.run_id
        config_path = config_given or Path(manifest.config_path or "")
        config = load_config(config_path)
        runnable = without(config, dict(manifest.skipped))  # the plan the run started with
        check_available(runnable, may_skip=False)
        check_storms(runnable, str(config_path))
        _, cells = remaining_cells(path, config, runnable)
        swept = clean_leftovers(run_id, False, [config], force=True)
        workloads = command_workloads(runnable, run_id)
        bundle = build_bundle(default_cache_dir())
        hold_ledger(run_id, workloads, bundle, path)
        writer = RunWriter.reopen(path, lock)
    except BaseException:
        lock.release()
        raise
    writer.resume(swept)
    start = (f"resuming run {run_id}: {sum(not c.warmup for c in cells)} cells left"
             f"{f' ({len(swept)} leftovers of the stopped attempt removed)' if swept else ''}"
             f" -> {path}")
    return execute(runnable, writer, bundle, cells, options, start, workloads)


@dataclass(frozen=True)
class RunHooks:
    """What a command adds to a run of cells (bench verify: the references beside them)."""

    on_instance: InstanceHook | None = None  # while an instance is up, after bench read it
    after_cell: AfterCell | None = None  # after each cell, outside it
    after_run: Callable[[], None] | None = None  # once the cells ran: the run completes after it
    before_cell: BeforeCell | None = None  # before each cell and its pause, outside it


@dataclass(frozen=True)
class Finished:
    """What a run of cells leaves: how many cells failed, and the run as it was loaded, once,
    after it ended (or why it could not be read back)."""

    failed: int
    loaded: Run | BenchError

    def run(self) -> Run:
        if isinstance(self.loaded, BenchError):
            raise self.loaded
        return self.loaded


def execute(config: Config, writer: RunWriter, bundle: Bundle, cells: list[Cell],
            options: RunOptions, start: str, workloads: dict[str, PreparedWorkload]) -> int:
    """Run the cells into the results directory, then hand the run, loaded once, to the
    summary, the history store and the gate against the baseline (the report had it first)."""
    finished = run_cells(config, writer, bundle, cells, start, workloads, options.verbose)
    run = finished.run()
    print_summary(run, out)
    history = history_store(options.store, config)
    required = bool(config.history and config.history.required) or options.store_required
    record_code = record_after_run(run, history, options.store.default_path,
                                   required) if history else 0
    gate_code = gate_against(run, options.baseline, config) if options.baseline else 0
    if gate_code or record_code:
        return gate_code or record_code
    if finished.failed:
        err.print(f"[yellow]{finished.failed} cell(s) failed[/]; their reasons are in "
                  f"{plain(str(writer.path))}/cells.jsonl")
        return 3
    return 0


def run_cells(config: Config, writer: RunWriter, bundle: Bundle, cells: list[Cell], start: str,
              workloads: dict[str, PreparedWorkload], verbose: bool,
              hooks: RunHooks | None = None) -> Finished:
    """Run the cells into the results directory (and the hooks beside them). Whatever
    happens, the manifest ends in a final state, then the run is loaded once and its report
    written (of what was kept, when it stopped early), then the lock released. Shared by
    `bench run` and `bench verify`."""
    hooks = hooks or RunHooks()
    try:
        err.print(plain(start), highlight=False, soft_wrap=True)  # one line, however long
        with run_log(writer.path, verbose=verbose) as log:
            runner = Runner(config, writer, bundle, str(writer.manifest.run_id),
                            default_cache_dir(), log, workloads, hooks.on_instance,
                            before_cell=hooks.before_cell)
            failed = run_with_progress(runner, cells, hooks.after_cell, hooks.after_run)
    except KeyboardInterrupt as stop:  # before the runner took over: it had nothing to tear down
        signum = signal_of(stop)
        with shielded():
            if writer.manifest.status == "running":  # a signal just after it completed: kept
                writer.interrupt(signal.Signals(signum).name)
        raise Interrupted(f"interrupted by {signal.Signals(signum).name}: nothing was running; "
                          f"{writer.path} kept", signum) from None
    finally:
        with shielded():
            loaded = load_finished(writer.path)
            write_run_report(loaded)
            writer.close()
    return Finished(failed, loaded)


def load_finished(path: Path) -> Run | BenchError:
    """The run as it ended, or why it cannot be read (its report says so; `bench run` then
    exits with it, as the summary would)."""
    try:
        return load_run(path)
    except BenchError as error:
        return error


def write_run_report(loaded: Run | BenchError) -> None:
    from reports.html import write_report

    if isinstance(loaded, BenchError):
        err.print(f"[yellow]no report written:[/] {plain(str(loaded))}")
        return
    try:
        err.print(f"report: {plain(str(write_report([loaded], loaded.path / 'report.html')))}")
    except BenchError as error:
        err.print(f"[yellow]no report written:[/] {plain(str(error))}")


def gate_against(candidate: Run, baseline: Path, config: Config) -> int:
    """`bench run --baseline DIR`: gate the run just made with the config's gate section."""
    from bench.gate.evaluate import exit_code, gate_run
    from bench.gate.output import print_table

    result = gate_run(candidate, baseline, config.gate)
    print_table(result, out)
    return exit_code(result)


def run_with_progress(runner: Runner, cells: list[Cell], after_cell: AfterCell | None = None,
                      after_cells: Callable[[], None] | None = None) -> int:
    """Runs the cells with a progress bar; `after_cell` runs after each cell, outside it,
    with the cell's driver; `after_cells` once they all ran (Runner.run)."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    # redrawn only when a cell ends: an auto-refresh thread would wake ten times a second
    # on this host while an instance is being timed
    with Progress(*columns, console=err, transient=False, auto_refresh=False) as progress:
        task = progress.add_task("preparing", total=len(cells))

        def on_prepare(name: str) -> None:
            progress.update(task, description=plain(f"preparing {name}"), refresh=True)

        def on_cell(cell: Cell, error: str | None) -> None:
            label = "warm-up " if cell.warmup else ""
            progress.update(task, advance=1, description=plain(f"{label}{cell.key}"), refresh=True)
            if error:
                progress.console.print(f"[red]cell {plain(cell.key)} failed:[/] {plain(error)}")
            if after_cell is not None:
                after_cell(cell, runner.drivers[cell.runtime], error)

        return runner.run(cells, on_cell, on_prepare, after_cells)

