"""The runner: prepares every driver, walks the plan cell by cell, and stores what it measures.

A failed cell is recorded with its reason and the run goes on; a warm-up cell is run but
not recorded. A teardown that fails is recorded as a failed `stop.total` row while the
cell's other samples are kept. Ctrl-C, SIGTERM or SIGHUP (bench.interrupts) tears the
current instance down, keeps what was stored, and ends the run as interrupted with the
signal's name; a teardown, the sweep and the manifest's last word are never cut off by a
signal. Any other error that ends the run leaves the manifest `failed` with the reason,
never `running`.

The runner's scratch directory is locked for the run's life (bench.results.lock): that is
how `bench clean` knows this run is alive and leaves it alone.
"""

from __future__ import annotations

import logging
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.collectors import boot_samples, command_samples, memory_samples, stop_samples, syscall_samples
from bench.config import (
    Config,
    DensityWorkload,
    MemtouchWorkload,
    StormWorkload,
    SyscallWorkload,
    Workload,
)
from bench.density import density_samples
from bench.drivers import INSTALLED, Registry, driver_class
from bench.host_noise import cell_noise, host_load
from bench.interrupts import handling_signals, shielded, signal_of
from bench.plan import Cell
from bench.results.lock import DirectoryLock
from bench.results.sample import Sample
from bench.results.writer import RunWriter
from bench.runlog import RunLog
from bench.storm import storm_samples
from bench.tick import pause
from bench.workload.bundle import Bundle
from bench.workload.package import PreparedWorkload, check_runtime, packaged
from bench.workload.spec import CommandWorkload
from foundation.errors import BenchError, InstanceError, Interrupted, RuntimeUnavailable, TeardownError
from runtimes.base import AnyDriver, AnyInstance, ProbeCommand, RunContext, instance_prefix
from runtimes.commands import sweep_scratch

log = logging.getLogger("bench.runner")
# the folder of a results directory that holds each command cell's output
OUTPUT_DIR = "output"

# Called after each cell with (cell, error or None); the CLI draws progress with it.
CellHook = Callable[[Cell, str | None], None]
# Called with a measured instance, still running, before its teardown (`bench verify` reads
# its independent references there, at the same moment as the cell's own readings).
InstanceHook = Callable[[Cell, AnyDriver, AnyInstance, list[Sample]], None]
# before a cell, ahead of its pause (bench verify: its checked starts' lead-in)
BeforeCell = Callable[[Cell, AnyDriver], None]


def probe_command(workload: Workload, idle_seconds: float, name: str = "",
                  output: Path | None = None) -> ProbeCommand:
    """The probe invocation for a workload; idle instances outlive the cell timeout by design.
    A command's output goes to `output` as it comes."""
    idle = f"idle={int(idle_seconds) + 1}"
    match workload:
        case CommandWorkload():
            return ProbeCommand("command", (f"idle={int(idle_seconds + workload.timeout) + 1}",),
                                workload=name, output=output)
        case SyscallWorkload():
            return ProbeCommand("syscall", (f"batches={workload.batches}", f"calls={workload.calls}",
                                            f"warmup={workload.warmup}"))
        case MemtouchWorkload():
            return ProbeCommand("memtouch", (f"mib={workload.mib}", idle))
        case _:
            return ProbeCommand("ready", (idle,))


@dataclass
class CellResult:
    samples: list[Sample]
    error: str | None


def check_available(config: Config, may_skip: bool | None = None,
                    registry: Registry = INSTALLED) -> dict[str, str]:
    """Refuse a run at once (before anything is created) if a runtime cannot work here, or,
    where skipping is allowed (the config's skip_unavailable, unless may_skip says
    otherwise), return the runtimes to skip with the reason for each.

    Called once per run; each configured runtime is checked with its own options.
    """
    skip = config.skip_unavailable if may_skip is None else may_skip
    skipped: dict[str, str] = {}
    for name, spec in config.runtimes.items():
        reason = driver_class(spec.driver, registry=registry).unavailable_reason(spec.options)
        if reason and not skip:
            raise RuntimeUnavailable(f"runtime {name!r} ({spec.driver}) is unavailable: {reason}")
        if reason:
            skipped[name] = reason
    if len(skipped) == len(config.runtimes):
        raise RuntimeUnavailable(f"no runtime of this config can run here: {skipped}")
    if config.baseline in skipped:
        raise RuntimeUnavailable(f"the baseline runtime {config.baseline!r} is unavailable: "
                                 f"{skipped[config.baseline]}")
    return skipped


