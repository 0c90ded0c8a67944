"""Reading the .jsonl files of a results directory, fast: a million lines in a few seconds."""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.errors import ResultsError


@contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic GC off while a million short-lived dicts are parsed and dropped.

    Left on, it walks all of them again and again, which doubles the time of a parse;
    dicts freed before it resumes are never walked at all.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def parse_json(text: bytes) -> Any:
    """json.loads, or orjson's (faster) where it is installed."""
    with gc_paused():
        try:
            import orjson
        except ImportError:
            return json.loads(text)
        return orjson.loads(text)  # its JSONDecodeError is a json.JSONDecodeError


def parse_whole(data: bytes) -> list[dict[str, Any]] | None:
    """Every line in one parse, as a JSON array (twice as fast); None if any line is bad."""
    if not data:
        return []
    complete = data.endswith(b"\n")
    lines = data.count(b"\n") + (not complete)
    # newlines become commas and a null closes the array: one copy of the file, not three
    text = b"".join((b"[", data.replace(b"\n", b","), b"null]" if complete else b",null]"))
    try:
        records = parse_json(text)
    except json.JSONDecodeError:
        return None  # a torn tail or a corrupt line: read_lines says which
    if not isinstance(records, list) or len(records) != lines + 1 or records[-1] is not None:
        return None
    records.pop()
    return records


def read_lines(path: Path, name: str) -> list[dict[str, Any]]:
    """Records of a .jsonl file; a torn last line (a run killed mid-write) is dropped."""
    file = path / name
    if not file.exists():
        return []
    data = file.read_bytes()
    fast = parse_whole(data)
    if fast is not None:
        return fast
    lines = data.decode().splitlines()
    records = []
    for number, line in enumerate(lines, 1):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if number == len(lines):
                break  # torn tail
            raise ResultsError(f"{file}: line {number} is corrupt") from None
    return records
