"""Results directories as pandas DataFrames, for the readers that want every sample in one
frame (the history store, export). Derived metrics come from bench.results.derived, as for
every other reader."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.results.derived import COLUMNS, TOTAL_PARTS, overhead_records
from bench.results.manifest import baseline_runtime, read_manifest
from bench.results.records import gc_paused, read_samples
from bench.results.units import direction_of

__all__ = ["COLUMNS", "load_samples", "memory_overhead", "with_directions"]


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
    """bench.results.derived.overhead_records on a frame's rows."""
    rows = frame[frame.metric.isin(TOTAL_PARTS)]
    records = [{str(column): value for column, value in row.items()}
               for row in rows.to_dict("records")]
    return pd.DataFrame(overhead_records(records, baseline), columns=COLUMNS)
