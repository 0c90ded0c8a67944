"""The runner: prepares every driver, walks the plan cell by cell, and stores what it measures.

A failed cell is recorded with its reason and the run goes on; a warm-up cell is run
but not recorded. Ctrl-C or SIGTERM tears the current instance down, keeps what was
stored, and ends the run as interrupted.
"""

from __future__ import annotations

import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from bench.collectors import boot_samples, memory_samples, stop_samples, syscall_samples
from bench.config import Config, DensityWorkload, MemtouchWorkload, SyscallWorkload, Workload
from bench.density import density_samples
from bench.drivers import driver_class
from bench.errors import Interrupted
from bench.plan import Cell
from bench.results.sample import Sample
from bench.results.store import RunStore
from bench.workload.bundle import Bundle
from runtimes.base import Driver, ProbeCommand, RunContext
from runtimes.errors import BenchError, InstanceError, RuntimeUnavailable

# Called after each cell with (cell, error or None); the CLI draws progress with it.
CellHook = Callable[[Cell, str | None], None]


def probe_command(workload: Workload, idle_seconds: float) -> ProbeCommand:
    """The probe invocation for a workload; idle instances outlive the cell timeout by design."""
    idle = f"idle={int(idle_seconds) + 1}"
    match workload:
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


def check_available(config: Config) -> None:
    """Refuse a run at once (before anything is created) if a runtime cannot work here."""
    for name, spec in config.runtimes.items():
        cls = driver_class(spec.driver)
        reason = cls.unavailable_reason(cls.Options.model_validate(spec.options))
        if reason:
            raise RuntimeUnavailable(f"runtime {name!r} ({spec.driver}) is unavailable: {reason}")


def open_drivers(config: Config, context: RunContext) -> dict[str, Driver]:
    """One driver per configured runtime."""
    check_available(config)
    return {name: driver_class(spec.driver)(name, spec.options, context)
            for name, spec in config.runtimes.items()}


@contextmanager
def signals_interrupt() -> Iterator[None]:
    """SIGTERM behaves like Ctrl-C, so CI killing the job still gets a clean teardown."""
    def on_term(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class Runner:
    def __init__(self, config: Config, store: RunStore, bundle: Bundle, run_id: str,
                 cache_dir: Path) -> None:
        self.config = config
        self.store = store
        self.bundle = bundle
        self.run_id = run_id
        self.cache_dir = cache_dir
        self.drivers: dict[str, Driver] = {}

    def run(self, cells: list[Cell], on_cell: CellHook, on_prepare: Callable[[str], None]) -> int:
        """Runs the cells; returns how many failed. Raises Interrupted on Ctrl-C/SIGTERM."""
        work_dir = Path(tempfile.mkdtemp(prefix=f"bench-{self.run_id}-"))
        context = RunContext(run_id=self.run_id, cache_dir=self.cache_dir, work_dir=work_dir)
        failed = 0
        try:
            with signals_interrupt():
                self.drivers = open_drivers(self.config, context)
                for name, driver in self.drivers.items():
                    on_prepare(name)
                    driver.prepare(self.bundle.probe)
                self.store.update_manifest(drivers={n: d.fingerprint() for n, d in self.drivers.items()})
                for cell in cells:
                    result = self.run_cell(cell)
                    failed += result.error is not None and not cell.warmup
                    on_cell(cell, result.error)
        except KeyboardInterrupt:
            self.store.update_manifest(status="interrupted", ended=time.time())
            raise Interrupted("interrupted: instances torn down, samples so far kept in "
                              f"{self.store.path}") from None
        finally:
            for driver in self.drivers.values():
                driver.close()
            self.sweep()
            shutil.rmtree(work_dir, ignore_errors=True)
        self.store.update_manifest(status="complete", ended=time.time(), failed_cells=failed)
        return failed

    def sweep(self) -> None:
        """A safety net after the last cell: remove anything of this run a teardown could not
        (a daemon that was down at the time) and say so in the manifest."""
        swept: list[str] = []
        for cls in {type(driver) for driver in self.drivers.values()}:
            try:
                swept += cls.clean(self.run_id, dry_run=False)
            except BenchError as error:
                swept.append(f"{cls.kind}: could not clean ({error}); run `bench clean --run "
                             f"{self.run_id}` once it is back")
        if swept:
            self.store.update_manifest(swept=swept)

    def run_cell(self, cell: Cell) -> CellResult:
        started = time.time()
        try:
            samples, error = self.measure(cell), None
        except BenchError as exc:
            samples, error = [self.failure(cell, str(exc))], str(exc)
        if not cell.warmup:
            self.store.append(samples)
            self.store.record_cell({"cell": cell.index, "key": cell.key, "status":
                                    "failed" if error else "ok", "reason": error,
                                    "started": started, "ended": time.time()})
        return CellResult(samples, error)

    def measure(self, cell: Cell) -> list[Sample]:
        driver = self.drivers[cell.runtime]
        workload = self.config.workloads[cell.workload]
        if isinstance(workload, DensityWorkload):
            return density_samples(driver, workload, cell, self.config.cell_timeout)
        deadline = time.monotonic_ns() + int(self.config.cell_timeout * 1e9)
        instance = driver.start(probe_command(workload, self.config.cell_timeout), deadline)
        try:
            samples = boot_samples(cell, instance)
            if workload.mode == "syscall":
                samples += syscall_samples(cell, instance, deadline)
            else:
                samples += memory_samples(cell, driver, instance, self.config.settle, deadline)
        except InstanceError as error:
            raise driver.explain(instance, error)  # noqa: B904 (explain() chains the cause)
        finally:
            driver.stop(instance)
        return samples + stop_samples(cell, instance)

    @staticmethod
    def failure(cell: Cell, reason: str) -> Sample:
        return Sample.failed(cell.runtime, cell.workload, "cell", cell.repetition, reason,
                             cell=cell.index)


def manifest_for(config: Config, config_path: Path, run_id: str, cells: list[Cell],
                 fingerprint: dict[str, Any], config_commit: str | None) -> dict[str, Any]:
    return {"run_id": run_id, "created": time.time(), "config_path": str(config_path),
            "config": config.model_dump(mode="json"), "config_commit": config_commit,
            "cells": len(cells), "recorded_cells": sum(not c.warmup for c in cells),
            "host": fingerprint}
