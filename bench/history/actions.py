"""What `bench history import|list|show|export|prune` do, and the recording step after
`bench run`. Each action takes the store as a StoreChoice (bench.history): the command line
(bench/commands/history.py) names it, and only bench.cli reads the environment.
"""

from __future__ import annotations

import csv
import io
import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from bench.history.times import is_number, shown_time
from bench.results.text import visible
from foundation.errors import BenchError, ConfigError, HistoryError
from foundation.files import write_output

if TYPE_CHECKING:  # SQLAlchemy loads only for the commands that open a store
    from bench.history import StoreChoice
    from bench.history.queries import Filters, RunLine
    from bench.history.reading import CorruptRun
    from bench.results.run import Run

out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, soft_wrap=True)  # a message is one line, however long


def say(line: str) -> None:
    """One line on stderr, as it is: no markup, no control character (bench.results.text)."""
    err.print(visible(line), markup=False, highlight=False, soft_wrap=True)


def said_skipped(skipped: list[CorruptRun]) -> int:
    """One line per run the store holds in a shape bench never writes; 2 when there was one."""
    for error in skipped:
        say(f"bench: {error}")
    return 2 if skipped else 0


def import_results(choice: StoreChoice, folders: list[Path]) -> int:
    from bench.history.record import IMPORT, record_run

    refused = 0
    with choice.open() as store:
        for folder in folders:
            try:
                done = record_run(store, folder, IMPORT)
            except HistoryError:
                raise  # the store itself failed: stop here
            except BenchError as error:
                refused += 1
                say(f"bench: {error}")
                continue
            rows = f" ({done.rows} rows)" if done.rows else ""
            out.print(visible(f"{done.outcome} {done.run_id}{rows}: {folder}"), markup=False,
                      highlight=False)
    say(f"store: {store.name}")
    return 2 if refused else 0


def list_store(choice: StoreChoice, filters: Filters, limit: int, as_json: bool) -> int:
    """The newest `limit` runs (0: all) that match, as a table or JSON."""
    from bench.history.queries import count_runs, list_runs

    skipped: list[CorruptRun] = []
    with choice.open() as store:
        runs = list_runs(store, filters, limit if limit > 0 else None, skipped)
        total = count_runs(store, filters) if limit > 0 and len(runs) == limit else None
    if as_json:
        print(json.dumps([vars(run) for run in runs], indent=2))
        return said_skipped(skipped)
    print(f"{len(runs)} run(s) in {store.name}, newest first (by when the store received them)")
    print(plain_table(RUN_HEAD, [run_cells(run) for run in runs]))
    if total is not None and total > len(runs):
        err.print(f"{len(runs)} of {total} runs shown; --limit 0 lists them all")
    return said_skipped(skipped)


RUN_HEAD = ("run", "received (UTC)", "started (UTC)", "host", "config", "branch", "commit",
            "status", "origin")
ORIGINS = {"run": "run here", "import": "imported"}


def run_cells(run: RunLine) -> tuple[str, ...]:
    """A run's cells as a terminal may show them: every string from the store made visible."""
    cells = (run.run_id, shown_time(run.received), shown_time(run.created),
             f"{run.hostname} {run.host_hash[:8]}", f"{run.config_name} {run.config_hash[:8]}",
             run.branch or "-", (run.commit or "-")[:12], run.status,
             ORIGINS.get(run.origin or "", run.origin or "unknown"))
    return tuple(visible(cell) for cell in cells)


def runs_table(runs: list[RunLine], name: str) -> Table:
    table = Table(title=Text(f"{len(runs)} run(s) in {name}"), title_justify="left")
    for column in RUN_HEAD:
        table.add_column(column)
    for run in runs:
        table.add_row(*map(Text, run_cells(run)))
    return table


def plain_table(head: tuple[str, ...], lines: list[tuple[str, ...]]) -> str:
    """Aligned columns, no markup: a thousand lines print at once (a rich Table of 50 takes
    a third of a second to lay out)."""
    widths = [max(len(cell) for cell in column) for column in zip(head, *lines, strict=True)]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True))
                     .rstrip() for line in [head, *lines])


