"""The cross-checks of one sitting: bench's own cells run by the runner, and beside each of
them, interleaved, the independent reference for its headline figures.

Before each cell whose start is checked (the runner's before_cell): one untimed run of its
reference launch, so that bench's start, like each reference run, follows a start of the same
launch by a fraction of a second (launches.prime_launch). After each cell (the runner's
on_cell): a launch cell is followed by the same launch timed by
hyperfine, a syscall cell of the process runtime by `perf bench syscall basic` with the same
number of calls per batch, as many times as the probe runs batches. While an idle instance is
still up (the runner's on_instance, right after bench read its memory): its processes' PSS
from smaps_rollup, its cgroup's charge from the cgroup's file, and a guest's RAM as QEMU
places it. Warm-up cells get their references too, and both are dropped.
"""

from __future__ import annotations

import logging
import os
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from bench.config import Config, SyscallWorkload
from bench.plan import Cell
from bench.results.crosschecks import CrossCheck
from bench.results.sample import Sample
from bench.verify.launches import prime_launch, time_launch
from bench.verify.references import (
    Launches,
    ReferenceError,
    cgroup_charge,
    cgroup_members,
    children,
    gpa2hva_rss,
    monitor_guest_ram,
    perf_bench_getppid,
    rollup_pss,
)
from foundation.errors import BenchError
from runtimes.base import AnyDriver, AnyInstance, instance_prefix
from runtimes.docker.engine import engine_step
from runtimes.host.procs import parent_pid

log = logging.getLogger("bench.verify")

PSS_TOLERANCE = 0.02     # the same processes read a moment apart
CGROUP_TOLERANCE = 0.05  # a cgroup's charge moves with the page cache and kernel memory
# A cgroup's usage (v1 memory.usage_in_bytes, v2 memory.current) is charged in batches of
# MEMCG_CHARGE_BATCH (64) pages kept per CPU, so two reads a moment apart may differ by up to
# a batch with nothing changed in the instance (a "fuzz value", the kernel's cgroup-v1
# memory.txt): an idle oci container's 640 KiB read 32 KiB apart between bench's read and the
# reference's, over 5 % (a CI run, 2026-12-05).
CHARGE_BATCH_BYTES = 64 * os.sysconf("SC_PAGE_SIZE")
GUEST_RAM_TOLERANCE = 0.05
SYSCALL_TOLERANCE = 0.10  # two loops of the same call: the probe's subtracts its empty loop
PID_FILES = (Path("/run/libvirt/qemu"), Path("/var/run/libvirt/qemu"))


@dataclass
class Line:
    """A cross-check being gathered: its lists (bench's values and the reference's, per
    instance) fill as the sitting goes, and the problems met on the way."""

    spec: CrossCheck
    problems: list[str] = field(default_factory=list)
    # a line taken beside each cell (spec.by_cell): each cell's bench value and the runs of
    # its reference (a launch's as timed), by the cell's index; check() keeps the cells that
    # have both
    ours: dict[int, float] = field(default_factory=dict)
    theirs: dict[int, list[float]] = field(default_factory=dict)
    # what a launch's calibration would take off, per cell; check() takes the sitting's
    # median of it off every cell's reference
    corrections: list[float] = field(default_factory=list)

    @property
    def bench(self) -> list[float]:
        return self.spec.bench

    @property
    def reference_values(self) -> list[float]:
        return self.spec.reference_values

    def check(self) -> CrossCheck:
        """The line as gathered. A line taken beside each cell keeps the cells with both
        values, as pairs in the cells' order. A launch's correction (untilready's own cost, a
        CLI's floor) is one constant of the sitting, measured beside every cell so that it
        follows the sitting's drift; taken off each cell as its median over the sitting, its
        own scatter (two medians of five runs apart: as wide as the launch's) stays out of the
        reference's cells."""
        spec = self.spec
        if spec.by_cell:
            correction = statistics.median(self.corrections) if self.corrections else 0.0
            cells = sorted(self.ours.keys() & self.theirs.keys())
            runs = [[run - correction for run in self.theirs[cell]] for cell in cells]
            spec = replace(spec, bench=[self.ours[cell] for cell in cells],
                           reference_values=[statistics.median(cell) for cell in runs],
                           reference_runs=runs)
        failed = self.problems[0] if self.problems and not spec.reference_values else None
        return replace(spec, failed=failed)


