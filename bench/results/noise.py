"""When the host's load or steal time around the cells changed enough to matter: read from
cells.jsonl (the runner records both before and after each cell), judged the same way by the
report's warnings and by `bench doctor`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.results.manifest import CELLS
from bench.results.records import read_lines

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
    return judge(read_lines(path, CELLS), cores)


def judge(cells: list[dict[str, Any]], cores: int) -> NoiseChange | None:
    noises = [(str(c.get("key")), c["noise"]) for c in cells if isinstance(c.get("noise"), dict)]
    if not noises:
        return None
    loads = [float(n[k]) for _, n in noises for k in ("load_before", "load_after") if k in n]
    low, high = min(loads, default=0.0), max(loads, default=0.0)
    stolen = [(key, float(n["steal_percent"])) for key, n in noises
              if float(n.get("steal_percent", 0.0)) > STEAL_PERCENT]
    return NoiseChange(low, high, high - low > LOAD_CHANGE_PER_CORE * max(cores, 1), stolen)
