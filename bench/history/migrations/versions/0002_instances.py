"""One observation per instance on each row, for the gate against history.

Runs recorded before this revision keep NULL there: the gate skips them and says so
(re-importing their results directories fills it in).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("rows", sa.Column("instances", sa.JSON().with_variant(JSONB(), "postgresql")))


def downgrade() -> None:
    with op.batch_alter_table("rows") as batch:
        batch.drop_column("instances")
