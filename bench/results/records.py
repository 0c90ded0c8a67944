"""Reading the .jsonl files of a results directory, fast: a million lines in a few seconds.

A results directory is input like any other: it may come from another machine, a CI
artifact, a hand edit. Whatever is in it, a reader ends in records or in one ResultsError
(exit 2): a file that is not UTF-8, a line that is not a JSON object, a directory where a
file belongs, a file too large to hold in memory. What each record holds is checked by
bench.results.validate.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.results.manifest import CELLS, SAMPLES, read_results_file
from bench.results.validate import check_cells, check_samples, refuse_duplicate_lines
from foundation.errors import ResultsError

# a million samples are about 200 MB; past this a reader would exhaust memory, not read
MAX_FILE_BYTES = 1 << 30


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
    """json.loads, or orjson's (faster, and strict: no NaN, no Infinity) where it is installed.

    Nesting too deep for the parser is a JSONDecodeError like any other malformed text.
    """
    with gc_paused():
        try:
            import orjson
        except ImportError:
            try:
                return json.loads(text)
            except RecursionError:
                raise json.JSONDecodeError("nested too deeply", "", 0) from None
        return orjson.loads(text)  # its JSONDecodeError is a json.JSONDecodeError


def parse_whole(data: bytes) -> list[Any] | None:
    """Every line in one parse, as a JSON array (twice as fast); None if any line is bad.

    The records are whatever the lines hold: check them (bench.results.validate) before use.
    """
    if not data:
        return []
    complete = data.endswith(b"\n")
    lines = data.count(b"\n") + (not complete)
    # newlines become commas and a null closes the array: one copy of the file, not three
    text = b"".join((b"[", data.replace(b"\n", b","), b"null]" if complete else b",null]"))
    try:
        records = parse_json(text)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None  # a torn tail or a corrupt line: read_lines says which
    if not isinstance(records, list) or len(records) != lines + 1 or records[-1] is not None:
        return None
    records.pop()
    return records


def read_bytes(path: Path, name: str) -> bytes:
    """A results file's bytes; b"" when it does not exist. Anything but a regular file of a
    size a reader can hold is a ResultsError (bench.results.manifest.read_results_file)."""
    data = read_results_file(path / name, MAX_FILE_BYTES)
    return b"" if data is None else data


def read_lines(path: Path, name: str) -> list[dict[str, Any]]:
    """Records of a .jsonl file (each line a JSON object); a torn last line (a run killed
    mid-write) is dropped."""
    file = path / name
    data = read_bytes(path, name)
    fast = parse_whole(data)
    if fast is None:
        fast = parse_each(data, file)
    objects(fast, file)
    return fast


def parse_each(data: bytes, file: Path) -> list[Any]:
    """Line by line, to name the first bad line (a torn last line is dropped)."""
    lines = data.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()
    records = []
    for number, line in enumerate(lines, 1):
        try:
            records.append(parse_json(line))
        except (json.JSONDecodeError, UnicodeDecodeError):
            if number == len(lines) and not data.endswith(b"\n"):
                break  # torn tail
            raise ResultsError(f"{file}: line {number} is corrupt"
                               f"{' (not UTF-8)' if not utf8(line) else ''}") from None
    return records


def utf8(line: bytes) -> bool:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def objects(records: list[Any], file: Path, first_line: int = 1) -> None:
    """Refuse a line that holds JSON but not an object (a number, a list, a string)."""
    if all(type(record) is dict for record in records):
        return
    number = next(i for i, r in enumerate(records) if type(r) is not dict)
    raise ResultsError(f"{file}: line {first_line + number} is not a JSON object")


def read_samples(path: Path) -> list[dict[str, Any]]:
    """The samples of a results directory, every value checked (bench.results.validate);
    a duplicated line is refused."""
    file = path / SAMPLES
    data = read_bytes(path, SAMPLES)
    refuse_duplicate_lines(data, file)
    records = parse_whole(data)
    if records is None:
        records = parse_each(data, file)
    check_sample_records(records, file)
    return records


def check_sample_records(records: list[Any], file: Path, first_line: int = 1) -> None:
    """Parsed lines of samples.jsonl (from `first_line` on): objects, every field checked."""
    objects(records, file, first_line)
    check_samples(records, file, first_line)


def read_cells(path: Path) -> list[dict[str, Any]]:
    """The finished cells of a results directory (what --resume reads), checked."""
    records = read_lines(path, CELLS)
    check_cells(records, path / CELLS)
    return records
