"""A results directory's files and how each is read: bounded, regular, strict JSON.

Layout: manifest.json (the run: bench.results.manifest), samples.jsonl (one Sample per line)
and cells.jsonl (one line per finished cell, which is what `--resume` reads). Every reader
opens them through read_results_file and parses JSON through parse_json, so a FIFO, a
device, a file too large to hold, a repeated key or a NaN is one ResultsError line for
every reader alike.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from foundation.errors import ResultsError
from foundation.files import FileTooLarge, NotRegularFile, read_regular

MANIFEST = "manifest.json"
SAMPLES = "samples.jsonl"
CELLS = "cells.jsonl"
MAX_DOCUMENT_BYTES = 64 << 20
MAX_DEPTH = 64  # readers walk the config recursively (resume compares it key by key)


def read_document(path: Path, file: Path) -> Any:
    """A JSON document of a directory (the manifest, a fleet's record), parsed strictly;
    refused when the file is missing, of another kind, too large or nested too deeply."""
    data = read_results_file(file, MAX_DOCUMENT_BYTES)
    if data is None:
        raise ResultsError(f"{path}: not a bench results directory (no {file.name})")
    document = parse_json(file, data)
    if depth(document) > MAX_DEPTH:
        raise ResultsError(f"{file}: nested deeper than {MAX_DEPTH} levels: not a manifest")
    return document


def read_results_file(file: Path, limit: int) -> bytes | None:
    """A results file's bytes, None when it does not exist. Opened without blocking (a FIFO
    with no writer would hang every reader); anything but a regular file of at most `limit`
    bytes is one ResultsError."""
    try:
        return read_regular(file, limit)
    except FileNotFoundError:
        return None
    except NotRegularFile as error:
        raise ResultsError(f"{file}: {error.kind} where a regular file belongs") from None
    except FileTooLarge as error:
        raise ResultsError(str(error)) from None
    except OSError as error:
        raise ResultsError(f"{file}: cannot read ({error.strerror or error})") from None


def parse_json(file: Path, data: bytes) -> Any:
    """JSON with every key once (a repeated key would silently win), no NaN, no Infinity."""
    try:
        return json.loads(data.decode("utf-8"), object_pairs_hook=unique_keys,
                          parse_constant=refuse_constant, parse_float=finite_float)
    except UnicodeDecodeError:
        raise ResultsError(f"{file}: unreadable (not UTF-8)") from None
    except json.JSONDecodeError as error:
        raise ResultsError(f"{file}: unreadable or truncated ({error.msg})") from None
    except RecursionError:
        raise ResultsError(f"{file}: unreadable (nested too deeply)") from None
    except ValueError as error:
        raise ResultsError(f"{file}: unreadable ({error})") from None


def depth(document: Any) -> int:
    """How deeply lists and objects nest in a document, counted without recursion."""
    deepest, pending = 0, [(document, 1)]
    while pending:
        item, level = pending.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            pending += [(child, level + 1) for child in
                        (item.values() if isinstance(item, dict) else item)]
    return deepest


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise ValueError(f"the key {key[:40]!r} appears twice")
        document[key] = value
    return document


def refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def finite_float(text: str) -> float:
    """A JSON number as a float; one past a double's range (1e400) is refused, not read as
    infinity (which no writer could write back)."""
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text[:40]} is not a finite number")
    return number
