"""A results directory's layout and its manifest: what makes a directory bench's, and readable.

Layout: manifest.json (format, version, config, host fingerprint, status),
samples.jsonl (one Sample per line) and cells.jsonl (one line per finished cell, which
is what `--resume` reads).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from foundation.errors import ResultsError
from foundation.files import FileTooLarge, NotRegularFile, read_regular

FORMAT = "bench-results"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SAMPLES = "samples.jsonl"
CELLS = "cells.jsonl"
BASELINE_DRIVER = "process"
MAX_MANIFEST_BYTES = 64 << 20
MAX_DEPTH = 64  # readers walk the config recursively (resume compares it key by key)
# what readers take from a manifest, and the JSON type each must have when present
FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "run_id": (str,), "status": (str,), "reason": (str,), "config_path": (str,),
    "config": (dict,), "host": (dict,), "drivers": (dict,), "endpoints": (dict,),
    "created": (int, float), "ended": (int, float), "resumed": (list,), "swept": (list,),
    "cells": (int,), "recorded_cells": (int,), "failed_cells": (int,),
}
CONFIG_TYPES: dict[str, tuple[type, ...]] = {
    "runtimes": (dict,), "workloads": (dict,), "gate": (dict, type(None)),
    "baseline": (str, type(None)), "description": (str,), "warmup": (int,),
    "repetitions": (int,),
}


def read_manifest(path: Path) -> dict[str, Any]:
    """The manifest, after checking this is a bench results directory we can read: the
    format, a positive version no newer than ours, and the type of every field a reader uses."""
    if not path.is_dir():
        raise ResultsError(f"{path}: no such results directory")
    file = path / MANIFEST
    manifest = parse_manifest(file, read_document(path, file))
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ResultsError(f"{path}: not a bench results directory (another tool's {MANIFEST})")
    version = manifest.get("format_version")
    if type(version) is not int or version < 1:
        raise ResultsError(f"{file}: format_version must be a positive integer (got "
                           f"{json.dumps(version)[:40]})")
    if version > FORMAT_VERSION:
        raise ResultsError(f"{path}: results format version {version!r} is newer than this bench "
                           f"reads ({FORMAT_VERSION}); upgrade bench")
    if depth(manifest) > MAX_DEPTH:
        raise ResultsError(f"{file}: nested deeper than {MAX_DEPTH} levels: not a manifest")
    check_fields(file, manifest, FIELD_TYPES, "")
    check_fields(file, manifest.get("config") or {}, CONFIG_TYPES, "config.")
    for section in ("config.runtimes", "config.workloads", "drivers"):
        parent, _, key = section.rpartition(".")
        entries = (manifest.get(parent) or {}) if parent else manifest
        for name, entry in (entries.get(key) or {}).items():
            if not isinstance(entry, dict):
                raise ResultsError(f"{file}: {section}.{name} must be an object")
    return manifest


def read_document(path: Path, file: Path) -> bytes:
    data = read_results_file(file, MAX_MANIFEST_BYTES)
    if data is None:
        raise ResultsError(f"{path}: not a bench results directory (no {MANIFEST})")
    return data


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


def parse_manifest(file: Path, data: bytes) -> Any:
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


def check_fields(file: Path, document: dict[str, Any], types: dict[str, tuple[type, ...]],
                 prefix: str) -> None:
    for key, allowed in types.items():
        value = document.get(key)
        if key in document and not (isinstance(value, allowed) and not isinstance(value, bool)):
            raise ResultsError(f"{file}: {prefix}{key} has the wrong type "
                               f"({type(value).__name__})")


def baseline_runtime(manifest: dict[str, Any]) -> str | None:
    """The config's baseline, else the first runtime of the run whose driver is the plain process."""
    config = manifest.get("config", {})
    if config.get("baseline"):
        return str(config["baseline"])
    runtimes = config.get("runtimes", {})
    return next((name for name, spec in runtimes.items() if spec.get("driver") == BASELINE_DRIVER),
                None)
