"""Recording a results directory into the store: one transaction per run, idempotent.

A run is keyed by its run id. Recording the same directory again changes nothing (its
digest, over the manifest and the samples, is unchanged); a run that changed since
(resumed, completed) replaces its earlier record in the same transaction, keeping the time
the store first received it. A *different* run with an id already there (another start
time, host or config) is refused in one line, never swapped in. Two writers of the same
run at once: the run id's unique key lets one insert, and the other, retrying, finds it.

What a directory claims is checked first: its times must be times bench could have run at
(bench.history.times), and the store stamps each run with its own clock (`received`) and
its origin: "run" when `bench run` records what it just ran, "import" with the host and
directory it came from when `bench history import` brings it. No password of a URL in the
manifest reaches the store (bench.history.urls).
"""

from __future__ import annotations

import hashlib
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Connection, delete, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from bench.history import identity
from bench.history.database import Store
from bench.history.schema import row_table, run_table
from bench.history.times import shown_time, time_problem
from bench.history.urls import redacted
from bench.results.documents import MANIFEST, SAMPLES
from bench.results.manifest import Manifest, stored_manifest
from bench.results.run import Run, loaded, per_count
from bench.results.summary import run_summary_json
from foundation.errors import HistoryError, ResultsError

Outcome = Literal["recorded", "unchanged", "replaced"]
Origin = Literal["run", "import"]
RUN: Origin = "run"  # `bench run` recorded it, on the host where it ran
IMPORT: Origin = "import"  # `bench history import` brought it from a directory
Key = tuple[str, str, str]  # runtime, workload, metric
ATTEMPTS = 3
# the last schema revision whose columns a re-import fills (0002: per-instance observations):
# part of the digest, so that re-importing after that migration replaces, and after later
# ones (0003 adds only what the store itself knows) changes nothing
DIGEST_REVISION = "0002"


class RunRefused(ResultsError):
    """A results directory the store will not take: a time no run could have, or a run id
    that belongs to a different run already there. Nothing of it was written."""

    def __init__(self, path: Path, run_id: str, problem: str) -> None:
        super().__init__(f"{path}: run {run_id}: {problem}; not recorded")
        self.path = path
        self.run_id = run_id
        self.problem = problem


@dataclass(frozen=True)
class RunDocument:
    """What the store keeps of one results directory."""

    path: Path
    manifest: Manifest  # as the store keeps it: no password of any URL in it
    rows: list[dict[str, Any]]
    instances: dict[Key, list[float]]
    digest: str

    @property
    def run_id(self) -> str:
        return str(self.manifest.run_id)


@dataclass(frozen=True)
class Recorded:
    run_id: str
    outcome: Outcome
    rows: int


def read_run(source: Path | Run) -> RunDocument:
    """A results directory (or a run already loaded from one) as the store keeps it (raises
    ResultsError when it is not one). The run is loaded once: its summary rows and the
    instances stored beside them are the figures the gate and the report read
    (bench.results.run); the digest reads the two files' bytes as they are."""
    run = loaded(source.absolute() if isinstance(source, Path) else source)
    path = run.path.absolute()
    if not run.manifest.run_id:
        raise ResultsError(f"{path}: the manifest has no run id")
    kept = stored_manifest(redacted(run.manifest.document()), str(path / MANIFEST))
    return RunDocument(path, kept, run_summary_json(run), instances_of(run), digest_of(path))


def instances_of(run: Run) -> dict[Key, list[float]]:
    """One observation per instance: the median of its successful samples (density rows
    are ladders and keep none)."""
    return {key: series.instances.tolist() for key, series in sorted(run.series.items())
            if series.instances.size and not per_count(key[2])}


def digest_of(path: Path) -> str:
    digest = hashlib.sha256(DIGEST_REVISION.encode())
    for name in (MANIFEST, SAMPLES):
        file = path / name
        digest.update(file.read_bytes() if file.exists() else b"")
    return digest.hexdigest()


def record_run(store: Store, results: Path | Run, origin: Origin = IMPORT) -> Recorded:
    """Records one results directory (or the run `bench run` just loaded from it); safe to
    repeat and to run from several processes. `origin`: RUN only for `bench run` recording
    the run it just made, here."""
    document = read_run(results)
    source = f"{socket.gethostname()}:{document.path}"
    with store.failures():
        for _ in range(ATTEMPTS):
            try:
                with store.transaction() as connection:
                    return write_run(connection, document, origin, source)
            except IntegrityError:
                continue  # another writer recorded this run id first: look again
    raise HistoryError(store.name, f"run {document.run_id} kept conflicting with other writers")


