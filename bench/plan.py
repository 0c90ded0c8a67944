"""The plan: runtime x workload x repetition, interleaved so drift hits every runtime alike.

Round r runs every workload on every runtime, the runtimes rotated by r so none is
always first after a workload switch. Warm-up rounds come first and are not recorded.
A storm workload has a cell per size N: the runtimes interleave at each N (a warm-up round
runs its smallest N only).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench.config import Config, StormWorkload, Workload
from bench.results.manifest import Manifest
from bench.results.resume import finished_cells


@dataclass(frozen=True)
class Cell:
    index: int
    runtime: str
    workload: str
    repetition: int  # negative for warm-up cells
    warmup: bool
    count: int | None = None  # a storm's N

    @property
    def key(self) -> str:
        size = "" if self.count is None else f"@{self.count}"
        return f"{self.runtime}/{self.workload}{size}/{self.repetition}"


def sizes(spec: Workload, rep: int, runtimes: list[str]) -> list[int | None]:
    """The storm sizes of one round (every runtime's, ascending), or [None] for other modes."""
    if not isinstance(spec, StormWorkload):
        return [None]
    found = sorted({n for runtime in runtimes for n in spec.counts(runtime)})
    return list(found[:1] if rep < 0 else found)


def make_plan(config: Config) -> list[Cell]:
    runtimes = list(config.runtimes)
    most = max(config.repetitions_of(r) for r in runtimes)
    warmup = max(config.warmup_of(r) for r in runtimes)
    cells: list[Cell] = []
    for rep in range(-warmup, most):
        for workload, spec in config.workloads.items():
            if rep < 0 and spec.mode == "density":
                continue  # a density ladder is its own warm-up: its first rung is N=1
            shift = (rep + warmup) % len(runtimes)
            for count in sizes(spec, rep, runtimes):
                for runtime in runtimes[shift:] + runtimes[:shift]:
                    if not config.runs(workload, runtime) or not planned(spec, runtime, count, rep):
                        continue
                    if -config.warmup_of(runtime) <= rep < config.repetitions_of(runtime):
                        cells.append(Cell(len(cells), runtime, workload, rep, rep < 0, count))
    return cells


def planned(spec: Workload, runtime: str, count: int | None, rep: int) -> bool:
    """Whether this runtime runs a storm of this size (its cap; a warm-up its smallest N)."""
    if count is None or not isinstance(spec, StormWorkload):
        return True
    own = spec.counts(runtime)
    return count in (own[:1] if rep < 0 else own)


def remaining_cells(path: Path, config: Config,
                    runnable: Config | None = None) -> tuple[Manifest, list[Cell]]:
    """A stopped run's manifest and the cells still to run (warm-up cells run again: caches
    went cold); `runnable` is the config less the runtimes the run skipped."""
    manifest, done = finished_cells(path, config.model_dump(mode="json"))
    return manifest, [c for c in make_plan(runnable or config) if c.warmup or c.index not in done]
