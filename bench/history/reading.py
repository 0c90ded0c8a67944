"""Reading values back from a store that may have been damaged: one bad run is one line.

A store is a database anyone with access can edit, and older benches wrote what they were
given: `created` as text, a manifest column that is not JSON, a row whose data is a number.
Every reader takes the raw values (JSON columns as text, not through SQLAlchemy's
deserializer, which raises in the middle of a query) and checks each here; a value that
fails makes a CorruptRun naming the run, the column and what was found, and the readers
that list many runs skip that run, say so in one line each and exit 2, listing the rest.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Text, type_coerce

from bench.history.times import is_number, shown_value
from foundation.errors import HistoryError, ResultsError

if TYPE_CHECKING:  # the model loads only for a reader of whole manifests (gate --history):
    from bench.results.manifest import Manifest  # `bench history list` never reads one


class CorruptRun(HistoryError):
    """A run in the store whose stored values are not what bench writes."""

    exit_code = 2

    def __init__(self, store: str, run_id: str, problem: str) -> None:
        super().__init__(store, f"run {run_id}: {problem}")
        self.run_id = run_id
        self.reason = problem  # the value that is wrong, and what it holds


class BadValue(Exception):
    """One stored value that is not what its column holds (a CorruptRun once its run is known)."""


def raw(column: ColumnElement[Any]) -> ColumnElement[Any]:
    """A JSON column as the database gives it (text on SQLite), for `document` to parse."""
    return type_coerce(column, Text).label(column.key or "value")


def number(value: Any, column: str) -> float:
    if not is_number(value):
        raise BadValue(f"{column} is not a number ({shown_value(value)})")
    return float(value)


def finite_or_none(value: Any, column: str) -> float | None:
    if value is None:
        return None
    found = number(value, column)
    if not math.isfinite(found):
        raise BadValue(f"{column} is not finite ({shown_value(value)})")
    return found


def text(value: Any, column: str) -> str:
    if not isinstance(value, str):
        raise BadValue(f"{column} is not text ({shown_value(value)})")
    return value


def text_or_none(value: Any, column: str) -> str | None:
    return None if value is None else text(value, column)


def integer(value: Any, column: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise BadValue(f"{column} is not an integer ({shown_value(value)})")
    return value


def document(value: Any, column: str) -> Any:
    """A JSON column's value: parsed from text, or as the driver decoded it (PostgreSQL)."""
    if isinstance(value, bytes | bytearray):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise BadValue(f"{column} is not JSON ({shown_value(value)})") from None
    if value is None or isinstance(value, dict | list | int | float | bool):
        return value
    raise BadValue(f"{column} is not JSON ({shown_value(value)})")


def mapping(value: Any, column: str) -> dict[str, Any]:
    found = document(value, column)
    if not isinstance(found, dict):
        raise BadValue(f"{column} is not a JSON object ({shown_value(found)})")
    return found


def manifest(value: Any, column: str) -> Manifest:
    """A stored manifest read as a results directory's is (an older version upgraded)."""
    from bench.results.manifest import stored_manifest

    try:
        return stored_manifest(mapping(value, column), column)
    except ResultsError as error:
        raise BadValue(str(error)) from None


def run_label(value: Any) -> str:
    """The run id as a message names it, whatever is stored there."""
    return value if isinstance(value, str) else shown_value(value)
