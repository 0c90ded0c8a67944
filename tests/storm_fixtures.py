"""Synthetic results of a storm run for the report's tests: ordinary boot cells and storms of
several sizes per runtime, shaped as bench/storm.py writes them (a run with real drivers is
tests/integration/test_storm.py's)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.results.manifest import Manifest, RunConfig
from bench.results.sample import Sample
from bench.results.writer import RunWriter

# runtime -> (driver, median boot in ms, how much each extra instance of a storm adds)
SHAPES = {"process": ("process", 1.2, 0.6), "native": ("native", 3.0, 1.5),
          "docker": ("docker", 160.0, 90.0), "libvirt": ("libvirt", 9000.0, 4000.0)}
COUNTS = {"process": (1, 4, 16), "native": (1, 4, 16), "docker": (1, 4, 16), "libvirt": (1, 2)}


def storm_rows(runtime: str, count: int, rep: int, cell: int,
               rng: np.random.Generator) -> list[Sample]:
    _, boot, step = SHAPES.get(runtime, ("process", 2.0, 1.0))
    ready = boot + step * rng.uniform(0, count - 1, count) + rng.lognormal(0, 0.1, count)
    meta = {"count": count, "arrivals": "burst"}

    def row(metric: str, value: float, unit: str = "ms", direction: str = "") -> Sample:
        return Sample(runtime, "burst", metric, float(value), rep, unit=unit, phase=str(count),
                      cell=cell, metadata=meta, direction=direction)

    rows = [row("storm.ready", value) for value in ready]
    rows += [row(f"storm.{name}", np.percentile(ready, q))
             for name, q in (("p50", 50), ("p90", 90), ("p99", 99), ("max", 100))]
    return rows + [row("storm.throughput", count / (ready.max() / 1e3), "starts/s", "higher"),
                   row("storm.failed", 0.0, "count"), row("storm.memory", 1e6 * count, "bytes")]


def write_storm_results(path: Path, runtimes: tuple[str, ...] = tuple(SHAPES),
                        repetitions: int = 6) -> Path:
    """A results directory with `idle` boot cells and `burst` storms of every runtime."""
    rng = np.random.default_rng(23)
    config = {"repetitions": repetitions,
              "runtimes": {name: {"driver": SHAPES.get(name, ("process",))[0]} for name in runtimes},
              "workloads": {"idle": {"mode": "ready"},
                            "burst": {"mode": "storm", "concurrency": [1, 4, 16]}}}
    store = RunWriter.create(path, Manifest(run_id="5707e5", created=1.7e9, config=RunConfig(config),
                                            host={"cores": 2}))
    cell = 0
    for rep in range(repetitions):
        for runtime in runtimes:
            boot = SHAPES.get(runtime, ("process", 2.0, 1.0))[1]
            store.append([Sample(runtime, "idle", "boot.total", boot * rng.lognormal(0, 0.1),
                                 rep, cell=cell)])
            cell += 1
            for count in COUNTS.get(runtime, (1, 4)):
                store.append(storm_rows(runtime, count, rep, cell, rng))
                cell += 1
    store.complete(0)
    store.close()
    return path