def show_run(choice: StoreChoice, run_id: str, as_json: bool) -> int:
    """One run (its id or an unambiguous start): its keys and summary rows."""
    from bench.history.queries import find_run

    with choice.open() as store:
        run, manifest, rows = find_run(store, run_id)
    if as_json:
        print(json.dumps({"run": vars(run), "manifest": manifest, "rows": rows}, indent=2,
                         default=str))
        return 0
    out.print(runs_table([run], store.name))
    for label, value in (("results directory", run.path), ("recorded from", run.source or "-")):
        out.print(visible(f"{label}: {value}"), markup=False, highlight=False)
    table = Table(title="summary rows", title_justify="left")
    for column in ("runtime", "workload", "metric", "n", "median", "95% CI of median", "failed"):
        table.add_column(column)
    for row in rows:
        table.add_row(*map(Text, row_cells(row)))
    out.print(table)
    return 0


def row_cells(row: dict[str, Any]) -> tuple[str, ...]:
    """A stored summary row as text a terminal shows as it is, whatever the row holds."""
    from bench.results.numbers import format_interval, format_value

    def figure(key: str) -> float | None:
        value = row.get(key)
        return float(value) if is_number(value) and math.isfinite(value) else None

    unit = str(row.get("unit") or "")
    median, low, high = figure("median"), figure("ci_low"), figure("ci_high")
    metric = f"{row.get('metric')} @N={row['count']}" if "count" in row else str(row.get("metric"))
    cells = (str(row.get("runtime")), str(row.get("workload")), metric, str(row.get("n")),
             "-" if median is None else format_value(median, unit),
             "-" if low is None or high is None else format_interval(low, high, unit),
             str(row.get("failed")))
    return tuple(visible(cell) for cell in cells)


def export_store(choice: StoreChoice, filters: Filters, form: str, output: Path | None) -> int:
    """The summary rows of the runs that match, as CSV (`form` csv) or JSON, into `output`
    (default: stdout)."""
    from bench.history.queries import export_rows

    skipped: list[CorruptRun] = []
    with choice.open() as store:
        rows = export_rows(store, filters, skipped)
    if not output and sys.stdout.isatty():  # a terminal would obey what text holds
        rows = [{key: visible(value) if isinstance(value, str) else value
                 for key, value in row.items()} for row in rows]  # (JSON escapes it anyway)
    text = as_csv(rows) if form == "csv" else json.dumps(rows, indent=2, default=str) + "\n"
    if output:
        write_output(output, text)
        say(f"{len(rows)} rows written to {output}")
    else:  # a file or a pipe gets the data as it is
        sys.stdout.write(text)
    return said_skipped(skipped)


def as_csv(rows: list[dict[str, Any]]) -> str:
    """One line per row; columns in first-seen order (nested values as JSON)."""
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: json.dumps(value) if isinstance(value, dict | list) else value
                         for key, value in row.items()})
    return buffer.getvalue()


def prune_store(choice: StoreChoice, keep: int, filters: Filters, dry_run: bool) -> int:
    """Keep the newest `keep` runs of each host, config and origin among those that match."""
    from bench.history.queries import delete_runs, prune_plan

    if keep < 1:
        raise ConfigError("--keep: at least 1 (a series with no run left has no history)")
    skipped: list[CorruptRun] = []
    with choice.open() as store:
        doomed = prune_plan(store, keep, filters, skipped)
        if doomed and not dry_run:
            delete_runs(store, [run.run_id for run in doomed])
    verb = "would delete" if dry_run else "deleted"
    for run in doomed:
        out.print(visible(f"{verb} {run.run_id} received {shown_time(run.received)} "
                          f"{run.hostname} {run.config_name}"), markup=False, highlight=False)
    out.print(f"{len(doomed)} run(s) {verb}; the newest {keep} of each host, config and "
              "origin kept (newest: received last by the store)", markup=False, highlight=False)
    return said_skipped(skipped)


def record_after_run(run: Run, url_name: str, default_path: Path, required: bool) -> int:
    """`bench run`'s last step: record the run it loaded. An unreachable or refused store
    keeps the results directory, says so in one line, and fails the run only when
    `required`."""
    from bench.history.database import open_store
    from bench.history.location import store_url
    from bench.history.record import RUN, record_run

    try:
        with open_store(store_url(url_name, default_path)) as store:
            done = record_run(store, run, RUN)
    except BenchError as error:  # the store, or what it refused of the run
        level = "error" if required else "warning"
        say(f"bench: {level}: {error}; the run was not recorded, its results are kept in "
            f"{run.path}")
        return error.exit_code if required else 0
    say(f"history: {done.outcome} run {done.run_id} in {store.name}")
    return 0

