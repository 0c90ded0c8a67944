"""One results directory as every reader sees it: per row, one figure per instance.

The one loader: the gate, the summary contract, the history recorder and the report all read
a run through load_run (the report through its view, reports.analysis.RunView), so a script,
a CI verdict and the HTML page quote the same numbers; `bench run` loads the run it just
made once and hands that to each of them. A row is (runtime, workload, metric);
density and storm rows are (runtime, workload, metric, N), one per instance count. Each row keeps its
per-instance figures (the median of each instance's samples: the unit of observation) and
its ok samples (for distributions, and for a gate that is told to pool them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bench.results.derived import COLUMNS, Record
from bench.results.groups import Groups, Key, Values, load_groups
from bench.results.manifest import Manifest, read_manifest
from bench.results.units import direction_of

if TYPE_CHECKING:  # pandas loads only for a reader that asks for the detail as a frame
    import pandas as pd

__all__ = ["DensityKey", "Key", "Run", "Series", "Values", "load_run", "loaded"]

DensityKey = tuple[str, str, str, int]  # (runtime, workload, metric, N)
DENSITY = "density."
STORM = "storm."
PER_COUNT = (DENSITY, STORM)  # families whose rows are per instance count N


def per_count(metric: str) -> bool:
    """A density or storm metric: its rows are per N, never pooled over N."""
    return metric.startswith(PER_COUNT)
EMPTY: Values = np.empty(0, dtype=float)


@dataclass(frozen=True)
class Series:
    """One row: its unit, per-instance figures, ok samples and failures."""

    unit: str
    instances: Values = field(default_factory=lambda: EMPTY)  # one per instance, cell order
    values: Values = field(default_factory=lambda: EMPTY)  # every ok sample, in file order
    failed: int = 0
    reason: str | None = None  # the first failed sample's reason
    direction: str = "lower"  # which way is better, as the samples say

    @property
    def samples(self) -> int:
        return int(self.values.size)

    def observations(self, per_instance: bool = True) -> Values:
        """What a test counts as independent: instances, or (when asked) every sample."""
        return self.instances if per_instance else self.values


@dataclass(frozen=True)
class Run:
    """A loaded results directory: its manifest and its rows."""

    path: Path
    manifest: Manifest
    series: dict[Key, Series]
    density: dict[DensityKey, Series] = field(default_factory=dict)
    records: list[Record] = field(default_factory=list)  # every row but ok syscall samples
    invalid: list[str] = field(default_factory=list)  # lines of samples.jsonl read as failed rows
    storms: dict[DensityKey, Series] = field(default_factory=dict)  # per storm size N

    @cached_property
    def detail(self) -> pd.DataFrame:
        """The records as a DataFrame (the report's sections slice it)."""
        import pandas as pd

        return pd.DataFrame(self.records, columns=COLUMNS).astype({"value": float})

    @property
    def baseline(self) -> str | None:
        """The runtime ratios and memory.overhead are taken against (the process baseline)."""
        return self.manifest.baseline

    def runtimes(self) -> set[str]:
        return {key[0] for key in self.series}


def load_run(path: Path) -> Run:
    """A results directory, read grouped (fast for a million samples), per instance."""
    manifest = read_manifest(path)
    groups = load_groups(path, manifest.baseline)
    reasons, directions = first_of(groups.detail, "reason"), first_of(groups.detail, "direction")
    series = {key: Series(groups.units.get(key[2], ""), groups.instances.get(key, EMPTY),
                          groups.values.get(key, EMPTY), groups.failed.get(key, 0),
                          reasons.get(key), directions.get(key) or direction_of(key[2]))
              for key in dict.fromkeys([*groups.values, *groups.failed])}
    return Run(path, manifest, series, density_series(groups), groups.detail, groups.invalid,
               storms=count_series(groups.detail, groups.units, STORM))


def loaded(source: Path | Run) -> Run:
    """A run already loaded as it is (`bench run` hands the one it loaded to every reader),
    else the results directory loaded."""
    return source if isinstance(source, Run) else load_run(Path(source))


def first_of(detail: list[Record], column: str) -> dict[Key, str]:
    """Per row, the first non-empty value of a column among its detail rows: the reason of a
    failure, the direction a workload metric's samples carry (bulk syscall rows, absent
    from the detail, take their family's)."""
    found: dict[Key, str] = {}
    for row in detail:
        value = row.get(column)
        if value is None or value == "" or (column != "direction" and row["status"] != "failed"):
            continue
        key = (str(row["runtime"]), str(row["workload"]), str(row["metric"]))
        found.setdefault(key, str(value))
    return found


def density_count(phase: Any, repetition: Any) -> int:
    """N of a density row: its phase, a number (older files: the repetition)."""
    try:
        return int(str(phase))
    except ValueError:
        return int(repetition)


def density_series(groups: Groups) -> dict[DensityKey, Series]:
    """One row per runtime, workload, metric and N; each ladder (cell) is one instance."""
    return count_series(groups.detail, groups.units, DENSITY)


def count_series(detail: list[Record], units: dict[str, str],
                 prefix: str) -> dict[DensityKey, Series]:
    """One row per runtime, workload, metric and N of a per-count family (density, storm);
    each cell (a ladder, a storm) is one instance, its figure the median of its samples."""
    rows: dict[DensityKey, list[Record]] = {}
    for row in detail:
        if str(row["metric"]).startswith(prefix):
            key = (str(row["runtime"]), str(row["workload"]), str(row["metric"]),
                   density_count(row["phase"], row["repetition"]))
            rows.setdefault(key, []).append(row)
    found: dict[DensityKey, Series] = {}
    for key in sorted(rows):
        group = rows[key]
        ok = [row for row in group if row["status"] == "ok" and not np.isnan(row["value"])]
        ladders: dict[tuple[Any, Any], list[float]] = {}
        for row in ok:  # a row without its instance is left out, as a group-by would
            if row["cell"] is not None and row["repetition"] is not None:
                ladders.setdefault((row["cell"], row["repetition"]), []).append(row["value"])
        per_ladder = np.array([np.median(ladders[ladder]) for ladder in sorted(ladders)], float)
        failed = [row for row in group if row["status"] == "failed"]
        reason = next((row["reason"] for row in failed if row["reason"] is not None), None)
        direction = next((str(row["direction"]) for row in group if row.get("direction")),
                         direction_of(key[2]))
        found[key] = Series(units.get(key[2], ""), per_ladder,
                            np.array([row["value"] for row in ok], float), len(failed),
                            None if reason is None else str(reason), direction)
    return found
