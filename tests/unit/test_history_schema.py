"""The schema's revisions: the list bench knows is alembic's, and the models are what the
migrations build (so a model change without a migration fails here)."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from bench.history.database import MIGRATIONS, open_store
from bench.history.location import store_url
from bench.history.schema import HEAD, REVISIONS, metadata


def test_the_known_revisions_are_alembics() -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    script = ScriptDirectory.from_config(config)
    walked = [revision.revision for revision in script.walk_revisions()]
    assert tuple(reversed(walked)) == REVISIONS
    assert script.get_current_head() == HEAD


def test_the_migrations_build_the_models(tmp_path: Path) -> None:
    store = open_store(store_url(str(tmp_path / "h.sqlite"), tmp_path / "unused"))
    try:
        with store.engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), metadata)
    finally:
        store.close()
    assert differences == []
