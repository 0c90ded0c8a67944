"""The history store's tables (SQLAlchemy Core); alembic's migrations create them.

A summary row keeps its indexed key columns (runtime, workload, metric, count) and a few
numbers the queries filter or plot on, and the whole row as JSON in `data`: fields the
summary contract gains later (samples, ratio, direction...) are stored without a migration.
Samples stay in the results directory (`runs.path`); `rows.instances` keeps one observation
per instance (the median of its samples), which is what the gate against history compares.

Core tables, not ORM classes: every query here is a plain select or insert, and the ORM
would add a fifth of a second to every `bench history` command's start.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB

# Every schema revision this bench knows, oldest first; the last is the one it writes.
# tests/unit/test_history_schema.py checks this against alembic's revision files.
REVISIONS = ("0001", "0002", "0003")
HEAD = REVISIONS[-1]

Document = JSON().with_variant(JSONB(), "postgresql")
metadata = MetaData()

# One run: who, where, when, with what config, and the manifest it was written with.
run_table = Table(
    "runs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(64), nullable=False),
    Column("created", Float, nullable=False, index=True),  # the run's start, epoch seconds
    Column("recorded", Float, nullable=False),  # when it was last written, by the writer's clock
    # revision 0003: when the store first got it, by the store's clock (what "newest" means)
    Column("received", Float, index=True),  # NULL only by damage (bench always writes it)
    Column("origin", String(16)),  # revision 0003: "run" (bench run, where it ran) or "import"
    Column("source", Text),  # revision 0003: the host and directory it was recorded from
    Column("host_hash", String(32), nullable=False, index=True),
    Column("config_hash", String(32), nullable=False, index=True),
    Column("hostname", String(255), nullable=False),
    Column("config_name", String(255), nullable=False),
    Column("commit", String(64)),
    Column("branch", String(255), index=True),
    Column("status", String(32), nullable=False),
    Column("path", Text, nullable=False),  # the results directory when it was recorded
    Column("digest", String(64), nullable=False),  # of manifest and samples: re-import test
    Column("manifest", Document, nullable=False),
    UniqueConstraint("run_id", name="uq_runs_run_id"),
)

# One summary-contract row of one run; `instances` holds one observation per instance.
row_table = Table(
    "rows", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_pk", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False,
           index=True),
    Column("runtime", String(255), nullable=False),
    Column("workload", String(255), nullable=False),
    Column("metric", String(255), nullable=False),
    Column("count", Integer, nullable=False),  # density rows: instances; else 0
    Column("unit", String(32), nullable=False),
    Column("n", Integer, nullable=False),
    Column("failed", Integer, nullable=False),
    Column("median", Float),
    Column("ci_low", Float),
    Column("ci_high", Float),
    Column("data", Document, nullable=False),
    Column("instances", Document),  # revision 0002
    UniqueConstraint("run_pk", "runtime", "workload", "metric", "count", name="uq_rows_run_key"),
    Index("ix_rows_metric_runtime", "metric", "runtime", "workload"),
)