def store_clock(connection: Connection) -> float:
    """Now, in epoch seconds, by the store's clock: the PostgreSQL server's, or the host's
    that holds the SQLite file."""
    if connection.dialect.name == "postgresql":
        now = text("SELECT extract(epoch FROM clock_timestamp())::float8")
    else:
        now = text("SELECT (julianday('now') - 2440587.5) * 86400.0")
    return float(connection.execute(now).scalar_one())


def check_times(document: RunDocument, now: float) -> None:
    """The manifest's times are times bench could have run at, or the run is refused."""
    manifest = document.manifest
    if manifest.created is None:
        raise RunRefused(document.path, document.run_id, "the manifest has no start time (created)")
    claims = [("created", manifest.created), ("ended", manifest.ended)]
    claims += [(f"resumed[{n}].at", value) for n, value in enumerate(manifest.resume_times())]
    for name, value in claims:
        if value is None:
            continue
        problem = time_problem(value, now)
        if problem:
            raise RunRefused(document.path, document.run_id, f"{name}: {problem}")


def write_run(connection: Connection, document: RunDocument, origin: Origin,
              source: str) -> Recorded:
    received = store_clock(connection)
    check_times(document, received)
    found = connection.execute(
        select(run_table.c.id, run_table.c.digest, run_table.c.created, run_table.c.host_hash,
               run_table.c.config_hash, run_table.c.hostname)
        .where(run_table.c.run_id == document.run_id)).first()
    if found is not None and found.digest == document.digest:
        return Recorded(document.run_id, "unchanged", 0)
    columns = {**run_columns(document), "origin": origin, "source": source}
    if found is None:
        run_pk = insert_run(connection, document, {**columns, "received": received})
    else:
        check_same_run(document, found)
        run_pk = found.id
        connection.execute(delete(row_table).where(row_table.c.run_pk == run_pk))
        connection.execute(update(run_table).where(run_table.c.id == run_pk).values(**columns))
    insert_rows(connection, run_pk, document)
    return Recorded(document.run_id, "recorded" if found is None else "replaced",
                    len(document.rows))


def check_same_run(document: RunDocument, found: Any) -> None:
    """A run id already in the store belongs to this run (a later state of it: resumed,
    completed) only if it started at the same time on the same host with the same config."""
    manifest = document.manifest
    mine = (manifest.created, identity.host_hash(manifest), identity.config_hash(manifest))
    if mine != (found.created, found.host_hash, found.config_hash):
        raise RunRefused(document.path, document.run_id, (
            f"the store holds a different run with this id (started {shown_time(found.created)} "
            f"UTC on {found.hostname} {str(found.host_hash)[:8]}, config "
            f"{str(found.config_hash)[:8]}; this one started {shown_time(mine[0])} UTC on "
            f"{identity.hostname_of(manifest)} {mine[1][:8]}, config {mine[2][:8]})"))


def run_columns(document: RunDocument) -> dict[str, Any]:
    manifest = document.manifest
    return {
        "run_id": document.run_id,
        "created": float(manifest.created or 0.0),  # (check_times refused a run without)
        "recorded": time.time(),
        "host_hash": identity.host_hash(manifest),
        "config_hash": identity.config_hash(manifest),
        "hostname": identity.hostname_of(manifest),
        "config_name": identity.config_name(manifest),
        "commit": identity.commit_of(manifest),
        "branch": identity.branch_of(manifest),
        "status": manifest.status,
        "path": str(document.path),
        "digest": document.digest,
        "manifest": manifest.document(),
    }


def insert_run(connection: Connection, document: RunDocument, columns: dict[str, Any]) -> int:
    result = connection.execute(insert(run_table).values(**columns))
    key = result.inserted_primary_key
    if key is None:
        raise HistoryError(str(document.path), "the store returned no key for the new run")
    return int(key[0])


def insert_rows(connection: Connection, run_pk: int, document: RunDocument) -> None:
    if document.rows:
        connection.execute(insert(row_table), [row_columns(run_pk, row, document.instances)
                                               for row in document.rows])


def row_columns(run_pk: int, row: dict[str, Any],
                instances: dict[Key, list[float]]) -> dict[str, Any]:
    key = (str(row["runtime"]), str(row["workload"]), str(row["metric"]))
    return {"run_pk": run_pk, "runtime": key[0], "workload": key[1], "metric": key[2],
            "count": int(row.get("count") or 0), "unit": str(row.get("unit") or ""),
            "n": int(row.get("n") or 0), "failed": int(row.get("failed") or 0),
            "median": row.get("median"), "ci_low": row.get("ci_low"),
            "ci_high": row.get("ci_high"), "data": row,
            "instances": None if "count" in row else instances.get(key)}
