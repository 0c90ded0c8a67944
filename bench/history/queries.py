"""Reading the history store: runs by filter, one run's rows, rows for export and trends, pruning.

The run list never reads the manifests (a few kB each): it selects the key columns only,
newest first, so a store of thousands of runs answers at once. "Newest" is by the store's
own clock (`received`), never by what a run says of itself (`created`).

Every value read back is checked (bench.history.reading): a run the store holds in a shape
bench never writes is a CorruptRun. Readers of many runs take a `skipped` list: such a
run goes there and the rest are read; without one, the first raises.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from types import NoneType
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import ColumnElement, Select, and_, delete, exists, func, select

from bench.history.database import Store
from bench.history.reading import (
    BadValue,
    CorruptRun,
    document,
    finite_or_none,
    integer,
    manifest,
    mapping,
    number,
    raw,
    run_label,
    text,
    text_or_none,
)
from bench.history.schema import row_table, run_table
from bench.history.urls import redacted
from foundation.errors import HistoryError

if TYPE_CHECKING:
    from typing import TypeAlias

    from sqlalchemy import Row

    from bench.results.manifest import Manifest

    AnyRow: TypeAlias = Row[*tuple[Any, ...]]

T = TypeVar("T")
DELETE_CHUNK = 500
RUN_ORIGIN = "run"  # bench.history.record.RUN: `bench run` recorded it where it ran


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
    created: float  # what the run says of its start (checked at import, shown, not ordered by)
    received: float  # when the store first got it, by the store's clock
    hostname: str
    host_hash: str
    config_name: str
    config_hash: str
    branch: str | None
    commit: str | None
    status: str
    path: str
    origin: str | None  # "run", "import", or None (recorded before schema revision 0003)
    source: str | None  # the host and directory it was recorded from


RUN_COLUMNS = [getattr(run_table.c, f.name) for f in fields(RunLine)]
OPTIONAL = frozenset({"branch", "commit", "origin", "source"})
NUMBERS = frozenset({"created", "received"})
NEWEST_FIRST = (run_table.c.received.desc().nulls_last(), run_table.c.run_id)
OLDEST_FIRST = (run_table.c.received, run_table.c.run_id)


def run_line(row: AnyRow) -> RunLine:
    """A run's key columns, each checked (BadValue names the first that is not as written)."""
    found = row._mapping
    values: dict[str, Any] = {}
    for name in (f.name for f in fields(RunLine)):
        value = found[name]
        values[name] = (number(value, name) if name in NUMBERS else
                        text_or_none(value, name) if name in OPTIONAL else text(value, name))
    return RunLine(**values)


def corrupt(store: Store, row: AnyRow, problem: BadValue) -> CorruptRun:
    return CorruptRun(store.name, run_label(row._mapping["run_id"]), str(problem))


def keep_or_skip(error: CorruptRun, skipped: list[CorruptRun] | None) -> None:
    """A corrupt run: noted in `skipped` when the caller reads on, else raised."""
    if skipped is None:
        raise error
    if all(error.run_id != known.run_id for known in skipped):
        skipped.append(error)


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


def checked(store: Store, query: Select[Any], read: Callable[[AnyRow], T],
            skipped: list[CorruptRun] | None) -> list[T]:
    """What `read` makes of each row; a row it finds damaged names its run in `skipped`
    (or raises, without a list to note it in)."""
    found = []
    with store.reading() as connection:
        for row in connection.execute(query):
            try:
                found.append(read(row))
            except BadValue as problem:
                keep_or_skip(corrupt(store, row, problem), skipped)
    return found


def list_runs(store: Store, filters: Filters, limit: int | None = None,
              skipped: list[CorruptRun] | None = None) -> list[RunLine]:
    """Runs matching the filters, newest first (at most `limit`)."""
    query = runs_query(filters).order_by(*NEWEST_FIRST)
    if limit:
        query = query.limit(limit)
    return checked(store, query, run_line, skipped)


def count_runs(store: Store, filters: Filters) -> int:
    query = select(func.count()).select_from(runs_query(filters).subquery())
    with store.reading() as connection:
        return int(connection.execute(query).scalar_one())


