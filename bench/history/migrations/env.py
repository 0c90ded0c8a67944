"""alembic's environment: bench.history.database hands it an open connection in a transaction.

The store takes its own lock first (SQLite: BEGIN IMMEDIATE; PostgreSQL: an advisory lock),
so several processes opening a new store at once migrate it once, one after the other.
"""

from __future__ import annotations

from alembic import context

from bench.history.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("bench's history migrations run through bench.history.database.open_store, "
                       "which passes an open connection")
context.configure(connection=connection, target_metadata=metadata,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
