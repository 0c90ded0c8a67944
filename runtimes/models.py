"""The strict base of every model bench validates from user input: the run config, the gate's
rules and each driver's options.

It sits at the bottom of the house, beside the driver contract, so drivers can use it
without importing bench. Unknown keys are errors and loaded objects are immutable.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, ValidationError


class Strict(BaseModel):
    """Unknown keys are errors; loaded objects are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def key_text(key: int | str) -> str:
    """A key as the user wrote it; quoted when it holds spaces or control characters."""
    text = str(key)
    return text if text and text.isprintable() and " " not in text else repr(text)


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


def describe_errors(error: ValidationError, prefix: tuple[str, ...] = (),
                    union_tags: Mapping[str, frozenset[str]] | None = None) -> str:
    """All of pydantic's errors as one line, each naming its dotted key."""
    messages = []
    for item in error.errors():
        key = dotted_key(prefix + tuple(item["loc"]), union_tags or {})
        got = item.get("input")
        quiet = item["type"] in {"missing", "extra_forbidden"} or isinstance(got, dict)
        shown = "" if quiet else f" (got {one_line(repr(got))})"
        text = "unknown key" if item["type"] == "extra_forbidden" else item["msg"].lower()
        messages.append(f"{key}: {text}{shown}")
    return "; ".join(messages)
