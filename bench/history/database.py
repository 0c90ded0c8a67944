"""Opening a history store: the connection, its locking, and its schema revision.

A new store is created on first use (no setup step); a store at an older revision is
migrated by alembic; a store written by a newer bench is refused in one line.

Concurrency: every write is one transaction. SQLite runs in WAL mode and each write
transaction starts with BEGIN IMMEDIATE (it takes the write lock at once, so two writers
queue on busy_timeout instead of deadlocking on a lock upgrade); PostgreSQL serialises
migrations with an advisory lock, and a run id's unique key settles two writers of the
same run. A writer killed mid-transaction leaves nothing: the database rolls it back.

The one step busy_timeout does not cover is the switch of a new SQLite file to WAL: each
connection that finds the file in rollback mode reads it, then asks to write the switch, and
SQLite answers "database is locked" at once rather than wait while another connection that
is switching it waits for that read to end (a wait for each other: the busy handler is not
called). Four processes opening one new store at once hit it on 52 of 800 connections (200
races, 2026-12-05); with_wal retries the switch until the busy timeout, and then none did.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from bench.history.location import describe
from bench.history.schema import HEAD, REVISIONS
from foundation.errors import HistoryError

BUSY_TIMEOUT_MS = 60_000
CONNECT_TIMEOUT_S = 10
MIGRATION_LOCK = 0x62656E6368  # "bench": PostgreSQL advisory lock key for migrations
MIGRATIONS = Path(__file__).with_name("migrations")
WRITE = "bench_write"  # execution option: this transaction writes
WAL_RETRY_S = 0.01  # between tries of a new file's switch to WAL


class Store:
    """An open history store: an engine whose schema is at this bench's revision. A context
    manager: `with open_store(url) as store:` closes it however the block ends."""

    def __init__(self, url: URL, engine: Engine) -> None:
        self.url = url
        self.engine = engine
        self.name = describe(url)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def writing(self) -> Iterator[Connection]:
        """One write transaction: committed on success, rolled back on any error."""
        with self.failures(), self.transaction() as connection:
            yield connection

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A write transaction whose database errors propagate as they are (to retry some)."""
        with self.engine.connect() as connection:
            connection = connection.execution_options(**{WRITE: True})
            with connection.begin():
                yield connection

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        with self.failures(), self.engine.connect() as connection, connection.begin():
            yield connection

    @contextmanager
    def failures(self) -> Iterator[None]:
        """A database error becomes a HistoryError naming the store, in one line."""
        try:
            yield
        except DBAPIError as error:
            raise HistoryError(self.name, first_line(error.orig)) from None
        except SQLAlchemyError as error:
            raise HistoryError(self.name, first_line(error)) from None

    def close(self) -> None:
        self.engine.dispose()


def first_line(error: BaseException | None) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def make_engine(url: URL) -> Engine:
    if url.get_backend_name() == "sqlite":
        return sqlite_engine(url)
    try:
        return create_engine(url, pool_pre_ping=True,
                             connect_args={"connect_timeout": CONNECT_TIMEOUT_S})
    except ImportError:
        raise HistoryError(describe(url), "PostgreSQL stores need psycopg: pip install "
                           "'bench[postgres]'") from None


def sqlite_engine(url: URL) -> Engine:
    """SQLite in WAL mode, where bench issues BEGIN itself (IMMEDIATE for writes)."""
    database = Path(str(url.database))
    try:
        database.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise HistoryError(str(database), f"cannot create its folder ({error.strerror})") from None
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def configure(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None  # no implicit BEGIN: the "begin" hook below
        cursor = dbapi_connection.cursor()
        with_wal(cursor)
        for pragma in (f"busy_timeout={BUSY_TIMEOUT_MS}", "foreign_keys=ON"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get(WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def with_wal(cursor: sqlite3.Cursor) -> None:
    """The database in WAL mode; its switch from rollback mode retried while another
    connection's switch holds it (see the module's docstring), up to the busy timeout."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(WAL_RETRY_S)


def open_store(url: URL, migrate: bool = True) -> Store:
    """The store at `url`, created or migrated to this bench's schema (migrate=False: as is)."""
    store = Store(url, make_engine(url))
    try:
        revision = current_revision(store)
        if revision != HEAD and migrate:
            upgrade(store, HEAD)
    except BaseException:
        store.close()
        raise
    return store


def current_revision(store: Store) -> str | None:
    """The store's schema revision (None: a new, empty store); refuses a newer one."""
    with store.reading() as connection:
        revision = read_revision(connection)
    if revision is not None and revision not in REVISIONS:
        raise HistoryError(store.name, f"written by a newer bench (schema revision {revision}; "
                           f"this bench knows up to {HEAD}): upgrade bench to use it")
    return revision


def read_revision(connection: Connection) -> str | None:
    if not inspect(connection).has_table("alembic_version"):
        return None  # a new store
    found = connection.execute(text("SELECT version_num FROM alembic_version")).first()
    return None if found is None else str(found[0])


def upgrade(store: Store, revision: str) -> None:
    """alembic's upgrade, under the store's write lock so concurrent openers migrate once."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with store.writing() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
