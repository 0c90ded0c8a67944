"""A new SQLite store's switch to WAL: retried while another connection's switch holds the
file (SQLite answers "database is locked" there without calling its busy handler), any other
error raised at once. The race itself: tests/integration/test_history_store.py's four
concurrent writers (1 of 12 runs failed on it before the retry, 0 of 60 after)."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from bench.history import database


class Cursor:
    """A cursor whose first `failures` PRAGMAs fail with `error`."""

    def __init__(self, failures: int, error: str) -> None:
        self.failures, self.error, self.tries = failures, error, 0

    def execute(self, sql: str) -> Any:
        assert sql == "PRAGMA journal_mode=WAL"
        self.tries += 1
        if self.tries <= self.failures:
            raise sqlite3.OperationalError(self.error)
        return self


def test_a_switch_to_wal_that_finds_the_file_locked_is_tried_again(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(database, "WAL_RETRY_S", 0.0)
    cursor = Cursor(3, "database is locked")
    database.with_wal(cursor)  # type: ignore[arg-type]
    assert cursor.tries == 4


def test_any_other_error_of_the_switch_is_raised_at_once() -> None:
    cursor = Cursor(1, "disk I/O error")
    with pytest.raises(sqlite3.OperationalError, match="disk I/O error"):
        database.with_wal(cursor)  # type: ignore[arg-type]
    assert cursor.tries == 1


def test_a_lock_that_outlasts_the_busy_timeout_is_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(database, "WAL_RETRY_S", 0.0)
    monkeypatch.setattr(database, "BUSY_TIMEOUT_MS", 0)
    cursor = Cursor(10**9, "database is locked")
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        database.with_wal(cursor)  # type: ignore[arg-type]
