"""The plan: runtime x workload x repetition, interleaved so drift hits every runtime alike.

Round r runs every workload on every runtime, the runtimes rotated by r so none is
always first after a workload switch. Warm-up rounds come first and are not recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.config import Config
from bench.results.resume import finished_cells


@dataclass(frozen=True)
class Cell:
    index: int
    runtime: str
    workload: str
    repetition: int  # negative for warm-up cells
    warmup: bool

    @property
    def key(self) -> str:
        return f"{self.runtime}/{self.workload}/{self.repetition}"


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
            for runtime in runtimes[shift:] + runtimes[:shift]:
                if not config.runs(workload, runtime):
                    continue
                if -config.warmup_of(runtime) <= rep < config.repetitions_of(runtime):
                    cells.append(Cell(len(cells), runtime, workload, rep, rep < 0))
    return cells


def remaining_cells(path: Path, config: Config,
                    runnable: Config | None = None) -> tuple[dict[str, Any], list[Cell]]:
    """A stopped run's manifest and the cells still to run (warm-up cells run again: caches
    went cold); `runnable` is the config less the runtimes the run skipped."""
    manifest, done = finished_cells(path, config.model_dump(mode="json"))
    return manifest, [c for c in make_plan(runnable or config) if c.warmup or c.index not in done]