def without(config: Config, skipped: dict[str, str]) -> Config:
    """The config the run executes: its runtimes less the skipped ones."""
    if not skipped:
        return config
    kept = {name: spec for name, spec in config.runtimes.items() if name not in skipped}
    return config.model_copy(update={"runtimes": kept})


def scratch_dirs(workloads: dict[str, PreparedWorkload]) -> set[Path]:
    """The host directories a config named for its workloads' scratch storage."""
    return {item.workload.scratch.dir for item in workloads.values()
            if item.workload.scratch is not None and item.workload.scratch.dir is not None}


def check_commands(config: Config, workloads: dict[str, PreparedWorkload],
                   registry: Registry = INSTALLED) -> None:
    """Refuse a command workload paired with a runtime that cannot run it (exit 2), before
    anything is created."""
    for name, prepared in workloads.items():
        for runtime, spec in config.runtimes.items():
            if config.runs(name, runtime):
                check_runtime(prepared, runtime, spec.driver,
                              driver_class(spec.driver, registry=registry).runs_commands)


def open_drivers(config: Config, context: RunContext,
                 registry: Registry = INSTALLED) -> dict[str, AnyDriver]:
    """One driver per configured runtime, with its typed options."""
    return {name: driver_class(spec.driver, registry=registry)(name, spec.options, context)
            for name, spec in config.runtimes.items()}


def endpoints(config: Config, registry: Registry = INSTALLED) -> dict[str, str | None]:
    """What each runtime talks to (a daemon socket, a libvirt URI), for the manifest."""
    return {name: driver_class(spec.driver, registry=registry).endpoint(spec.options)
            for name, spec in config.runtimes.items()}


