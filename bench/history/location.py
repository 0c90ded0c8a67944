"""Where a history store is: a path or `default` (SQLite), or a URL (sqlite:, postgresql:).

The CLI decides the default path (it alone reads the environment) and passes it in.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from bench.history import DEFAULT
from foundation.errors import ConfigError

SCHEMES = ("sqlite", "postgresql", "postgres")


def store_url(given: str, default_path: Path) -> URL:
    """The SQLAlchemy URL of a store named on the command line, in a config or environment.

    `default` is the per-user SQLite file; anything without a scheme is a SQLite file path;
    postgresql:// URLs use psycopg 3.
    """
    if given == DEFAULT:
        return sqlite_url(default_path)
    if "://" not in given:
        return sqlite_url(Path(given))
    try:
        url = make_url(given)
    except ArgumentError:
        raise ConfigError(f"--store {shown(given)}: not a store URL or path") from None
    scheme = url.get_backend_name()
    if scheme not in SCHEMES:
        raise ConfigError(f"--store {shown(given)}: unknown kind of store {scheme!r} "
                          "(sqlite:///PATH, postgresql://..., or a file path)")
    if scheme in {"postgresql", "postgres"}:
        return url.set(drivername="postgresql+psycopg")
    return url


def sqlite_url(path: Path) -> URL:
    return URL.create("sqlite", database=str(path.expanduser().absolute()))


def shown(text: str) -> str:
    """A URL as it may be printed: without its password."""
    if "://" not in text:
        return text
    try:
        return make_url(text).render_as_string(hide_password=True)
    except ArgumentError:
        return "<malformed URL>"


def describe(url: URL) -> str:
    """How one line names a store: its file for SQLite, its URL without password otherwise."""
    if url.get_backend_name() == "sqlite":
        return str(url.database)
    shown_url = url.set(drivername=url.get_backend_name())  # as the user wrote it: no +psycopg
    return unquote(shown_url.render_as_string(hide_password=True))

