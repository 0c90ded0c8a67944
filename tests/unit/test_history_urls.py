"""Store URLs split the way libpq splits them, and their passwords kept out of everything
bench shows or writes (bench.history.urls, bench.history.location)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.history.location import describe, store_url
from bench.history.settings import HistoryConfig
from bench.history.urls import redacted, without_password
from foundation.errors import ConfigError

UNUSED = Path("/unused.sqlite")


@pytest.mark.parametrize(("given", "user", "password", "host", "port", "database"), [
    ("postgresql://bench:p@ss@db.example:5433/bench", "bench", "p@ss", "db.example", 5433, "bench"),
    ("postgresql://bench:a%2Fb%40c@db/x", "bench", "a/b@c", "db", None, "x"),
    ("postgres://bench@/bench?host=/run/pg", "bench", None, None, None, "bench"),
    ("postgresql://[::1]:5432/d", None, None, "::1", 5432, "d"),
    ("postgresql://u:pa:ss@h/d", "u", "pa:ss", "h", None, "d"),
])
def test_urls_split_as_libpq_splits_them(given: str, user: str | None, password: str | None,
                                         host: str | None, port: int | None,
                                         database: str) -> None:
    url = store_url(given, UNUSED)
    assert (url.drivername, url.username, url.password, url.host, url.port, url.database) == (
        "postgresql+psycopg", user, password, host, port, database)
    assert password is None or password not in describe(url)


@pytest.mark.parametrize("given", [
    "postgresql://u:se/cret@h/d", "postgresql://u:secret@h:x9/d", "postgresql://u:secret@h:0/d",
    "postgresql://u:secret@h/d#secret", "postgresql://u:secret@[h/d", "mysql://u:secret@h/d",
    "postgresql://u:secret@h/d?x",
])
def test_a_malformed_url_is_a_config_error_that_quotes_none_of_it(given: str) -> None:
    with pytest.raises(ConfigError) as error:
        store_url(given, UNUSED)
    assert "secret" not in str(error.value) and "cret" not in str(error.value)


@pytest.mark.parametrize(("given", "shown"), [
    ("postgresql://u:secret@h/d", "postgresql://u@h/d"),
    ("postgresql://u:p@ss@h/d", "postgresql://u@h/d"),
    ("postgresql://u:se/cr@t@h/d", "postgresql://u@h/d"),
    ("postgresql://:secret@h/d", "postgresql://h/d"),
    ("postgresql://u@h/d?passfile=/home/a@b/pgpass", "postgresql://u@h/d?passfile=/home/a@b/pgpass"),
    ("/var/lib/bench/history.sqlite", "/var/lib/bench/history.sqlite"),
])
def test_without_password(given: str, shown: str) -> None:
    assert without_password(given) == shown
    assert redacted({"config": {"history": {"store": given}}, "list": [given]}) == {
        "config": {"history": {"store": shown}}, "list": [shown]}


def test_the_config_keeps_the_password_to_connect_and_writes_none() -> None:
    config = HistoryConfig(store="postgresql://u:secret@h/d")
    assert config.store == "postgresql://u:secret@h/d"
    assert config.model_dump(mode="json")["store"] == "postgresql://u@h/d"
