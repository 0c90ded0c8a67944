"""The results store across runs: every run of every host, for history, trends and the gate.

A results directory stays the record of one run; the history store keeps what comparisons
across runs need (manifest, fingerprint, summary rows, one observation per instance), keyed
by run id, host fingerprint, config hash, commit, branch and time. SQLite by default,
PostgreSQL when many hosts share one store; the same schema, migrated by alembic.

It reads the results layer only (load_run and the summary rows); never the orchestration, the
drivers or plotly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # SQLAlchemy loads only when a store is opened
    from bench.history.database import Store

DEFAULT = "default"  # the store named `default`: the per-user SQLite file
NO_STORE = "none"  # `bench run --store none`: record the run nowhere


@dataclass(frozen=True)
class StoreChoice:
    """Which history store a command opens: the one named (its --store, else $BENCH_STORE),
    else `default`, the per-user SQLite file at `default_path` (bench.cli reads both)."""

    named: str | None
    default_path: Path

    def open(self) -> Store:
        from bench.history.database import open_store
        from bench.history.location import store_url

        return open_store(store_url(self.named or DEFAULT, self.default_path))
