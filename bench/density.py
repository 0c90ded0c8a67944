"""Density: how memory per instance and start time change as idle instances add up.

For each count N (ascending) the instances are topped up to N, the host settles, and
memory per instance is taken three ways: the drop in the host's MemAvailable divided by
N (page cache dropped before both reads), the instances' summed host cost (PSS plus
guest RAM) divided by N, and their cgroup charge divided by N where they have one.
Then one more instance is started while N run, and its boot.total recorded. The ladder
stops early, with the reason recorded, when MemAvailable falls under a floor.

One reading per N lets noise pass for a result: the host's own memory use moves by tens of
MB while one probe costs one, so a single MemAvailable difference came out negative at N=1.
And the host drifts: other work allocates and frees memory between the reference read and
a rung. So MemAvailable is read `readings` times before the first instance and again after
the last one stopped (each group's median a reference), and `readings` times at every N;
each reading at N is recorded against both references (`reference`: before or after, and
`reading`, in its metadata). The summary gives each N its median and an interval over those
figures, so drift during the ladder widens the interval, and it says when the interval
reaches below zero. PSS and the cgroup charge need no reference: one sample per reading.
"""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.collectors import memory_reading
from bench.config import DensityWorkload
from bench.plan import Cell
from bench.results.sample import Sample
from foundation.errors import BenchError, InstanceError, TeardownError
from runtimes.base import AnyDriver, AnyInstance, MemoryReading, ProbeCommand
from runtimes.host.memory import meminfo
from runtimes.protocol import IDLE

KSM = Path("/sys/kernel/mm/ksm")
THP = Path("/sys/kernel/mm/transparent_hugepage/enabled")
DROP_CACHES = Path("/proc/sys/vm/drop_caches")
KSM_SETTLE_LIMIT = 120.0
READING_GAP = 0.5  # seconds between two readings at one N: the host's noise shows between them


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


def available_bytes(drop_caches: bool) -> int:
    if drop_caches:
        DROP_CACHES.write_text("3\n")
    return meminfo()["MemAvailable"]


def reference_available(drop_caches: bool, readings: int) -> float:
    """MemAvailable before the first instance: the median of several reads, gap apart."""
    found = []
    for reading in range(readings):
        if reading:
            time.sleep(READING_GAP)
        found.append(available_bytes(drop_caches))
    return float(statistics.median(found))


def instance_cost(reading: MemoryReading) -> int:
    return reading.host_pss + (reading.guest_ram or 0)


class DensityRun:
    """One runtime's ladder of counts; every instance it started is stopped in close()."""

    def __init__(self, driver: AnyDriver, workload: DensityWorkload, cell: Cell, timeout: float) -> None:
        self.driver = driver
        self.workload = workload
        self.cell = cell
        self.timeout = timeout
        self.running: list[AnyInstance] = []
        self.command = ProbeCommand("ready", (f"idle={int(timeout * 100)}",))
        self.available: list[tuple[int, int, dict[str, object]]] = []  # (N, MemAvailable, meta)

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
        time.sleep(self.workload.settle)
        ksm_wait = wait_for_ksm()
        samples: list[Sample] = []
        for reading in range(self.workload.readings):
            if reading:
                time.sleep(READING_GAP)
            meta: dict[str, object] = {**host_memory_state(), "ksm_settled_after_s": ksm_wait,
                                       "reading": reading}
            samples += self.read_memory(count, meta)
        return samples

    def read_memory(self, count: int, meta: dict[str, object]) -> list[Sample]:
        """One reading at N: the instances' PSS and charges now, MemAvailable kept for later.
        An instance that left during the settle stops the ladder with the reason (its memory
        is not 0, and N would no longer be N)."""
        readings = [memory_reading(self.driver, i) for i in self.running]
        self.available.append((count, available_bytes(self.workload.drop_caches), meta))
        samples = [self.sample("density.pss_per_instance",
                               sum(map(instance_cost, readings)) / count, "bytes", count, **meta)]
        charges = [r.cgroup for r in readings if r.cgroup is not None]
        if len(charges) == len(readings):
            samples.append(self.sample("density.cgroup_per_instance", sum(charges) / count,
                                       "bytes", count, **meta))
        return samples

    def available_samples(self, before: float, after: float) -> list[Sample]:
        """Each MemAvailable reading at N against the host before and after the ladder."""
        return [self.sample("density.mem_available_per_instance", (reference - available) / count,
                            "bytes", count, **meta, reference=name)
                for count, available, meta in self.available
                for name, reference in (("before", before), ("after", after))]

    def boot_one_more(self, count: int) -> Sample:
        self.check_floor(count)
        extra = self.start_one()
        try:
            return self.sample("density.boot_total", extra.boot_total_ms(), "ms", count)
        finally:
            self.driver.stop(extra)

    def run(self) -> list[Sample]:
        """The ladder up; MemAvailable's samples come with available_samples, after close."""
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
    before = reference_available(workload.drop_caches, workload.readings)
    try:
        samples = ladder.run()
    finally:
        ladder.close()
    after = reference_available(workload.drop_caches, workload.readings)
    return samples + ladder.available_samples(before, after)
