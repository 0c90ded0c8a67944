"""Reading the history store: runs by filter, one run's rows, rows for export and trends, pruning.

The run list never reads the manifests (a few kB each): it selects the key columns only,
newest first, so a store of thousands of runs answers at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, delete, exists, select

from bench.history.schema import row_table, run_table
from bench.history.store import Store
from foundation.errors import HistoryError

DELETE_CHUNK = 500


@dataclass(frozen=True)
class Filters:
    """What `list`, `export`, `trend` and `prune` select. Patterns use * and ? (fnmatch)."""

    host: str | None = None  # a host name, or the start of a host fingerprint hash
    runtime: str | None = None
    workload: str | None = None
    metric: str | None = None
    branch: str | None = None
    config: str | None = None  # a config name, or the start of a config hash
    since: float | None = None  # epoch seconds, inclusive
    until: float | None = None  # epoch seconds, exclusive


@dataclass(frozen=True)
class RunLine:
    """One run as `bench history list` shows it."""

    run_id: str
    created: float
    hostname: str
    host_hash: str
    config_name: str
    config_hash: str
    branch: str | None
    commit: str | None
    status: str
    path: str


RUN_COLUMNS = [getattr(run_table.c, f.name) for f in fields(RunLine)]


def like(pattern: str) -> str:
    """An fnmatch pattern as a LIKE pattern (\\ escapes LIKE's own wildcards)."""
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


def row_conditions(filters: Filters) -> list[ColumnElement[bool]]:
    found: list[ColumnElement[bool]] = []
    for column, pattern in ((row_table.c.runtime, filters.runtime),
                            (row_table.c.workload, filters.workload),
                            (row_table.c.metric, filters.metric)):
        if pattern:
            found.append(column.like(like(pattern), escape="\\"))
    return found


def run_conditions(filters: Filters) -> list[ColumnElement[bool]]:
    found: list[ColumnElement[bool]] = []
    if filters.host:
        found.append((run_table.c.hostname == filters.host)
                     | run_table.c.host_hash.startswith(filters.host, autoescape=True))
    if filters.config:
        found.append((run_table.c.config_name == filters.config)
                     | run_table.c.config_hash.startswith(filters.config, autoescape=True))
    if filters.branch:
        found.append(run_table.c.branch.like(like(filters.branch), escape="\\"))
    if filters.since is not None:
        found.append(run_table.c.created >= filters.since)
    if filters.until is not None:
        found.append(run_table.c.created < filters.until)
    return found


def runs_query(filters: Filters) -> Select[Any]:
    query = select(*RUN_COLUMNS).where(*run_conditions(filters))
    rows = row_conditions(filters)
    if rows:
        query = query.where(exists().where(row_table.c.run_pk == run_table.c.id, *rows))
    return query


def list_runs(store: Store, filters: Filters, limit: int | None = None) -> list[RunLine]:
    """Runs matching the filters, newest first (at most `limit`)."""
    query = runs_query(filters).order_by(run_table.c.created.desc(), run_table.c.run_id)
    if limit:
        query = query.limit(limit)
    with store.reading() as connection:
        return [RunLine(*row) for row in connection.execute(query)]


def count_runs(store: Store, filters: Filters) -> int:
    from sqlalchemy import func

    query = select(func.count()).select_from(runs_query(filters).subquery())
    with store.reading() as connection:
        return int(connection.execute(query).scalar_one())


def find_run(store: Store, run: str) -> tuple[RunLine, dict[str, Any], list[dict[str, Any]]]:
    """A run by id (or an unambiguous start of one): its line, manifest and summary rows."""
    with store.reading() as connection:
        matches = connection.execute(
            select(run_table.c.id, *RUN_COLUMNS, run_table.c.manifest)
            .where(run_table.c.run_id.startswith(run, autoescape=True)).limit(6)).all()
        if not matches:
            raise HistoryError(store.name, f"no run {run!r}")
        if len(matches) > 1 and not any(m.run_id == run for m in matches):
            shown = ", ".join(m.run_id for m in matches[:5])
            raise HistoryError(store.name, f"{run!r} is the start of several runs ({shown})")
        chosen = next((m for m in matches if m.run_id == run), matches[0])
        rows = connection.execute(select(row_table.c.data).where(row_table.c.run_pk == chosen.id)
                                  .order_by(row_table.c.runtime, row_table.c.workload,
                                            row_table.c.metric, row_table.c.count)).scalars().all()
    line = RunLine(*[getattr(chosen, f.name) for f in fields(RunLine)])
    return line, dict(chosen.manifest), [dict(row) for row in rows]


def export_rows(store: Store, filters: Filters) -> list[dict[str, Any]]:
    """Summary rows of the selected runs, each with its run's keys, oldest run first."""
    query = (select(*RUN_COLUMNS, row_table.c.data).join(row_table, row_table.c.run_pk == run_table.c.id)
             .where(*run_conditions(filters), *row_conditions(filters))
             .order_by(run_table.c.created, run_table.c.run_id, row_table.c.runtime,
                       row_table.c.workload, row_table.c.metric, row_table.c.count))
    names = [f.name for f in fields(RunLine)]
    with store.reading() as connection:
        return [{**dict(zip(names, row[:-1], strict=True)), **row[-1]}
                for row in connection.execute(query)]


@dataclass(frozen=True)
class Point:
    """One run's median of one row, with its interval: a point of a trend chart."""

    run_id: str
    created: float
    hostname: str
    host_hash: str
    commit: str | None
    branch: str | None
    path: str
    runtime: str
    workload: str
    metric: str
    unit: str
    median: float
    ci_low: float | None
    ci_high: float | None
    n: int


POINT_COLUMNS = [run_table.c.run_id, run_table.c.created, run_table.c.hostname, run_table.c.host_hash,
                 run_table.c.commit, run_table.c.branch, run_table.c.path, row_table.c.runtime,
                 row_table.c.workload, row_table.c.metric, row_table.c.unit, row_table.c.median,
                 row_table.c.ci_low, row_table.c.ci_high, row_table.c.n]


def trend_points(store: Store, filters: Filters) -> list[Point]:
    """Medians over time of every (non-density) row the filters select, oldest first."""
    query = (select(*POINT_COLUMNS).join(row_table, row_table.c.run_pk == run_table.c.id)
             .where(*run_conditions(filters), *row_conditions(filters), row_table.c.count == 0,
                    row_table.c.median.is_not(None))
             .order_by(run_table.c.created, run_table.c.run_id))
    with store.reading() as connection:
        return [Point(**row._mapping) for row in connection.execute(query)]


def comparable_runs(store: Store, host_hash: str, config_hash: str, exclude: str,
                    limit: int) -> list[tuple[RunLine, dict[str, Any]]]:
    """The newest runs of this host fingerprint and config hash, other than `exclude`."""
    query = (select(*RUN_COLUMNS, run_table.c.manifest)
             .where(and_(run_table.c.host_hash == host_hash, run_table.c.config_hash == config_hash,
                         run_table.c.run_id != exclude))
             .order_by(run_table.c.created.desc(), run_table.c.run_id).limit(limit))
    with store.reading() as connection:
        return [(RunLine(*row[:-1]), dict(row[-1])) for row in connection.execute(query)]


def row_instances(store: Store, run_ids: Sequence[str]) -> dict[str, dict[tuple[str, str, str],
                                                                       list[float] | None]]:
    """Per run: each row's observations per instance (None where the store has none)."""
    query = (select(run_table.c.run_id, row_table.c.runtime, row_table.c.workload, row_table.c.metric,
                    row_table.c.instances)
             .join(row_table, row_table.c.run_pk == run_table.c.id)
             .where(run_table.c.run_id.in_(list(run_ids)), row_table.c.count == 0))
    found: dict[str, dict[tuple[str, str, str], list[float] | None]] = {r: {} for r in run_ids}
    with store.reading() as connection:
        for run_id, runtime, workload, metric, instances in connection.execute(query):
            found[run_id][(runtime, workload, metric)] = instances
    return found


def prune_plan(store: Store, keep: int, filters: Filters) -> list[RunLine]:
    """The runs beyond the newest `keep` of each host fingerprint and config hash."""
    query = runs_query(filters).order_by(run_table.c.created.desc(), run_table.c.run_id)
    seen: dict[tuple[str, str], int] = {}
    doomed = []
    with store.reading() as connection:
        for row in connection.execute(query):
            line = RunLine(*row)
            series = (line.host_hash, line.config_hash)
            seen[series] = seen.get(series, 0) + 1
            if seen[series] > keep:
                doomed.append(line)
    return doomed


def delete_runs(store: Store, run_ids: Sequence[str]) -> None:
    """Deletes runs and (by cascade) their rows, in one transaction."""
    with store.writing() as connection:
        for start in range(0, len(run_ids), DELETE_CHUNK):
            chunk = list(run_ids[start:start + DELETE_CHUNK])
            connection.execute(delete(run_table).where(run_table.c.run_id.in_(chunk)))
