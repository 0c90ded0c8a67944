"""Density: how memory per instance and start time change as idle instances add up.

For each count N (ascending) the instances are topped up to N, the host settles, and
memory per instance is taken from what is charged to the instances and from the host:

- `pss_per_instance`: the instances' summed host cost (PSS of every process charged to
  them, shims and VMMs included, plus guest RAM) over N; `cgroup_per_instance`: their cgroup
  charge over N, where they have one. These are read from the instances themselves.
- `engine_pss_per_instance`: how much the engine's own daemons (the driver's
  `engine_processes`: dockerd and containerd, libvirtd and virtlogd) grew since before the
  ladder, over N: the engine's share, read beside the instances'.
- `kernel_per_instance`: how much the kernel's own unreclaimable memory (unreclaimable slab,
  kernel stacks, page tables, per-CPU areas: namespaces, sockets, cgroups live there) grew,
  over N; host-wide, but far less moved by other work than MemAvailable.
- `mem_available_per_instance`: the drop in the host's MemAvailable over N (page cache
  dropped first), which sees everything, other work included.
- `host_per_instance`: the same drop with the growth of every process's anonymous memory
  (AnonPages) taken out and the instances' own charge (their PSS plus guest RAM) put back
  in, over N: what the host gave up for the instances, without other work's heaps, which
  are what moves MemAvailable most on a shared host.

The host figures are differences against references, and a reference taken another way or
at another moment than the rung measures something else: measured on a 2-core host shared
with other test runs, other processes' anonymous memory moved MemAvailable by 300-500 MB
within a second or two (AnonPages between 290 and 1650 MB during a ladder), while dockerd and
containerd stayed at 94 and 43 MB (dipping 20-27 MB for a second when Go collected), a
docker instance added 2.5-12 MB of shim PSS, and a namespace ladder's 100 instances' kernel
memory (slab +26 MB, stacks +5, page tables +9) was all but gone within a second of their
teardown.
A reference taken before the ladder without the rung's settle, and rungs read after a
round of engine API calls, put such movements into one side only: docker's figure at N=1
came out -303 MB per instance, its whole interval below zero. So every host reading, at the
references and at every rung, is taken by one function in one order (host_reading: the
engine's PSS, then the cache drop and /proc/meminfo), after the same settle and KSM wait,
`readings` times, READING_GAP apart: before the first instance, at each N, and after the
last one stopped. Reading i at N is recorded against reading i of each reference
(`reference`: before or after, in its metadata), so the spread of a rung's figures holds
the references' noise and the drift across the ladder, not only the rung's own.

The summary gives each N its median and an interval over those figures; where the interval
reaches zero or below, the host moved more than the instances cost and the row says "below
resolution (± X)" instead of a number (bench.results.summary). PSS and the cgroup charge
need no reference: one sample per reading. Then one more instance is started while N run,
and its boot.total recorded. The ladder stops early, with the reason recorded, when
MemAvailable falls under a floor.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import psutil

from bench.collectors import memory_reading
from bench.config import DensityWorkload
from bench.plan import Cell
from bench.results.sample import Sample
from foundation.errors import BenchError, InstanceError, TeardownError
from runtimes.base import AnyDriver, AnyInstance, MemoryReading, ProbeCommand
from runtimes.host.memory import meminfo, pss_bytes
from runtimes.protocol import IDLE

KSM = Path("/sys/kernel/mm/ksm")
THP = Path("/sys/kernel/mm/transparent_hugepage/enabled")
DROP_CACHES = Path("/proc/sys/vm/drop_caches")
KSM_SETTLE_LIMIT = 120.0
READING_GAP = 0.5  # seconds between two readings at one N: the host's noise shows between them
# the kernel's own memory that no process is charged for and reclaim cannot take back
KERNEL_PARTS = ("SUnreclaim", "KernelStack", "PageTables", "Percpu")


def host_memory_state() -> dict[str, str]:
    """KSM and transparent huge page settings: both change what N instances cost."""
    state = {"thp": THP.read_text().strip() if THP.exists() else "absent"}
    state["ksm"] = (KSM / "run").read_text().strip() if (KSM / "run").exists() else "absent"
    return state


def wait_for_ksm() -> float | None:
    """When KSM runs, wait until pages_sharing stops changing; seconds waited, else None."""
    if not (KSM / "run").exists() or (KSM / "run").read_text().strip() != "1":
        return None
    started, last = time.monotonic(), -1
    while time.monotonic() - started < KSM_SETTLE_LIMIT:
        sharing = int((KSM / "pages_sharing").read_text())
        if sharing == last:
            break
        last = sharing
        time.sleep(2.0)
    return time.monotonic() - started


@dataclass(frozen=True)
class HostReading:
    """The host at one moment: MemAvailable, every process's anonymous memory (AnonPages),
    the kernel's own memory, the engine's PSS (None when the driver has no engine, or none of
    its daemons runs here) and what the instances' processes are charged (their PSS plus
    guest RAM; 0 at a reference, where none runs)."""

    available: int
    anonymous: int
    kernel: int
    engine: int | None
    charged: int = 0


def engine_pss(names: tuple[str, ...]) -> int | None:
    """PSS of the engine's daemons, by process name; None when none of them runs."""
    total, found = 0, False
    for process in psutil.process_iter(["name"]):
        if process.info["name"] in names:
            try:
                total += pss_bytes(process.pid)
                found = True
            except InstanceError:
                continue  # gone between the listing and the read: not a reading of 0
    return total if found else None


