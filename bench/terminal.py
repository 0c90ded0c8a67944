"""The terminal: bench's two consoles (results on stdout, progress and errors on stderr) and
the summary table every command that ends a run prints.

Text that comes from input (names from a config or a results file, error messages that
quote them) reaches the terminal through `plain`: rich markup in it is shown, not obeyed
(`[/]` in a name crashed the table), and control characters become visible escapes (no
terminal escape sequence, no second line).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape

from bench.results.text import visible

if TYPE_CHECKING:
    from bench.results.run import Run

err = Console(stderr=True)
out = Console(width=None if sys.stdout.isatty() else 150)


def plain(text: str) -> str:
    """Input-derived text for a rich console: visible, with its markup escaped."""
    return escape(visible(text))


def print_summary(run: Run, console: Console) -> None:
    """The summary's headline rows as a terminal table (bench.results.summary.summary_table),
    and on stderr, the lines of samples.jsonl that were read as failed rows."""
    from bench.results.summary import run_summary_json, summary_table

    console.print(summary_table(run_summary_json(run), f"summary of {plain(run.path.name)}"))
    warn_invalid(run)


def warn_invalid(run: Run) -> None:
    from bench.results.summary import invalid_note

    note = invalid_note(run)
    if note:
        err.print(f"bench: {plain(note)}", soft_wrap=True)
