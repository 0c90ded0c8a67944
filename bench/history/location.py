"""Where a history store is: a path or `default` (SQLite), or a URL (sqlite:, postgresql:).

The CLI decides the default path (it alone reads the environment) and passes it in. URLs
are split by bench.history.urls, which also keeps their passwords out of what is shown.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from bench.history import DEFAULT
from bench.history.urls import postgres_address, scheme_of, without_password
from bench.results.text import visible
from foundation.errors import ConfigError


def store_url(given: str, default_path: Path) -> URL:
    """The SQLAlchemy URL of a store named on the command line, in a config or environment.

    `default` is the per-user SQLite file; anything without a scheme is a SQLite file path;
    postgresql:// URLs use psycopg 3.
    """
    if given == DEFAULT:
        return sqlite_url(default_path)
    if "://" not in given:
        return sqlite_url(Path(given))
    if scheme_of(given) == "sqlite":
        try:
            return make_url(given)
        except ArgumentError:
            raise ConfigError("store URL: not a sqlite:///PATH URL") from None
    parts = postgres_address(given)
    return URL.create("postgresql+psycopg", username=parts.user, password=parts.password,
                      host=parts.host, port=parts.port, database=parts.database,
                      query=parts.query)


def sqlite_url(path: Path) -> URL:
    return URL.create("sqlite", database=str(path.expanduser().absolute()))


def shown(text: str) -> str:
    """A store name as it may be printed: a URL without its password."""
    return visible(without_password(text))


def describe(url: URL) -> str:
    """How one line names a store: its file for SQLite, its URL without password otherwise."""
    if url.get_backend_name() == "sqlite":
        return visible(str(url.database))
    shown_url = url.set(drivername=url.get_backend_name())  # as the user wrote it: no +psycopg
    return visible(unquote(shown_url.render_as_string(hide_password=True)))
