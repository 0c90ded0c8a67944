"""`bench summary`: the summary contract as JSON, or as a terminal table."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from reports.frames import load_samples, summary_rows
from reports.html import format_value


def summary_json(path: Path) -> list[dict[str, Any]]:
    rows = summary_rows(load_samples(path))
    return [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
            for row in rows]


def print_summary(path: Path, console: Console) -> None:
    rows = summary_json(path)
    table = Table(title=f"summary of {path.name}", title_justify="left")
    for column in ("runtime", "workload", "metric", "n", "median", "95% CI of median", "p90",
                   "failed"):
        table.add_column(column, justify="right" if column in {"n", "failed"} else "left")
    for row in rows:
        if row["metric"].startswith("boot.") and row["metric"] != "boot.total":
            continue  # phases belong in the report; the table keeps the headline numbers
        unit = row["unit"]
        interval = (f"{format_value(row['ci_low'], unit)} .. {format_value(row['ci_high'], unit)}"
                    if row["n"] else "-")
        metric = f"{row['metric']} @N={row['count']}" if "count" in row else row["metric"]
        table.add_row(row["runtime"], row["workload"], metric, str(row["n"]),
                      format_value(row["median"], unit), interval, format_value(row["p90"], unit),
                      str(row["failed"]))
    console.print(table)
