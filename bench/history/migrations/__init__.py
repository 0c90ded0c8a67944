"""alembic's migration environment for the history store (run through bench.history.database)."""
