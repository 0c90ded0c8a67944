"""Results directories as pandas DataFrames: the bridge from the store to every reader.

Derived metrics live here, computed the same way for the summary, the report and the
gate: `memory.overhead` is an instance's total host cost (host PSS plus guest RAM) minus
the median cost of the idle probe run as a plain process in the same run and workload.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd

from bench.stats import summarize
from bench.store import SAMPLES, gc_paused, read_lines, read_manifest

COLUMNS = ["runtime", "workload", "metric", "unit", "value", "repetition", "phase", "status",
           "reason", "cell"]
TOTAL_PARTS = ("memory.host_pss", "memory.guest_ram")
BASELINE_DRIVER = "process"


def baseline_runtime(manifest: dict[str, Any]) -> str | None:
    """The config's baseline, else the first runtime of the run whose driver is the plain process."""
    config = manifest.get("config", {})
    if config.get("baseline"):
        return str(config["baseline"])
    runtimes = config.get("runtimes", {})
    return next((name for name, spec in runtimes.items() if spec.get("driver") == BASELINE_DRIVER),
                None)


def load_samples(path: Path) -> pd.DataFrame:
    """Every sample of a run (ok and failed), with derived memory.overhead rows appended."""
    manifest = read_manifest(path)
    with gc_paused():  # the parsed dicts are freed before the collector could walk them
        frame = pd.DataFrame(read_lines(path, SAMPLES), columns=COLUMNS)
    frame = frame.astype({"value": float})
    derived = memory_overhead(frame, baseline_runtime(manifest))
    if len(derived) == 0:
        return frame
    combined: pd.DataFrame = pd.concat([frame, derived], ignore_index=True)
    return combined


def memory_overhead(frame: pd.DataFrame, baseline: str | None) -> pd.DataFrame:
    ok = frame[(frame.status == "ok") & frame.metric.isin(TOTAL_PARTS)]
    if baseline is None or ok.empty:
        return pd.DataFrame(columns=COLUMNS)
    totals = ok.groupby(["runtime", "workload", "cell", "repetition"], as_index=False)["value"].sum()
    base = totals[totals.runtime == baseline].groupby("workload")["value"].median()
    totals = totals[totals.workload.isin(base.index)].copy()
    totals["value"] = totals.value - totals.workload.map(base)
    totals["metric"], totals["unit"], totals["status"] = "memory.overhead", "bytes", "ok"
    totals["phase"], totals["reason"] = None, None
    derived: pd.DataFrame = totals[COLUMNS]
    return derived


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
                               "unit": unit, "failed": failed}
        if count:
            row["count"] = int(str(count))
        if len(values):
            row.update(asdict(summarize(values.to_numpy())))
        else:
            row.update(n=0, median=None, p90=None, p99=None, mean=None, ci_low=None, ci_high=None)
        rows.append(row)
    return sorted(rows, key=lambda r: (r["runtime"], r["workload"], r["metric"], r.get("count", 0)))