def host_reading(drop_caches: bool, engine: tuple[str, ...], charged: int = 0) -> HostReading:
    """One reading of the host, always in this order: the engine's PSS, then the page cache
    dropped (when asked), then /proc/meminfo; `charged` is what the instances' own reading,
    just before, found them to cost."""
    daemons = engine_pss(engine) if engine else None
    if drop_caches:
        DROP_CACHES.write_text("3\n")
    info = meminfo()
    return HostReading(info["MemAvailable"], info["AnonPages"],
                       sum(info.get(part, 0) for part in KERNEL_PARTS), daemons, charged)


def settle(workload: DensityWorkload) -> float | None:
    """The rest before a group of readings, the same before every group: seconds KSM took."""
    time.sleep(workload.settle)
    return wait_for_ksm()


def reference_readings(workload: DensityWorkload, engine: tuple[str, ...]) -> list[HostReading]:
    """The host with none of the ladder's instances: settled and read as a rung is."""
    settle(workload)
    found = []
    for reading in range(workload.readings):
        if reading:
            time.sleep(READING_GAP)
        found.append(host_reading(workload.drop_caches, engine))
    return found


def instance_cost(reading: MemoryReading) -> int:
    return reading.host_pss + (reading.guest_ram or 0)


def available_drop(reference: HostReading, now: HostReading) -> int:
    return reference.available - now.available


def host_cost(reference: HostReading, now: HostReading) -> int:
    """MemAvailable's drop with every process's anonymous memory taken out (on a shared host
    mostly other work's) and the instances' own charge put back in."""
    return available_drop(reference, now) - (now.anonymous - reference.anonymous) \
        + now.charged - reference.charged


def kernel_growth(reference: HostReading, now: HostReading) -> int:
    return now.kernel - reference.kernel


def engine_growth(reference: HostReading, now: HostReading) -> int | None:
    if reference.engine is None or now.engine is None:
        return None
    return now.engine - reference.engine


# per metric: what a rung's instances changed in a host reading (None: nothing to compare)
HOST_METRICS: dict[str, Callable[[HostReading, HostReading], int | None]] = {
    "density.mem_available_per_instance": available_drop,
    "density.host_per_instance": host_cost,
    "density.kernel_per_instance": kernel_growth,
    "density.engine_pss_per_instance": engine_growth,
}


