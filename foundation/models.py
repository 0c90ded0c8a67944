"""The strict base of the models bench validates from user input: the run config and each
driver's options (the gate's rules are dataclasses with the same checks: foundation.checks).

It sits at the bottom of the house, beside the driver contract, so drivers can use it
without importing bench. Unknown keys are errors and loaded objects are immutable. Numbers
are numbers: pydantic would take `true` as 1 and `.inf` as a timeout, so a boolean where a
number belongs, NaN and infinities are refused in every model built on this base (the
config's and each driver's options alike).
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from foundation.checks import BOOLEAN_FOR_NUMBER, BOOLEAN_MESSAGE

SHOWN_ERRORS = 5  # errors named in the one line describe_errors makes
# pydantic's error types for a key nobody asked for: a model's, and a dataclass's
UNKNOWN_KEY = frozenset({"extra_forbidden", "unexpected_keyword_argument"})
# a value that may hold a password (a store URL): its error never quotes it
SECRET_VALUE = "secret_value"
# errors whose input is not shown: it is absent, the key says it all, or it may be a secret
QUIET = UNKNOWN_KEY | {"missing", "missing_keyword_argument", BOOLEAN_FOR_NUMBER, SECRET_VALUE}


class Strict(BaseModel):
    """Unknown keys are errors; loaded objects are immutable; numbers are finite and never
    booleans."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _no_booleans_for_numbers(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name, value in data.items():
                field = cls.model_fields.get(name) if isinstance(name, str) else None
                if field is not None and holds_bool(value) and wants_number(field.annotation):
                    raise PydanticCustomError(BOOLEAN_FOR_NUMBER, BOOLEAN_MESSAGE,
                                              {"field": name})
        return data


def wants_number(annotation: Any) -> bool:
    """Whether a field's type takes numbers (an int, a float, a container of them) and no
    boolean or model of its own (a model checks its own fields)."""
    found: set[str] = set()

    def walk(item: Any) -> None:
        if isinstance(item, type) and not typing.get_args(item):
            if issubclass(item, bool):
                found.add("bool")
            elif issubclass(item, BaseModel):
                found.add("model")
            elif issubclass(item, int | float):
                found.add("number")
            return
        for argument in typing.get_args(item):
            if not isinstance(argument, str | int | float | types.EllipsisType):
                walk(argument)

    walk(annotation)
    return found == {"number"}


def holds_bool(value: Any) -> bool:
    """A boolean, or a list, tuple or mapping holding one at any depth."""
    if isinstance(value, bool):
        return True
    if isinstance(value, list | tuple):
        return any(map(holds_bool, value))
    if isinstance(value, dict):
        return any(map(holds_bool, value.values()))
    return False


def key_text(key: object) -> str:
    """A key as the user wrote it; quoted when it holds spaces or control characters."""
    text = str(key)
    shown = text if text and text.isprintable() and " " not in text else repr(text)
    return shown if len(shown) <= 80 else shown[:77] + "..."


def one_line(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def dotted_key(loc: tuple[int | str, ...], union_tags: Mapping[str, frozenset[str]]) -> str:
    """pydantic's location as the dotted key a user wrote.

    pydantic puts a tagged union's tag after the item's key (workloads.idle.ready.batches):
    for the containers in `union_tags`, that tag is dropped (workloads.idle.batches).
    """
    parts = list(loc)
    for index in range(len(parts) - 1, 1, -1):
        if parts[index] in union_tags.get(str(parts[index - 2]), frozenset()):
            del parts[index]
    return ".".join(key_text(p) for p in parts) or "(top level)"


def message(item: Any) -> str:
    """pydantic's message with its first letter lowered, the rest as written (a value error's
    own sentence, which may quote the user's input, keeps its case)."""
    error = (item.get("ctx") or {}).get("error")
    text = str(error) if item["type"] == "value_error" and error is not None else item["msg"]
    return one_line(text[:1].lower() + text[1:], 300)


def describe_errors(error: ValidationError, prefix: tuple[str, ...] = (),
                    union_tags: Mapping[str, frozenset[str]] | None = None) -> str:
    """pydantic's errors as one line, each naming its dotted key (the first few: a document
    with a thousand bad keys gets a line, not a page)."""
    messages = []
    errors = error.errors()
    for item in errors[:SHOWN_ERRORS]:
        field = (item.get("ctx") or {}).get("field") if item["type"] == BOOLEAN_FOR_NUMBER else None
        loc = tuple(item["loc"]) + ((field,) if field else ())
        key = dotted_key(prefix + loc, union_tags or {})
        got = item.get("input")
        quiet = item["type"] in QUIET or isinstance(got, dict)
        shown = "" if quiet else f" (got {one_line(repr(got))})"
        text = "unknown key" if item["type"] in UNKNOWN_KEY else message(item)
        messages.append(f"{key}: {text}{shown}")
    more = len(errors) - SHOWN_ERRORS
    return "; ".join(messages) + (f"; and {more} more" if more > 0 else "")
