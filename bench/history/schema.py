"""The history store's tables, as SQLAlchemy 2 models; alembic's migrations create them.

A summary row keeps its indexed key columns (runtime, workload, metric, count) and a few
numbers the queries filter or plot on, and the whole row as JSON in `data`: fields the
summary contract gains later (samples, ratio, direction...) are stored without a migration.
Samples stay in the results directory (`runs.path`); `rows.instances` keeps one observation
per instance (the median of its samples), which is what the gate against history compares.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Every schema revision this bench knows, oldest first; the last is the one it writes.
# tests/unit/test_history_schema.py checks this against alembic's revision files.
REVISIONS = ("0001", "0002")
HEAD = REVISIONS[-1]

Document = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    pass


class RunRecord(Base):
    """One run: who, where, when, with what config, and the manifest it was written with."""

    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(64), unique=True)
    created: Mapped[float] = mapped_column(Float, index=True)  # the run's start, epoch seconds
    recorded: Mapped[float] = mapped_column(Float)
    host_hash: Mapped[str] = mapped_column(String(32), index=True)
    config_hash: Mapped[str] = mapped_column(String(32), index=True)
    hostname: Mapped[str] = mapped_column(String(255))
    config_name: Mapped[str] = mapped_column(String(255))
    commit: Mapped[str | None] = mapped_column(String(64))
    branch: Mapped[str | None] = mapped_column(String(255), index=True)
    status: Mapped[str] = mapped_column(String(32))
    path: Mapped[str] = mapped_column(Text)  # the results directory when it was recorded
    digest: Mapped[str] = mapped_column(String(64))  # of manifest and samples: re-import test
    manifest: Mapped[dict[str, Any]] = mapped_column(Document)
    rows: Mapped[list[RowRecord]] = relationship(back_populates="run",
                                                 cascade="all, delete-orphan",
                                                 passive_deletes=True)


class RowRecord(Base):
    """One summary-contract row of one run; `instances` holds one observation per instance."""

    __tablename__ = "rows"
    __table_args__ = (
        UniqueConstraint("run_pk", "runtime", "workload", "metric", "count",
                         name="uq_rows_run_key"),
        Index("ix_rows_metric_runtime", "metric", "runtime", "workload"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_pk: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    runtime: Mapped[str] = mapped_column(String(255))
    workload: Mapped[str] = mapped_column(String(255))
    metric: Mapped[str] = mapped_column(String(255))
    count: Mapped[int] = mapped_column(Integer, default=0)  # density rows: instances; else 0
    unit: Mapped[str] = mapped_column(String(32))
    n: Mapped[int] = mapped_column(Integer)
    failed: Mapped[int] = mapped_column(Integer)
    median: Mapped[float | None] = mapped_column(Float)
    ci_low: Mapped[float | None] = mapped_column(Float)
    ci_high: Mapped[float | None] = mapped_column(Float)
    data: Mapped[dict[str, Any]] = mapped_column(Document)
    instances: Mapped[list[float] | None] = mapped_column(Document)  # revision 0002
    run: Mapped[RunRecord] = relationship(back_populates="rows")
