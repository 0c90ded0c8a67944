"""Start storms: N instances of one runtime asked for at once, or at a steady rate.

Serverless and CI platforms start many instances together; one instance at a time says
nothing about how a host copes. A storm is one cell: N threads wait at a barrier, the
barrier's release is the storm's start (host monotonic clock), and each thread then asks the
driver for its instance (a burst: all at once; a steady rate: the i-th at i/rate seconds and
a random part of the kernel's tick, bench/tick.py). Per instance, `storm.ready` is its
start-to-ready time, from the moment bench asked the driver for it to the host seeing its
ready marker, the same clock and end point as `boot.total`; every instance is kept, the
slowest too. Per storm: `storm.p50`, `.p90`, `.p99`, `.max` of those times (numpy's linear
percentiles over the instances that became ready), `storm.throughput` (instances ready over
the time from the storm's start to the last ready, starts/s), `storm.failed` (instances that
never became ready, each also a failed `storm.ready` row with its reason) and `storm.memory`
(the host cost of all N alive: PSS plus guest RAM, summed, read once every instance idles).

The storm, not the instance, is the unit of the statistics: every row is per N (`count`),
one figure per storm, so p99's interval is over repetitions (bench.results.summary).

Before anything starts, check_storms refuses an N whose guests cannot fit in the host's
memory (a driver's reserved_memory: a guest's RAM), in one line.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass

import numpy as np

from bench.collectors import memory_reading
from bench.config import Config, StormWorkload
from bench.density import instance_cost, stop_all
from bench.drivers import INSTALLED, Registry, driver_class
from bench.interrupts import shielded
from bench.plan import Cell
from bench.results.numbers import format_value
from bench.results.sample import Sample
from bench.tick import part
from foundation.errors import BenchError, ConfigError
from runtimes.base import AnyDriver, AnyInstance, ProbeCommand
from runtimes.host.memory import meminfo
from runtimes.protocol import IDLE

PERCENTILES = (("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("max", 100.0))
BARRIER_TIMEOUT_S = 60.0  # every thread of a storm reaches the barrier long before this
STOPPERS = 16  # teardowns at once after a storm
THREADS_SETTLE_S = 0.05  # between the last thread waiting at the barrier and its release


@dataclass
class Arrival:
    """One instance of a storm: when it is due after the storm's start, and how it went."""

    index: int
    due_ns: int
    instance: AnyInstance | None = None
    error: str | None = None