def find_run(store: Store, run: str) -> tuple[RunLine, dict[str, Any], list[dict[str, Any]]]:
    """A run by id (or an unambiguous start of one): its line, manifest and summary rows."""
    with store.reading() as connection:
        matches = connection.execute(
            select(run_table.c.id, *RUN_COLUMNS, raw(run_table.c.manifest))
            .where(run_table.c.run_id.startswith(run, autoescape=True)).limit(6)).all()
        if not matches:
            raise HistoryError(store.name, f"no run {run!r}")
        if len(matches) > 1 and not any(m.run_id == run for m in matches):
            shown = ", ".join(m.run_id for m in matches[:5])
            raise HistoryError(store.name, f"{run!r} is the start of several runs ({shown})")
        chosen = next((m for m in matches if m.run_id == run), matches[0])
        rows = connection.execute(select(raw(row_table.c.data)).where(row_table.c.run_pk == chosen.id)
                                  .order_by(row_table.c.runtime, row_table.c.workload,
                                            row_table.c.metric, row_table.c.count)).scalars().all()
    try:
        line = run_line(chosen)
        stored = mapping(chosen.manifest, "manifest")
        data = [mapping(row, "a summary row's data") for row in rows]
    except BadValue as problem:
        raise corrupt(store, chosen, problem) from None
    return line, redacted(stored), data


def export_rows(store: Store, filters: Filters,
                skipped: list[CorruptRun] | None = None) -> list[dict[str, Any]]:
    """Summary rows of the selected runs, each with its run's keys, oldest run first."""
    query = (select(*RUN_COLUMNS, raw(row_table.c.data))
             .join(row_table, row_table.c.run_pk == run_table.c.id)
             .where(*run_conditions(filters), *row_conditions(filters))
             .order_by(*OLDEST_FIRST, row_table.c.runtime, row_table.c.workload,
                       row_table.c.metric, row_table.c.count))
    return checked(store, query, lambda row: {**vars(run_line(row)),
                                              **mapping(row.data, "a summary row's data")},
                   skipped)


@dataclass(frozen=True)
class Point:
    """One run's median of one row, with its interval: a point of a trend chart."""

    run_id: str
    created: float
    received: float
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


POINT_COLUMNS = [run_table.c.run_id, run_table.c.created, run_table.c.received, run_table.c.hostname,
                 run_table.c.host_hash,
                 run_table.c.commit, run_table.c.branch, run_table.c.path, row_table.c.runtime,
                 row_table.c.workload, row_table.c.metric, row_table.c.unit, row_table.c.median,
                 row_table.c.ci_low, row_table.c.ci_high, row_table.c.n]


# what each of POINT_COLUMNS holds when bench wrote it (a store holds thousands of points:
# they are checked all at once, and one by one only when that fails, to say which is wrong)
POINT_TYPES: tuple[type | tuple[type, ...], ...] = (
    str, float, float, str, str, (str, NoneType), (str, NoneType), str, str, str, str, str,
    float, (float, NoneType), (float, NoneType), int)


def point_of(row: AnyRow) -> Point:
    values = tuple(row)
    if (all(map(isinstance, values, POINT_TYPES)) and not isinstance(values[-1], bool)
            and all(math.isfinite(v) for v in values[12:15] if v is not None)):
        return Point(*values)
    return checked_point(row)


def checked_point(row: AnyRow) -> Point:
    """A point whose values are not all as bench writes them: the first that is not, named."""
    found = row._mapping
    median = finite_or_none(found["median"], "median")
    if median is None:
        raise BadValue("median is missing")
    return Point(
        text(found["run_id"], "run_id"), number(found["created"], "created"),
        number(found["received"], "received"), text(found["hostname"], "hostname"),
        text(found["host_hash"], "host_hash"), text_or_none(found["commit"], "commit"),
        text_or_none(found["branch"], "branch"), text(found["path"], "path"),
        text(found["runtime"], "runtime"), text(found["workload"], "workload"),
        text(found["metric"], "metric"), text(found["unit"], "unit"), median,
        finite_or_none(found["ci_low"], "ci_low"), finite_or_none(found["ci_high"], "ci_high"),
        integer(found["n"], "n"))