class Runner:
    def __init__(self, config: Config, writer: RunWriter, bundle: Bundle, run_id: str,
                 cache_dir: Path, run_log: RunLog | None = None,
                 workloads: dict[str, PreparedWorkload] | None = None,
                 on_instance: InstanceHook | None = None, registry: Registry = INSTALLED,
                 before_cell: BeforeCell | None = None) -> None:
        self.config = config
        self.registry = registry  # name -> driver class: the installed drivers unless told
        self.workloads = workloads or {}
        self.on_instance = on_instance
        self.before_cell = before_cell
        self.writer = writer
        self.bundle = bundle
        self.run_id = run_id
        self.cache_dir = cache_dir
        self.run_log = run_log
        self.drivers: dict[str, AnyDriver] = {}
        self.cell_line: int | None = None  # where the current cell's lines start in run.log
        self.work_dir: Path | None = None  # the run's scratch directory, while it runs

    def run(self, cells: list[Cell], on_cell: CellHook, on_prepare: Callable[[str], None],
            after_cells: Callable[[], None] | None = None) -> int:
        """Runs the cells, then `after_cells` once every instance is torn down (a command's
        last step: `bench verify` writes its checks); the run is complete only after both.
        Returns how many cells failed. Raises Interrupted on SIGINT, SIGTERM or SIGHUP, once
        everything is torn down and the manifest says so."""
        work_dir = Path(tempfile.mkdtemp(prefix=instance_prefix(self.run_id)))
        alive = DirectoryLock.acquire(work_dir)  # `bench clean` leaves a locked run alone
        context = RunContext(run_id=self.run_id, cache_dir=self.cache_dir, work_dir=work_dir,
                             attempt=self.attempt)
        self.work_dir = work_dir
        failed = 0
        try:
            with handling_signals():
                try:
                    with self.ended_by_errors():
                        self.prepare(context, on_prepare)
                        for cell in cells:
                            result = self.run_cell(cell)
                            failed += result.error is not None and not cell.warmup
                            on_cell(cell, result.error)
                finally:
                    with shielded():
                        self.close_drivers()
                        shutil.rmtree(work_dir, ignore_errors=True)
                if after_cells is not None:
                    with self.ended_by_errors():
                        after_cells()
        finally:
            alive.release()
        self.writer.complete(failed)
        return failed

    @contextmanager
    def ended_by_errors(self) -> Iterator[None]:
        """An error ends the run: a signal as interrupted (with its name), anything else as
        failed (with the reason), never left running."""
        try:
            yield
        except KeyboardInterrupt as stop:
            raise self.interrupted(signal_of(stop)) from None
        except BaseException as error:
            with shielded():
                log.exception("the run failed")
                self.writer.fail(str(error) or type(error).__name__)
            raise

    @property
    def attempt(self) -> int:
        """1 for a new run, then one more for each --resume (names carry it)."""
        return self.writer.manifest.attempt

    def interrupted(self, signum: int) -> Interrupted:
        """The manifest says which signal stopped the run; the error exits 128 + its number."""
        name = signal.Signals(signum).name
        with shielded():
            log.warning("%s: stopping; instances torn down", name)
            self.writer.interrupt(name)
        return Interrupted(f"interrupted by {name}: instances torn down, samples so far kept in "
                           f"{self.writer.path}", signum)

    def prepare(self, context: RunContext, on_prepare: Callable[[str], None]) -> None:
        self.drivers = open_drivers(self.config, context, self.registry)
        for name, driver in self.drivers.items():
            on_prepare(name)
            log.info("prepare %s (%s)", name, driver.kind)
            driver.prepare(self.bundle.probe)
            commands = packaged(self.workloads, name, context.work_dir / "scratch")
            if commands:
                log.info("package %s for %s", ", ".join(commands), name)
                driver.prepare_commands(commands)
        self.writer.record_drivers({name: {**driver.fingerprint(),
                                           "endpoint": driver.endpoint(driver.options)}
                                    for name, driver in self.drivers.items()})

    def close_drivers(self) -> None:
        for name, driver in self.drivers.items():
            try:
                driver.close()
            except BenchError as error:
                log.error("closing %s failed: %s", name, error)
        self.sweep()

    def sweep(self) -> None:
        """A safety net after the last cell: remove anything of this run a teardown could not
        (a daemon that was down at the time), where each configured runtime points, and say
        so in the manifest."""
        swept: list[str] = []
        seen: set[tuple[type[AnyDriver], str | None]] = set()
        for name, driver in self.drivers.items():
            where = (type(driver), driver.endpoint(driver.options))
            if where in seen:
                continue
            seen.add(where)
            try:
                swept += type(driver).clean(driver.options, self.run_id, dry_run=False)
            except BenchError as error:
                swept.append(f"{name}: could not clean ({error}); run `bench clean --run "
                             f"{self.run_id}` once it is back")
        for folder in scratch_dirs(self.workloads):  # the run's work directory goes anyway
            swept += sweep_scratch(folder, instance_prefix(self.run_id), dry_run=False)
        if swept:
            log.warning("swept after the run: %s", swept)
            self.writer.record_swept(swept)

    def run_cell(self, cell: Cell) -> CellResult:
        if self.before_cell is not None:
            self.before_cell(cell, self.drivers[cell.runtime])
        started = time.time()
        self.cell_line = self.run_log.next_line if self.run_log else None
        log.info("cell %d %s%s: start", cell.index, cell.key, " (warm-up)" if cell.warmup else "")
        # the previous teardown's wake (page freeing, RCU) passes; the cell starts at a random
        # phase of the kernel's tick (bench/tick.py)
        pause(self.config.pause)
        before = host_load()
        try:
            samples, error = self.measure(cell)
        except BenchError as exc:
            error = str(exc)
            samples = [self.failure(cell, "cell", error)]
        noise = cell_noise(before, host_load())
        if error:
            log.error("cell %d %s failed: %s", cell.index, cell.key, error)
        if not cell.warmup:
            refused = self.writer.append(samples)  # a value that breaks a rule fails the cell
            error = error or (refused[0] if refused else None)
            self.writer.record_cell({"cell": cell.index, "key": cell.key, "status":
                                    "failed" if error else "ok", "reason": error,
                                    "log_line": self.cell_line, "started": started,
                                    "ended": time.time(), "noise": noise})
        return CellResult(samples, error)

    def measure(self, cell: Cell) -> tuple[list[Sample], str | None]:
        """The cell's samples and, when its teardown failed, why (its samples are kept)."""
        driver = self.drivers[cell.runtime]
        workload = self.config.workloads[cell.workload]
        if isinstance(workload, DensityWorkload):
            return density_samples(driver, workload, cell, self.config.cell_timeout), None
        if isinstance(workload, StormWorkload):
            return storm_samples(driver, workload, cell, self.config.cell_timeout)
        seconds = self.config.cell_timeout + (workload.timeout if isinstance(workload, CommandWorkload)
                                              else 0.0)
        deadline = time.monotonic_ns() + int(seconds * 1e9)
        instance = driver.start(probe_command(workload, seconds, cell.workload,
                                              self.output_file(cell)), deadline)
        try:
            samples, problem = self.collect(cell, driver, instance, deadline)
            if self.on_instance is not None:
                self.on_instance(cell, driver, instance, samples)
        except InstanceError as error:
            explained = driver.explain(instance, error)
            self.stop_after_failure(driver, instance, explained)
            raise explained  # noqa: B904 (with_cause() chains the original)
        except BaseException as error:
            self.stop_after_failure(driver, instance, error)
            raise
        try:
            with shielded():
                driver.stop(instance)
        except TeardownError as error:
            reason = f"teardown failed: {error}"
            return samples + [self.failure(cell, "stop.total", reason)], reason
        return samples + stop_samples(cell, instance), problem

    def collect(self, cell: Cell, driver: AnyDriver, instance: AnyInstance,
                deadline: int) -> tuple[list[Sample], str | None]:
        """The cell's samples, and why it failed when its command did (its samples kept)."""
        workload = self.config.workloads[cell.workload]
        samples = boot_samples(cell, instance)
        if isinstance(workload, CommandWorkload):
            measured, problem = command_samples(cell, driver, instance, workload, deadline)
            return samples + measured, problem
        if workload.mode == "syscall":
            return samples + syscall_samples(cell, instance, deadline), None
        return samples + memory_samples(cell, driver, instance, self.config.settle, deadline), None

    def output_file(self, cell: Cell) -> Path:
        """Where a command's output goes as it comes: output/<cell>-<runtime>-<workload>-<rep>.txt
        in the results directory (a warm-up cell's, unrecorded, in the run's work directory)."""
        name = f"{cell.index:05d}-{cell.runtime}-{cell.workload}-{cell.repetition}.txt"
        folder = self.work_dir if cell.warmup and self.work_dir else self.writer.path / OUTPUT_DIR
        return folder / name

    @staticmethod
    def stop_after_failure(driver: AnyDriver, instance: AnyInstance, error: BaseException) -> None:
        """Tear down after a failure without letting a teardown error replace it."""
        try:
            with shielded():
                driver.stop(instance)
        except TeardownError as problem:
            log.error("%s: teardown after a failure failed too: %s", instance.name, problem)
            error.add_note(f"teardown failed too: {problem}")

    def failure(self, cell: Cell, metric: str, reason: str) -> Sample:
        where = f" (run.log from line {self.cell_line})" if self.cell_line else ""
        return Sample.failed(cell.runtime, cell.workload, metric, cell.repetition, reason + where,
                             cell=cell.index)