class Storm:
    """One storm of `cell.count` instances; every instance started is stopped in close()."""

    def __init__(self, driver: AnyDriver, workload: StormWorkload, cell: Cell,
                 timeout: float) -> None:
        if cell.count is None:
            raise ValueError(f"cell {cell.key} is a storm cell without its N")
        self.driver, self.workload, self.cell, self.timeout = driver, workload, cell, timeout
        self.count = cell.count
        self.arrivals = [Arrival(i, due) for i, due in enumerate(self.due_times(workload.rate))]
        self.started_ns = 0
        self.command = ProbeCommand("ready", (f"idle={int(timeout * 100)}",))

    def due_times(self, rate: float | None) -> list[int]:
        """ns after the storm's start: a burst's all 0 (the runner's pause put the storm's
        start at a random phase of the kernel's tick); at a steady rate the i-th at i/rate and
        a random part of one tick, so that a spacing of whole or half ticks (20/s is 12.5 at
        HZ=250) does not hold every arrival at one or two phases of it (bench/tick.py)."""
        if rate is None:
            return [0] * self.count
        return [int((i / rate + part()) * 1e9) for i in range(self.count)]

    @property
    def instances(self) -> list[AnyInstance]:
        return [a.instance for a in self.arrivals if a.instance is not None]

    def stamp_start(self) -> None:
        """The barrier's action: the storm starts when every thread waits at it."""
        self.started_ns = time.monotonic_ns()

    def arrive(self, arrival: Arrival, barrier: threading.Barrier) -> None:
        barrier.wait(BARRIER_TIMEOUT_S)
        delay = self.started_ns + arrival.due_ns - time.monotonic_ns()
        if delay > 0:
            time.sleep(delay / 1e9)
        try:
            arrival.instance = self.driver.start(
                self.command, time.monotonic_ns() + int(self.timeout * 1e9))
        except BenchError as error:
            arrival.error = str(error)

    def unleash(self) -> None:
        """Every instance asked for, each from its own thread; returns once every start has
        ended (ready or failed). The threads are made and waiting at the barrier, and the host
        has had THREADS_SETTLE_S to get over making them, before this thread releases them.
        A signal meanwhile waits for the starts under way, so close() finds every instance
        that exists."""
        barrier = threading.Barrier(self.count + 1, action=self.stamp_start)
        pool = ThreadPoolExecutor(self.count, thread_name_prefix=f"storm-{self.cell.runtime}")
        try:
            futures = [pool.submit(self.arrive, a, barrier) for a in self.arrivals]
            deadline = time.monotonic() + BARRIER_TIMEOUT_S
            while barrier.n_waiting < self.count and time.monotonic() < deadline:
                time.sleep(0.001)
            time.sleep(THREADS_SETTLE_S)
            barrier.wait(BARRIER_TIMEOUT_S)
            wait(futures)
            for future in futures:
                future.result()  # a bug in a thread is not a failed start: raise it
        finally:
            with shielded():
                pool.shutdown(wait=True)

    def sample(self, metric: str, value: float | None, unit: str = "ms", direction: str = "",
               reason: str | None = None, **meta: object) -> Sample:
        return Sample(runtime=self.cell.runtime, workload=self.cell.workload, metric=metric,
                      value=value, unit=unit, direction=direction,
                      repetition=self.cell.repetition, phase=str(self.count), cell=self.cell.index,
                      status="ok" if reason is None else "failed", reason=reason,
                      metadata={"count": self.count, **self.shape(), **meta})

    def shape(self) -> dict[str, object]:
        if self.workload.rate is None:
            return {"arrivals": "burst"}
        return {"arrivals": "rate", "rate_per_s": self.workload.rate,
                "duration_s": self.workload.duration}

    def ready_samples(self) -> list[Sample]:
        """Every instance's start-to-ready (failed ones with their reason), in arrival order."""
        samples = []
        for arrival in self.arrivals:
            if arrival.instance is None:
                samples.append(self.sample("storm.ready", None, reason=arrival.error or
                                           "never started", instance=arrival.index))
                continue
            instance = arrival.instance
            samples.append(self.sample(
                "storm.ready", instance.boot_total_ms(), instance=arrival.index,
                asked_after_ms=(instance.requested_ns - self.started_ns) / 1e6,
                ready_after_ms=(instance.ready_ns() - self.started_ns) / 1e6))
        return samples

    def figures(self) -> list[Sample]:
        """The storm's percentiles, throughput and failures."""
        ready = self.instances
        failed = len(self.arrivals) - len(ready)
        samples = [self.sample("storm.failed", float(failed), unit="count")]
        if not ready:
            reason = f"none of the {self.count} instances became ready"
            return samples + [self.sample(f"storm.{name}", None, reason=reason)
                              for name, _ in PERCENTILES] + [
                self.sample("storm.throughput", None, "starts/s", "higher", reason=reason)]
        times = np.array([i.boot_total_ms() for i in ready])
        samples += [self.sample(f"storm.{name}", float(np.percentile(times, q)))
                    for name, q in PERCENTILES]
        span_s = (max(i.ready_ns() for i in ready) - self.started_ns) / 1e9
        return samples + [self.sample("storm.throughput", len(ready) / max(span_s, 1e-9), "starts/s",
                                      "higher", ready=len(ready), span_s=span_s)]

    def memory(self, available_before: int) -> Sample:
        """The host cost of every instance alive, once each idles (after the storm)."""
        deadline = time.monotonic_ns() + int(self.timeout * 1e9)
        try:
            for instance in self.instances:
                instance.output.wait_for(IDLE, deadline, f"{self.cell.runtime} instance")
            cost = sum(instance_cost(memory_reading(self.driver, i)) for i in self.instances)
        except BenchError as error:
            return self.sample("storm.memory", None, "bytes", reason=str(error))
        return self.sample("storm.memory", float(cost), "bytes", alive=len(self.instances),
                           mem_available_before=available_before,
                           mem_available_alive=meminfo()["MemAvailable"])

    def run(self) -> tuple[list[Sample], str | None]:
        available = meminfo()["MemAvailable"]
        self.unleash()
        samples = self.ready_samples() + self.figures()
        if self.instances:
            samples.append(self.memory(available))
        failures = [a.error for a in self.arrivals if a.error is not None]
        if not failures:
            return samples, None
        return samples, (f"{len(failures)} of {self.count} instances failed to start; the "
                         f"first: {failures[0]}")

    def close(self) -> list[str]:
        return stop_all(self.driver, self.instances, STOPPERS)


def storm_samples(driver: AnyDriver, workload: StormWorkload, cell: Cell,
                  timeout: float) -> tuple[list[Sample], str | None]:
    """One storm's samples, and why the cell failed (instances that never became ready, a
    teardown that failed); every instance is stopped, whatever happened."""
    storm = Storm(driver, workload, cell, timeout)
    try:
        samples, problem = storm.run()
    finally:
        with shielded():
            stopped = storm.close()
    if stopped:
        problem = "; ".join(filter(None, [problem, f"teardown failed: {stopped[0]}"]))
    return samples, problem


def check_storms(config: Config, source: str, registry: Registry = INSTALLED) -> None:
    """Refuse, before anything starts, a storm whose instances' reserved memory (a guest's
    RAM) would leave the host less than the workload's min_available."""
    available: int | None = None
    for name, workload in config.workloads.items():
        if not isinstance(workload, StormWorkload):
            continue
        for runtime, spec in config.runtimes.items():
            each = driver_class(spec.driver, registry=registry).reserved_memory(spec.options)
            counts = workload.counts(runtime)
            if each is None or not counts or not config.runs(name, runtime):
                continue
            available = meminfo()["MemAvailable"] if available is None else available
            refuse_unfitting(source, name, runtime, max(counts), each, available,
                             int(workload.min_available))


def refuse_unfitting(source: str, workload: str, runtime: str, count: int, each: int,
                     available: int, floor: int) -> None:
    if count * each <= available - floor:
        return
    fits = max(0, (available - floor) // each)
    raise ConfigError(
        f"{source}: workloads.{workload}: a storm of {count} {runtime} instances reserves "
        f"{in_bytes(count * each)} ({in_bytes(each)} each), but the host has "
        f"{in_bytes(available)} available and keeps {in_bytes(floor)} free (min_available): "
        f"at most {fits} fit; set max_count.{runtime}: {fits} or lower the guests' memory")


def in_bytes(value: int) -> str:
    return format_value(float(value), "bytes")