class DensityRun:
    """One runtime's ladder of counts; every instance it started is stopped in close()."""

    def __init__(self, driver: AnyDriver, workload: DensityWorkload, cell: Cell, timeout: float) -> None:
        self.driver = driver
        self.workload = workload
        self.cell = cell
        self.timeout = timeout
        self.running: list[AnyInstance] = []
        self.command = ProbeCommand("ready", (f"idle={int(timeout * 100)}",))
        self.engine = driver.engine_processes
        self.host: list[tuple[int, HostReading, dict[str, object]]] = []  # (N, reading, meta)

    def counts(self) -> list[int]:
        cap = self.workload.max_count.get(self.cell.runtime)
        return [n for n in self.workload.counts if cap is None or n <= cap]

    def sample(self, metric: str, value: float, unit: str, count: int, **meta: object) -> Sample:
        return Sample(runtime=self.cell.runtime, workload=self.cell.workload, metric=metric,
                      value=value, unit=unit, repetition=self.cell.repetition, phase=str(count),
                      cell=self.cell.index, metadata={"count": count, **meta})

    def start_one(self) -> AnyInstance:
        deadline = time.monotonic_ns() + int(self.timeout * 1e9)
        instance = self.driver.start(self.command, deadline)
        try:
            instance.output.wait_for(IDLE, deadline, f"{self.cell.runtime} instance")
        except BenchError:
            self.driver.stop(instance)
            raise
        return instance

    def top_up(self, count: int) -> None:
        """Start instances until `count` run, `concurrency` at a time, minding the floor."""
        with ThreadPoolExecutor(self.workload.concurrency) as pool:
            while len(self.running) < count:
                self.check_floor(len(self.running))
                batch = min(self.workload.concurrency, count - len(self.running))
                futures = [pool.submit(self.start_one) for _ in range(batch)]
                errors = []
                for future in futures:
                    try:
                        self.running.append(future.result())
                    except BenchError as error:
                        errors.append(str(error))
                if errors:
                    raise InstanceError(f"starting instance {len(self.running) + 1} failed: {errors[0]}")

    def check_floor(self, count: int) -> None:
        available = meminfo()["MemAvailable"]
        if available < self.workload.min_available:
            raise InstanceError(f"stopped early at N={count}: MemAvailable {available >> 20} MiB is "
                                f"under the floor of {int(self.workload.min_available) >> 20} MiB")

    def measure(self, count: int) -> list[Sample]:
        ksm_wait = settle(self.workload)
        samples: list[Sample] = []
        for reading in range(self.workload.readings):
            if reading:
                time.sleep(READING_GAP)
            meta: dict[str, object] = {**host_memory_state(), "ksm_settled_after_s": ksm_wait,
                                       "reading": reading}
            samples += self.read_memory(count, meta)
        return samples

    def read_memory(self, count: int, meta: dict[str, object]) -> list[Sample]:
        """One reading at N: the instances' PSS and charges, then the host as the references
        read it (kept for host_samples, which needs the reference after the ladder). An
        instance that left during the settle stops the ladder with the reason (its memory
        is not 0, and N would no longer be N)."""
        readings = [memory_reading(self.driver, i) for i in self.running]
        charged = sum(map(instance_cost, readings))
        self.host.append((count, host_reading(self.workload.drop_caches, self.engine, charged),
                          meta))
        samples = [self.sample("density.pss_per_instance", charged / count, "bytes", count,
                               **meta)]
        charges = [r.cgroup for r in readings if r.cgroup is not None]
        if len(charges) == len(readings):
            samples.append(self.sample("density.cgroup_per_instance", sum(charges) / count,
                                       "bytes", count, **meta))
        return samples

    def host_samples(self, before: list[HostReading], after: list[HostReading]) -> list[Sample]:
        """Reading i at each N against reading i of the host before the ladder and after it:
        what the instances changed, per instance, in each host figure."""
        samples = []
        for count, now, meta in self.host:
            index = int(str(meta["reading"]))
            for name, references in (("before", before), ("after", after)):
                reference = references[index % len(references)]
                for metric, change in HOST_METRICS.items():
                    moved = change(reference, now)
                    if moved is not None:
                        samples.append(self.sample(metric, moved / count, "bytes", count, **meta,
                                                   reference=name))
        return samples

    def boot_one_more(self, count: int) -> Sample:
        self.check_floor(count)
        extra = self.start_one()
        try:
            return self.sample("density.boot_total", extra.boot_total_ms(), "ms", count)
        finally:
            self.driver.stop(extra)

    def run(self) -> list[Sample]:
        """The ladder up; the host's samples come with host_samples, after close."""
        samples: list[Sample] = []
        for count in self.counts():
            try:
                self.top_up(count)
                samples += self.measure(count)
                samples.append(self.boot_one_more(count))
            except BenchError as error:
                samples.append(Sample(runtime=self.cell.runtime, workload=self.cell.workload,
                                      metric="density.stopped", value=None, unit="count",
                                      repetition=self.cell.repetition, phase=str(count),
                                      status="failed", reason=str(error), cell=self.cell.index))
                break
        return samples

    def close(self) -> None:
        problems = stop_all(self.driver, self.running, self.workload.concurrency)
        self.running.clear()
        if problems:
            raise TeardownError(problems[0])


def stop_all(driver: AnyDriver, instances: list[AnyInstance], workers: int) -> list[str]:
    """Stop every instance, `workers` at a time (a density ladder's, a storm's); each stop is
    tried whatever the others did, and what failed is returned, one sentence each."""
    def stop(instance: AnyInstance) -> str | None:
        try:
            driver.stop(instance)
        except BenchError as error:
            return f"{instance.name}: {error}"
        return None

    with ThreadPoolExecutor(max(1, min(workers, len(instances) or 1))) as pool:
        return [problem for problem in pool.map(stop, instances) if problem]


def density_samples(driver: AnyDriver, workload: DensityWorkload, cell: Cell, timeout: float) -> list[Sample]:
    ladder = DensityRun(driver, workload, cell, timeout)
    before = reference_readings(workload, ladder.engine)
    try:
        samples = ladder.run()
    finally:
        ladder.close()
    after = reference_readings(workload, ladder.engine)
    return samples + ladder.host_samples(before, after)