class Verifier:
    """Gathers the lines of one `bench verify` sitting (the runner's on_instance and, after
    each cell, after_cell)."""

    def __init__(self, config: Config, run_id: str, cache_dir: Path) -> None:
        self.config = config
        self.run_id = run_id
        self.lines: dict[tuple[str, str, str], Line] = {}
        self.boot: dict[int, dict[str, float]] = {}  # cell index -> bench's boot figures
        self.timer: Launches | None = None
        self.cache_dir = cache_dir

    def line(self, figure: str, runtime: str, reference: str, how: str, unit: str,
             tolerance: float, paired: bool, resolution: float = 0.0,
             by_cell: bool = False) -> Line:
        key = (figure, runtime, reference)
        if key not in self.lines:
            self.lines[key] = Line(CrossCheck(figure, runtime, reference, how, unit, tolerance,
                                              paired, resolution=resolution, by_cell=by_cell))
        return self.lines[key]

    def checks(self) -> list[CrossCheck]:
        return [line.check() for line in self.lines.values()]

    def close(self) -> None:
        if self.timer is not None:
            self.timer.close()

    # --- on_instance: bench's figures, and what is read at the same moment -------------

    def at_instance(self, cell: Cell, driver: AnyDriver, instance: AnyInstance,
                    samples: list[Sample]) -> None:
        values = {s.metric: s.value for s in samples if s.value is not None}
        self.boot[cell.index] = {k: v for k, v in values.items() if k.startswith("boot.")}
        if cell.warmup:
            return
        workload = self.config.workloads[cell.workload]
        if isinstance(workload, SyscallWorkload):
            getppid = [s.value for s in samples if s.metric == "syscall.getppid" and s.value]
            if driver.kind == "process" and getppid:
                self._perf_line(cell).ours[cell.index] = statistics.median(getppid)
        elif workload.mode == "ready":
            self._memory(cell, driver, instance, values)

    def _memory(self, cell: Cell, driver: AnyDriver, instance: AnyInstance,
                values: dict[str, float]) -> None:
        readers: list[tuple[str, str, str, float, Callable[[], float], float | None, float]] = [
            ("memory.host_pss" + ("+guest_ram" if "memory.guest_ram" in values else ""),
             "smaps_rollup", "Pss of the instance's host processes, each read from "
             "/proc/PID/smaps_rollup", PSS_TOLERANCE, lambda: self._rollup(driver, instance),
             _sum(values, "memory.host_pss", "memory.guest_ram"), 0.0),
            ("memory.cgroup", "cgroup file", "the instance cgroup's memory.usage_in_bytes (v1) "
             "or memory.current (v2), found from /proc/PID/cgroup", CGROUP_TOLERANCE,
             lambda: self._cgroup(driver, instance), values.get("memory.cgroup"),
             CHARGE_BATCH_BYTES),
            ("memory.guest_ram", "QEMU monitor + smaps", "Rss of the QEMU mapping that holds "
             "guest physical address 1 MiB (HMP gpa2hva, through virsh for libvirt and QMP's "
             "human-monitor-command for qemu)", GUEST_RAM_TOLERANCE,
             lambda: self._guest_ram(driver, instance), values.get("memory.guest_ram"), 0.0),
        ]
        for figure, reference, how, tolerance, read, ours, resolution in readers:
            if ours is None:
                continue
            line = self.line(figure, cell.runtime, reference, how, "bytes", tolerance, True,
                             resolution)
            try:
                theirs = float(read())
            except (BenchError, OSError) as error:  # a reference error, or the instance left
                line.problems.append(str(error))
                continue
            line.bench.append(ours)
            line.reference_values.append(theirs)

    def _pids(self, driver: AnyDriver, instance: AnyInstance) -> list[int]:
        """The instance's host processes, found here rather than asked of bench's reading."""
        handle = instance.held()
        if driver.kind == "process":
            return [handle.pid]
        if driver.kind == "native":
            return list(driver.host_pids(instance))  # type: ignore[attr-defined]
        if driver.kind == "oci":  # the runtime's own word for the container's process
            state = driver.cli.state(handle.container_id)  # type: ignore[attr-defined]
            return cgroup_members(int(state["pid"]))
        if driver.kind == "lxc":  # the monitor, and the container's init: its child
            return [*cgroup_members(children(handle.monitor.pid)[0]), handle.monitor.pid]
        if driver.kind == "docker":
            api = driver.api  # type: ignore[attr-defined]
            with engine_step(f"inspect {instance.name} for its host pid"):
                pid = int(api.exec_inspect(handle.exec_id)["Pid"] if handle.exec_id
                          else api.inspect_container(handle.container_id)["State"]["Pid"])
            return [pid, parent_pid(pid)]
        if driver.kind == "libvirt":
            return [qemu_pid_file(instance.name)]
        if driver.kind == "qemu":  # the pid file QEMU itself wrote (-pidfile)
            return [read_pid_file(handle.spec.pidfile)]
        raise ReferenceError(f"no reference knows the processes of a {driver.kind} instance")

    def _rollup(self, driver: AnyDriver, instance: AnyInstance) -> float:
        return sum(rollup_pss(pid) for pid in self._pids(driver, instance))

    def _cgroup(self, driver: AnyDriver, instance: AnyInstance) -> float:
        pids = self._pids(driver, instance)
        return cgroup_charge(pids[0],
                             leave="emulator" if driver.kind == "libvirt" else None)

    def _guest_ram(self, driver: AnyDriver, instance: AnyInstance) -> float:
        if driver.kind == "qemu":  # QEMU's own monitor, asked through the guest's QMP socket
            pid = read_pid_file(instance.held().spec.pidfile)
            answer = instance.held().monitor.execute("human-monitor-command", 30.0,
                                                     **{"command-line": "gpa2hva 0x100000"})
            return gpa2hva_rss(pid, str(answer))
        pid = qemu_pid_file(instance.name)
        return monitor_guest_ram(instance.name, pid, driver.options.uri)

    # --- before a cell: the lead-in of a checked start -------------------------------

    def before_cell(self, cell: Cell, driver: AnyDriver) -> None:
        """Before a cell whose start is checked (an idle cell), one untimed run of its
        reference launch (launches.prime_launch), ahead of the runner's pause."""
        if not self._start_checked(cell):
            return
        try:
            prime_launch(driver, self.run_id, self.launches())
        except ReferenceError as problem:
            log.error("primer before cell %s failed: %s", cell.key, problem)
            self._note(cell, str(problem))

    def launches(self) -> Launches:
        if self.timer is None:
            self.timer = Launches(self.cache_dir, f"{instance_prefix(self.run_id)}verify")
        return self.timer

    # --- on_cell: the timing references, interleaved with bench's cells ----------------

    def after_cell(self, cell: Cell, driver: AnyDriver, error: str | None) -> None:
        workload = self.config.workloads[cell.workload]
        bench = self.boot.pop(cell.index, {})
        try:
            if isinstance(workload, SyscallWorkload):
                if driver.kind == "process":
                    self._perf_bench(cell, driver, workload)
            elif self._start_checked(cell):
                self._launch(cell, driver, bench if error is None else {})
        except ReferenceError as problem:
            log.error("reference after cell %s failed: %s", cell.key, problem)
            self._note(cell, str(problem))

    def _start_checked(self, cell: Cell) -> bool:
        """An idle cell: its boot is held against its launch's reference."""
        workload = self.config.workloads[cell.workload]
        return not isinstance(workload, SyscallWorkload) and workload.mode == "ready"

    def _note(self, cell: Cell, problem: str) -> None:
        for line in self.lines.values():
            if line.spec.runtime == cell.runtime and line.spec.unit != "bytes":
                line.problems.append(problem)

    def _perf_line(self, cell: Cell) -> Line:
        return self.line("syscall.getppid", cell.runtime, "perf bench syscall basic",
                         "ns per getppid from `perf bench syscall basic --loop N` (N: the "
                         "config's calls per batch), run as many times as the probe runs "
                         "batches, median", "ns", SYSCALL_TOLERANCE, False, by_cell=True)

    def _perf_bench(self, cell: Cell, driver: AnyDriver, workload: SyscallWorkload) -> None:
        line = self._perf_line(cell)
        cpus = getattr(driver.options, "cpus", None)
        runs = [perf_bench_getppid(workload.calls, cpus) for _ in range(workload.batches)]
        if not cell.warmup:
            line.theirs[cell.index] = runs

    def _launch(self, cell: Cell, driver: AnyDriver, bench: dict[str, float]) -> None:
        timed = time_launch(driver, self.run_id, self.launches())
        if timed is None or cell.warmup:
            return
        launch, timing = timed
        line = self.line(launch.figure, cell.runtime, "hyperfine -N", launch.how, "ms",
                         launch.tolerance, False, by_cell=True)
        line.theirs[cell.index] = timing.runs
        line.corrections.append(timing.correction)
        ours = launch.bench_value(bench)
        if ours is not None:
            line.ours[cell.index] = ours


def _sum(values: dict[str, float], *metrics: str) -> float | None:
    if metrics[0] not in values:
        return None
    return sum(values.get(metric, 0.0) for metric in metrics)


def qemu_pid_file(name: str) -> int:
    """The guest's QEMU from libvirt's pid file (not through the driver's lookup)."""
    for folder in PID_FILES:
        try:
            return int((folder / f"{name}.pid").read_text().strip())
        except (OSError, ValueError):
            continue
    raise ReferenceError(f"libvirt keeps no pid file for {name}")


def read_pid_file(path: Path) -> int:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError) as error:
        raise ReferenceError(f"no pid in {path}: {error}") from error