def trend_points(store: Store, filters: Filters,
                 skipped: list[CorruptRun] | None = None) -> list[Point]:
    """Medians of every (non-density) row the filters select, oldest first (in the order
    the store received the runs)."""
    query = (select(*POINT_COLUMNS).join(row_table, row_table.c.run_pk == run_table.c.id)
             .where(*run_conditions(filters), *row_conditions(filters), row_table.c.count == 0,
                    row_table.c.median.is_not(None))
             .order_by(*OLDEST_FIRST))
    return checked(store, query, point_of, skipped)


def comparable_condition(host_hash: str, config_hash: str, exclude: str) -> ColumnElement[bool]:
    return and_(run_table.c.host_hash == host_hash, run_table.c.config_hash == config_hash,
                run_table.c.run_id != exclude)


def comparable_runs(store: Store, host_hash: str, config_hash: str, exclude: str, limit: int,
                    imported: bool = False, skipped: list[CorruptRun] | None = None,
                    ) -> list[tuple[RunLine, Manifest]]:
    """The newest runs of this host fingerprint and config hash, other than `exclude`: only
    those `bench run` recorded where they ran, unless `imported` (then every origin)."""
    query = select(*RUN_COLUMNS, raw(run_table.c.manifest)).where(
        comparable_condition(host_hash, config_hash, exclude))
    if not imported:
        query = query.where(run_table.c.origin == RUN_ORIGIN)
    return checked(store, query.order_by(*NEWEST_FIRST).limit(limit),
                   lambda row: (run_line(row), manifest(row.manifest, "manifest")), skipped)


def count_not_recorded_here(store: Store, host_hash: str, config_hash: str, exclude: str) -> int:
    """Comparable runs that `bench run` did not record where they ran: imported, or recorded
    before the store kept the origin (schema revision 0003)."""
    query = (select(func.count()).select_from(run_table)
             .where(comparable_condition(host_hash, config_hash, exclude),
                    (run_table.c.origin != RUN_ORIGIN) | run_table.c.origin.is_(None)))
    with store.reading() as connection:
        return int(connection.execute(query).scalar_one())


def row_instances(store: Store, run_ids: Sequence[str]) -> dict[str, dict[tuple[str, str, str],
                                                                       list[float] | None]]:
    """Per run: each row's observations per instance (None where the store has none)."""
    query = (select(run_table.c.run_id, row_table.c.runtime, row_table.c.workload, row_table.c.metric,
                    raw(row_table.c.instances))
             .join(row_table, row_table.c.run_pk == run_table.c.id)
             .where(run_table.c.run_id.in_(list(run_ids)), row_table.c.count == 0))
    found: dict[str, dict[tuple[str, str, str], list[float] | None]] = {r: {} for r in run_ids}
    with store.reading() as connection:
        for run_id, runtime, workload, metric, instances in connection.execute(query):
            found[run_id][(runtime, workload, metric)] = observations(instances)
    return found


def observations(value: Any) -> list[float] | None:
    """A row's stored observations per instance; None where there are none, or where what
    is stored is not a list of finite numbers (the gate then leaves that run's row out)."""
    try:
        found = document(value, "instances")
        numbers = [number(item, "instances") for item in found] if isinstance(found, list) else []
    except BadValue:
        return None
    return numbers if numbers and all(map(math.isfinite, numbers)) else None


def prune_plan(store: Store, keep: int, filters: Filters,
               skipped: list[CorruptRun] | None = None) -> list[RunLine]:
    """The runs beyond the newest `keep` (by the store's clock) of each host fingerprint,
    config hash and origin: imported runs never push out the runs `bench run` recorded
    (nor those recorded before the origin was kept), whatever they claim."""
    seen: dict[tuple[str, str, str | None], int] = {}
    doomed = []
    for line in checked(store, runs_query(filters).order_by(*NEWEST_FIRST), run_line, skipped):
        series = (line.host_hash, line.config_hash, line.origin)
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
