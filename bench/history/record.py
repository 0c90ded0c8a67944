"""Recording a results directory into the store: one transaction per run, idempotent.

A run is keyed by its run id. Recording the same directory again changes nothing (its
digest, over the manifest, the samples and the schema revision, is unchanged); a run that
changed since (resumed, completed) replaces its earlier record in the same transaction.
Two writers of the same run at once: the run id's unique key lets one insert, and the
other, retrying, finds it.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from bench.history import identity
from bench.history.schema import HEAD, row_table, run_table
from bench.history.store import Store
from bench.results.manifest import MANIFEST, SAMPLES
from bench.results.run import Run, load_run, per_count
from bench.results.summary import run_summary_json
from foundation.errors import HistoryError, ResultsError

Outcome = Literal["recorded", "unchanged", "replaced"]
Key = tuple[str, str, str]  # runtime, workload, metric
ATTEMPTS = 3


@dataclass(frozen=True)
class RunDocument:
    """What the store keeps of one results directory."""

    path: Path
    manifest: dict[str, Any]
    rows: list[dict[str, Any]]
    instances: dict[Key, list[float]]
    digest: str

    @property
    def run_id(self) -> str:
        return str(self.manifest["run_id"])


@dataclass(frozen=True)
class Recorded:
    run_id: str
    outcome: Outcome
    rows: int


def read_run(path: Path) -> RunDocument:
    """A results directory as the store keeps it (raises ResultsError when it is not one).
    The run is loaded once: its summary rows and the instances stored beside them are the
    figures the gate and the report read (bench.results.run)."""
    path = path.absolute()
    run = load_run(path)
    if not run.manifest.get("run_id"):
        raise ResultsError(f"{path}: the manifest has no run id")
    return RunDocument(path, run.manifest, run_summary_json(run), instances_of(run),
                       digest_of(path))


def instances_of(run: Run) -> dict[Key, list[float]]:
    """One observation per instance: the median of its successful samples (density rows
    are ladders and keep none)."""
    return {key: series.instances.tolist() for key, series in sorted(run.series.items())
            if series.instances.size and not per_count(key[2])}


def digest_of(path: Path) -> str:
    digest = hashlib.sha256(HEAD.encode())
    for name in (MANIFEST, SAMPLES):
        file = path / name
        digest.update(file.read_bytes() if file.exists() else b"")
    return digest.hexdigest()


def record_run(store: Store, path: Path) -> Recorded:
    """Records one results directory; safe to repeat and to run from several processes."""
    document = read_run(path)
    with store.failures():
        for _ in range(ATTEMPTS):
            try:
                with store.transaction() as connection:
                    return write_run(connection, document)
            except IntegrityError:
                continue  # another writer recorded this run id first: look again
    raise HistoryError(store.name, f"run {document.run_id} kept conflicting with other writers")


def write_run(connection: Connection, document: RunDocument) -> Recorded:
    found = connection.execute(select(run_table.c.id, run_table.c.digest)
                               .where(run_table.c.run_id == document.run_id)).first()
    if found is not None and found.digest == document.digest:
        return Recorded(document.run_id, "unchanged", 0)
    if found is None:
        run_pk = insert_run(connection, document)
    else:
        run_pk = found.id
        connection.execute(delete(row_table).where(row_table.c.run_pk == run_pk))
        connection.execute(update(run_table).where(run_table.c.id == run_pk)
                           .values(**run_columns(document)))
    insert_rows(connection, run_pk, document)
    return Recorded(document.run_id, "recorded" if found is None else "replaced",
                    len(document.rows))


def run_columns(document: RunDocument) -> dict[str, Any]:
    manifest = document.manifest
    created = manifest.get("created")
    return {
        "run_id": document.run_id,
        "created": float(created) if isinstance(created, int | float) else time.time(),
        "recorded": time.time(),
        "host_hash": identity.host_hash(manifest),
        "config_hash": identity.config_hash(manifest),
        "hostname": identity.hostname_of(manifest),
        "config_name": identity.config_name(manifest),
        "commit": identity.commit_of(manifest),
        "branch": identity.branch_of(manifest),
        "status": str(manifest.get("status") or "?"),
        "path": str(document.path),
        "digest": document.digest,
        "manifest": manifest,
    }


def insert_run(connection: Connection, document: RunDocument) -> int:
    result = connection.execute(insert(run_table).values(**run_columns(document)))
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
