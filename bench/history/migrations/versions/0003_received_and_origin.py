"""The store's own clock and where each run came from.

`received`: when the store first got the run, by the store's clock (PostgreSQL's, or the
SQLite file's host), not the run's own `created`, which a results directory can claim to
be anything: the newest run, for the gate against history, prune and the trend page, is
the one received last. Runs already there take their `recorded` time.

No table is rebuilt (SQLite's batch mode copies and drops a table, and dropping `runs`
would cascade to every row), so `received` stays nullable in the database; bench always
writes it, and a reader takes a NULL there for the damage it is.

`origin`: "run" when `bench run` recorded the run where it ran, "import" when
`bench history import` brought it from a directory (`source`: the host and directory it was
recorded from). Runs already there keep NULL: nobody knows, and the gate against history
leaves them out unless told to take imported runs.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("received", sa.Float))
    op.add_column("runs", sa.Column("origin", sa.String(16)))
    op.add_column("runs", sa.Column("source", sa.Text))
    op.execute("UPDATE runs SET received = recorded")
    op.create_index("ix_runs_received", "runs", ["received"])


def downgrade() -> None:
    op.drop_index("ix_runs_received", "runs")
    for column in ("source", "origin", "received"):
        op.drop_column("runs", column)  # ALTER TABLE ... DROP COLUMN: SQLite 3.35 and later
