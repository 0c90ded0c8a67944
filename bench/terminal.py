"""The terminal: bench's two consoles (results on stdout, progress and errors on stderr) and
the summary table every command that ends a run prints.

Text that comes from input (names from a config or a results file, error messages that
quote them) reaches the terminal through `plain`: rich markup in it is shown, not obeyed
(`[/]` in a name crashed the table), and control characters become visible escapes (no
terminal escape sequence, no second line).
"""

from __future__ import annotations

import sys
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bench.results.text import visible

err = Console(stderr=True)
out = Console(width=None if sys.stdout.isatty() else 150)


def plain(text: str) -> str:
    """Input-derived text for a rich console: visible, with its markup escaped."""
    return escape(visible(text))


def print_summary(path: Path, console: Console) -> None:
    """The summary's headline rows as a terminal table (boot phases are left to the report)."""
    from bench.results.summary import summary_json
    from bench.results.units import format_interval, format_value

    table = Table(title=f"summary of {plain(path.name)}", title_justify="left")
    for column in ("runtime", "workload", "metric", "n", "median", "95% CI of median", "p90",
                   "failed"):
        table.add_column(column, justify="right" if column in {"n", "failed"} else "left")
    for row in summary_json(path):
        if row["metric"].startswith("boot.") and row["metric"] != "boot.total":
            continue
        unit = row["unit"]
        interval = format_interval(row["ci_low"], row["ci_high"], unit) if row["n"] else "-"
        metric = f"{row['metric']} @N={row['count']}" if "count" in row else row["metric"]
        table.add_row(plain(row["runtime"]), plain(row["workload"]), plain(metric), str(row["n"]),
                      format_value(row["median"], unit), interval, format_value(row["p90"], unit),
                      str(row["failed"]))
    console.print(table)
