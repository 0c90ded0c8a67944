"""When the host's load or steal time around the cells changed enough to matter: read from
cells.jsonl (the runner records both before and after each cell), judged the same way by the
report's warnings and by `bench doctor`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.results.records import read_cells

# runnable tasks per core: a load that moved by this much ran the cells on different machines
LOAD_CHANGE_PER_CORE = 0.5
# the share of CPU time a hypervisor took from a cell that makes its timings suspect
STEAL_PERCENT = 2.0


@dataclass(frozen=True)
class NoiseChange:
    """What moved during a run: the 1-minute load's range over its cells, and the cells that
    lost more than STEAL_PERCENT of their CPU time to a hypervisor."""

    load_low: float
    load_high: float
    load_moved: bool
    stolen: list[tuple[str, float]]  # (cell key, steal %)


def noise_change(path: Path, cores: int) -> NoiseChange | None:
    """None for a run whose cells carry no noise record (made before bench recorded it)."""
    return judge(read_cells(path), cores)


def judge(cells: list[dict[str, Any]], cores: int) -> NoiseChange | None:
    noises = [(str(c.get("key")), c["noise"]) for c in cells if isinstance(c.get("noise"), dict)]
    if not noises:
        return None
    loads = [value for _, n in noises for k in ("load_before", "load_after")
             if (value := reading(n.get(k))) is not None]
    low, high = min(loads, default=0.0), max(loads, default=0.0)
    stolen = [(key, steal) for key, n in noises
              if (steal := reading(n.get("steal_percent"))) is not None and steal > STEAL_PERCENT]
    return NoiseChange(low, high, high - low > LOAD_CHANGE_PER_CORE * max(cores, 1), stolen)


def reading(value: Any) -> float | None:
    """A noise figure as the runner writes it (a finite number); anything else is no reading."""
    if type(value) not in (int, float) or not math.isfinite(value):
        return None
    return float(value)
