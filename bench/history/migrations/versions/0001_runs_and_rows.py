"""Runs and their summary rows.

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

DOCUMENT = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("recorded", sa.Float, nullable=False),
        sa.Column("host_hash", sa.String(32), nullable=False),
        sa.Column("config_hash", sa.String(32), nullable=False),
        sa.Column("hostname", sa.String(255), nullable=False),
        sa.Column("config_name", sa.String(255), nullable=False),
        sa.Column("commit", sa.String(64)),
        sa.Column("branch", sa.String(255)),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("manifest", DOCUMENT, nullable=False),
        sa.UniqueConstraint("run_id", name="uq_runs_run_id"),
    )
    op.create_index("ix_runs_created", "runs", ["created"])
    op.create_index("ix_runs_host_hash", "runs", ["host_hash"])
    op.create_index("ix_runs_config_hash", "runs", ["config_hash"])
    op.create_index("ix_runs_branch", "runs", ["branch"])
    op.create_table(
        "rows",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_pk", sa.Integer, sa.ForeignKey("runs.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("runtime", sa.String(255), nullable=False),
        sa.Column("workload", sa.String(255), nullable=False),
        sa.Column("metric", sa.String(255), nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("unit", sa.String(32), nullable=False),
        sa.Column("n", sa.Integer, nullable=False),
        sa.Column("failed", sa.Integer, nullable=False),
        sa.Column("median", sa.Float),
        sa.Column("ci_low", sa.Float),
        sa.Column("ci_high", sa.Float),
        sa.Column("data", DOCUMENT, nullable=False),
        sa.UniqueConstraint("run_pk", "runtime", "workload", "metric", "count",
                            name="uq_rows_run_key"),
    )
    op.create_index("ix_rows_run_pk", "rows", ["run_pk"])
    op.create_index("ix_rows_metric_runtime", "rows", ["metric", "runtime", "workload"])


def downgrade() -> None:
    op.drop_table("rows")
    op.drop_table("runs")
