"""The terminal: bench's two consoles (results on stdout, progress and errors on stderr) and
the summary table every command that ends a run prints."""

from __future__ import annotations

import sys
from pathlib import Path

from rich.console import Console

err = Console(stderr=True)
out = Console(width=None if sys.stdout.isatty() else 150)


def print_summary(path: Path, console: Console) -> None:
    """The summary's headline rows as a terminal table (bench.results.summary.summary_table)."""
    from bench.results.summary import summary_json, summary_table

    console.print(summary_table(summary_json(path), f"summary of {path.name}"))
