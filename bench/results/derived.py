"""Derived metrics, computed the same way for the summary, the report and the gate, on plain
sample records (no pandas: `bench gate` reads runs through here without loading it).

`memory.overhead` is an instance's total host cost (host PSS plus guest RAM) minus the
median cost of the idle probe run as a plain process in the same run and workload.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

Record = dict[str, Any]
COLUMNS = ["runtime", "workload", "metric", "unit", "value", "repetition", "phase", "status",
           "reason", "cell", "direction"]
TOTAL_PARTS = ("memory.host_pss", "memory.guest_ram")


def overhead_records(records: Iterable[Record], baseline: str | None) -> list[Record]:
    """memory.overhead rows, one per instance (runtime, workload, cell, repetition) in that
    order: the sum of its memory parts less the baseline runtime's median sum in the same
    workload. An instance with a missing key column is left out, as a group-by would."""
    totals: dict[tuple[Any, Any, Any, Any], float] = {}
    for row in records:
        if row.get("status") != "ok" or row.get("metric") not in TOTAL_PARTS:
            continue
        key = (row.get("runtime"), row.get("workload"), row.get("cell"), row.get("repetition"))
        if any(part is None or (isinstance(part, float) and math.isnan(part)) for part in key):
            continue
        value = math.nan if row.get("value") is None else float(row["value"])
        totals[key] = totals.get(key, 0.0) + (0.0 if math.isnan(value) else value)
    if baseline is None or not totals:
        return []
    per_workload: dict[Any, list[float]] = {}
    for (runtime, workload, _, _), total in totals.items():
        if runtime == baseline:
            per_workload.setdefault(workload, []).append(total)
    base = {workload: float(np.median(values)) for workload, values in per_workload.items()}
    return [{"runtime": runtime, "workload": workload, "metric": "memory.overhead",
             "unit": "bytes", "value": total - base[workload], "repetition": repetition,
             "phase": None, "status": "ok", "reason": None, "cell": cell, "direction": "lower"}
            for (runtime, workload, cell, repetition), total in sorted(totals.items(), key=order)
            if workload in base]


def order(item: tuple[tuple[Any, Any, Any, Any], float]) -> tuple[str, str, float, float]:
    runtime, workload, cell, repetition = item[0]
    return str(runtime), str(workload), float(cell), float(repetition)
