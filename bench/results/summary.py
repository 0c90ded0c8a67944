"""The summary contract (DESIGN.md): one row per runtime, workload and metric, as scripts,
reports, the gate and the history store read it."""

from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd

from bench.results.frames import load_samples
from bench.results.stats import summarize


def summary_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The summary contract (DESIGN.md): one row per runtime, workload and metric.

    Density metrics get one row per instance count, with the count in a `count` field.
    """
    frame = frame.assign(count=frame.phase.where(frame.metric.str.startswith("density."), ""))
    rows = []
    for (runtime, workload, metric, unit, count), group in frame.groupby(
            ["runtime", "workload", "metric", "unit", "count"], sort=True):
        values = group.loc[group.status == "ok", "value"].dropna()
        failed = int((group.status == "failed").sum())
        row: dict[str, Any] = {"runtime": runtime, "workload": workload, "metric": metric,
                               "unit": unit, "direction": str(group.direction.iloc[0]),
                               "failed": failed}
        if count:
            row["count"] = int(str(count))
        if len(values):
            row.update(asdict(summarize(values.to_numpy())))
        else:
            row.update(n=0, median=None, p90=None, p99=None, mean=None, ci_low=None, ci_high=None)
        rows.append(row)
    return sorted(rows, key=lambda r: (r["runtime"], r["workload"], r["metric"], r.get("count", 0)))


def summary_json(path: Path) -> list[dict[str, Any]]:
    """The contract rows of a results directory, NaN written as null (JSON has no NaN)."""
    rows = summary_rows(load_samples(path))
    return [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
            for row in rows]
