"""The results store across runs: every run of every host, for history, trends and the gate.

A results directory stays the record of one run; the history store keeps what comparisons
across runs need (manifest, fingerprint, summary rows, one observation per instance), keyed
by run id, host fingerprint, config hash, commit, branch and time. SQLite by default,
PostgreSQL when many hosts share one store; the same schema, migrated by alembic.

It reads the results layer only (load_run and the summary rows); never the orchestration, the
drivers or plotly.
"""

DEFAULT = "default"  # the store named `default`: the per-user SQLite file
NO_STORE = "none"  # `bench run --store none`: record the run nowhere
