"""One results directory as every reader sees it: per row, one figure per instance.

The gate, the summary contract and the report all read a run through load_run, so a script,
a CI verdict and the HTML page quote the same numbers. A row is (runtime, workload, metric);
density rows are (runtime, workload, metric, N), one per instance count. Each row keeps its
per-instance figures (the median of each instance's samples: the unit of observation) and
its ok samples (for distributions, and for a gate that is told to pool them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.results.groups import Groups, Key, Values, load_groups

__all__ = ["DensityKey", "Key", "Run", "Series", "Values", "load_run"]
from bench.results.manifest import baseline_runtime, read_manifest
from bench.results.units import direction_of

DensityKey = tuple[str, str, str, int]  # (runtime, workload, metric, N)
DENSITY = "density."
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
    path: Path
    manifest: dict[str, Any]
    series: dict[Key, Series]
    density: dict[DensityKey, Series] = field(default_factory=dict)
    detail: pd.DataFrame = field(default_factory=pd.DataFrame)  # every row but ok syscall samples

    @property
    def baseline(self) -> str | None:
        """The runtime ratios and memory.overhead are taken against (the process baseline)."""
        return baseline_runtime(self.manifest)

    def runtimes(self) -> set[str]:
        return {key[0] for key in self.series}


def load_run(path: Path) -> Run:
    """A results directory, read grouped (fast for a million samples), per instance."""
    manifest = read_manifest(path)
    groups = load_groups(path)
    reasons, directions = first_of(groups.detail, "reason"), first_of(groups.detail, "direction")
    series = {key: Series(groups.units.get(key[2], ""), groups.instances.get(key, EMPTY),
                          groups.values.get(key, EMPTY), groups.failed.get(key, 0),
                          reasons.get(key), directions.get(key) or direction_of(key[2]))
              for key in dict.fromkeys([*groups.values, *groups.failed])}
    return Run(path, manifest, series, density_series(groups), groups.detail)


def first_of(detail: pd.DataFrame, column: str) -> dict[Key, str]:
    """Per row, the first non-empty value of a column among its detail rows: the reason of a
    failure, the direction a workload metric's samples carry (bulk syscall rows, absent
    from the detail, take their family's)."""
    rows = detail if column == "direction" else detail[detail["status"] == "failed"]
    given = rows[rows[column].notna() & (rows[column] != "")]
    first = given.drop_duplicates(["runtime", "workload", "metric"])
    return {(str(r), str(w), str(m)): str(v) for r, w, m, v in
            zip(first["runtime"], first["workload"], first["metric"], first[column], strict=True)}


def density_count(phase: Any, repetition: Any) -> int:
    """N of a density row: its phase, a number (older files: the repetition)."""
    try:
        return int(str(phase))
    except ValueError:
        return int(repetition)


def density_series(groups: Groups) -> dict[DensityKey, Series]:
    """One row per runtime, workload, metric and N; each ladder (cell) is one instance."""
    rows = groups.detail[groups.detail["metric"].astype(str).str.startswith(DENSITY)]
    if rows.empty:
        return {}
    rows = rows.assign(count=[density_count(p, r) for p, r in
                              zip(rows["phase"], rows["repetition"], strict=True)])
    found: dict[DensityKey, Series] = {}
    for (runtime, workload, metric, count), group in rows.groupby(
            ["runtime", "workload", "metric", "count"], sort=True):
        ok = group[(group["status"] == "ok")].dropna(subset=["value"])
        per_ladder = ok.groupby(["cell", "repetition"], sort=True)["value"].median()
        failed = group[group["status"] == "failed"]
        reason = next(iter(failed["reason"].dropna()), None)
        found[(str(runtime), str(workload), str(metric), int(str(count)))] = Series(
            groups.units.get(str(metric), ""), per_ladder.to_numpy(float),
            ok["value"].to_numpy(float), len(failed), None if reason is None else str(reason),
            direction_of(str(metric)))
    return found
