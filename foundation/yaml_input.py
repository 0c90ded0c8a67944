"""YAML documents from users, read within bounds: the run config, the gate's rules.

yaml.safe_load builds no objects of arbitrary types, but it still lets a small file cost
without bound: aliases that expand to billions of values (the "billion laughs"), nesting
that exhausts the stack, a FIFO or /dev/zero given as the file, millions of keys. And a
key written twice silently keeps the last value. Here a document is read only from a
regular file of bounded size, its event stream is walked first (without building
anything) to bound its depth and the number of values it expands to, aliases included,
and it is then built with a loader that refuses repeated keys. Every problem is a
ValueError whose message says where; the caller turns it into its own one-line error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode

from foundation.files import FileTooLarge, NotRegularFile, read_regular

MAX_BYTES = 1 << 20  # a config is a few KiB; a MiB leaves room, not a way to exhaust memory
MAX_VALUES = 100_000  # scalars and collections, after alias expansion
MAX_DEPTH = 32
MERGE_TAG = "tag:yaml.org,2002:merge"

try:  # libyaml's parser where it is built in: the walk and the load run in C
    from yaml import CSafeLoader as BaseLoader
except ImportError:  # pragma: no cover (PyYAML without libyaml)
    from yaml import SafeLoader as BaseLoader  # type: ignore[assignment]


class DocumentError(ValueError):
    """A document that is no config: too large, too deep, expanding without bound."""


def read_text(path: Path, limit: int = MAX_BYTES) -> str:
    """A regular file's text (UTF-8), at most `limit` bytes. OSError when it cannot be
    opened; ValueError for a FIFO, a device, a directory, a larger file or another encoding.
    Opened non-blocking, so a FIFO with no writer cannot hang the read."""
    try:
        data = read_regular(path, limit)
    except NotRegularFile as error:
        kind = "a directory" if error.kind == "a directory" else "not a regular file"
        raise ValueError(f"{kind}: give the path of a YAML file") from None
    except FileTooLarge:
        raise ValueError(f"larger than {limit >> 10} KiB: not a config") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"not UTF-8 text (byte {error.start})") from None


class UniqueKeyLoader(BaseLoader):
    """The safe loader, refusing a mapping that names a key twice (merge keys aside)."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == MERGE_TAG:
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                repeated = key in seen
            except TypeError:
                raise ConstructorError("while constructing a mapping", node.start_mark,
                                       "found a key that is a list or a mapping",
                                       key_node.start_mark) from None
            if repeated:
                raise ConstructorError("while constructing a mapping", node.start_mark,
                                       f"found the key {str(key)[:40]!r} twice (a repeated key "
                                       "would silently win)", key_node.start_mark)
            seen.add(key)
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping


def where(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    return f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""


def check_shape(text: str) -> None:
    """Walk the event stream: depth at most MAX_DEPTH, at most MAX_VALUES values once every
    alias is expanded, and no alias to an unknown or enclosing anchor (a cycle)."""
    sizes: dict[str, int] = {}  # anchor -> values its node expands to
    stack: list[tuple[str | None, int]] = []  # open collections: (anchor, values so far)
    total = 0
    for event in yaml.parse(text, Loader=BaseLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            if len(stack) >= MAX_DEPTH:
                raise DocumentError(f"nested deeper than {MAX_DEPTH} levels{mark_of(event)}")
            stack.append((event.anchor, 1))
            continue
        if isinstance(event, yaml.CollectionEndEvent):
            anchor, size = stack.pop()
        elif isinstance(event, yaml.ScalarEvent):
            anchor, size = event.anchor, 1
        elif isinstance(event, yaml.AliasEvent):
            if event.anchor not in sizes:
                raise DocumentError(f"alias *{event.anchor} names no complete anchor before it "
                                 f"(unknown, or a cycle){mark_of(event)}")
            anchor, size = None, sizes[event.anchor]
        else:
            continue
        if anchor is not None:
            sizes[anchor] = size
        if stack:
            stack[-1] = (stack[-1][0], stack[-1][1] + size)
            size = stack[-1][1]
        else:
            total += size
            size = total
        if size > MAX_VALUES:
            raise DocumentError(f"expands to more than {MAX_VALUES} values (aliases included)"
                             f"{mark_of(event)}: not a config")


def mark_of(event: yaml.Event) -> str:
    mark = event.start_mark
    return f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""


def load_yaml(text: str) -> Any:
    """The document, within bounds; ValueError (with the place) for anything else."""
    try:
        check_shape(text)
        return yaml.load(text, Loader=UniqueKeyLoader)  # noqa: S506 (a safe loader)
    except yaml.YAMLError as error:
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ValueError(f"invalid YAML{where(error)}: {problem}") from None
    except RecursionError:
        raise ValueError("invalid YAML: nested too deeply") from None
    except DocumentError:
        raise
    except (ValueError, OverflowError) as error:  # an int of 5,000 digits, a 13th month
        raise ValueError(f"invalid YAML: a value that cannot be read ({error})"[:200]) from None
