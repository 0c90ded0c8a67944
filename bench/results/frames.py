"""Results directories as pandas DataFrames: the bridge from the store to every reader.

Derived metrics live here, computed the same way for the summary, the report and the
gate: `memory.overhead` is an instance's total host cost (host PSS plus guest RAM) minus
the median cost of the idle probe run as a plain process in the same run and workload.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.results.manifest import baseline_runtime, read_manifest
from bench.results.records import gc_paused, read_samples
from bench.results.units import direction_of

COLUMNS = ["runtime", "workload", "metric", "unit", "value", "repetition", "phase", "status",
           "reason", "cell", "direction"]
TOTAL_PARTS = ("memory.host_pss", "memory.guest_ram")


def load_samples(path: Path) -> pd.DataFrame:
    """Every sample of a run (ok and failed), with derived memory.overhead rows appended."""
    manifest = read_manifest(path)
    with gc_paused():  # the parsed dicts are freed before the collector could walk them
        frame = pd.DataFrame(read_samples(path), columns=COLUMNS)
    frame = with_directions(frame.astype({"value": float}))
    derived = memory_overhead(frame, baseline_runtime(manifest))
    if len(derived) == 0:
        return frame
    combined: pd.DataFrame = pd.concat([frame, derived], ignore_index=True)
    return combined


def with_directions(frame: pd.DataFrame) -> pd.DataFrame:
    """Every row's direction: its own (a workload metric's), else its family's (results
    written before samples carried one)."""
    missing = frame.direction.isna() | (frame.direction == "")
    if missing.any():
        frame = frame.copy()
        frame.loc[missing, "direction"] = frame.loc[missing, "metric"].map(lambda m: direction_of(str(m)))
    return frame


def memory_overhead(frame: pd.DataFrame, baseline: str | None) -> pd.DataFrame:
    ok = frame[(frame.status == "ok") & frame.metric.isin(TOTAL_PARTS)]
    if baseline is None or ok.empty:
        return pd.DataFrame(columns=COLUMNS)
    totals = ok.groupby(["runtime", "workload", "cell", "repetition"], as_index=False)["value"].sum()
    base = totals[totals.runtime == baseline].groupby("workload")["value"].median()
    totals = totals[totals.workload.isin(base.index)].copy()
    totals["value"] = totals.value - totals.workload.map(base)
    totals["metric"], totals["unit"], totals["status"] = "memory.overhead", "bytes", "ok"
    totals["phase"], totals["reason"], totals["direction"] = None, None, "lower"
    derived: pd.DataFrame = totals[COLUMNS]
    return derived
