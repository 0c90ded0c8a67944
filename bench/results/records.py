"""Reading the .jsonl files of a results directory, fast: a million lines in a few seconds.

A results directory is input like any other: it may come from another machine, a CI
artifact, a hand edit. A file that cannot be read at all (a FIFO or a directory where a file
belongs, a file too large to hold in memory) is one ResultsError (exit 2). Inside a file
that can be read, one bad line never costs the others: a line that is not UTF-8, not JSON,
not an object, a copy of an earlier line, or a sample that breaks a rule of
bench.results.validate becomes a failed row with its reason and its line's number, and
every reader (summary, report, gate, history, export) reads the rest. A torn last line (a
run killed mid-write) is dropped.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.results.documents import CELLS, SAMPLES, finite_float, read_results_file, refuse_constant
from bench.results.validate import (
    Problems,
    Record,
    cell_problems,
    failed_record,
    repeated_lines,
    sample_problems,
)
from foundation.errors import ResultsError

# a million samples are about 200 MB; past this a reader would exhaust memory, not read
MAX_FILE_BYTES = 1 << 30
SLICE = 4 << 20  # bytes of JSON lines parsed at a time (about 18,000 samples)


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
    """Strict JSON: orjson's parser (fast; no NaN, no Infinity, no number that overflows a
    double), or the json module told to refuse the same where orjson is missing.

    Nesting too deep for the parser is a JSONDecodeError like any other malformed text.
    """
    with gc_paused():
        try:
            import orjson
        except ImportError:
            try:
                return json.loads(text, parse_constant=refuse_constant, parse_float=finite_float)
            except (RecursionError, ValueError) as error:
                if isinstance(error, json.JSONDecodeError):
                    raise
                raise json.JSONDecodeError(str(error), "", 0) from None
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
        return None  # a torn tail or a corrupt line: parse_lines says which
    if not isinstance(records, list) or len(records) != lines + 1 or records[-1] is not None:
        return None
    records.pop()
    return records


def parse_lines(data: bytes) -> tuple[list[Any], Problems]:
    """Each line's JSON, fast when every line parses; otherwise line by line, a line that does
    not parse being None with its problem (a torn last line, without its newline, is dropped)."""
    whole = parse_whole(data)
    if whole is not None:
        return whole, {}
    lines = data.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()
    records: list[Any] = []
    problems: Problems = {}
    for index, line in enumerate(lines):
        try:
            records.append(parse_json(line))
        except (json.JSONDecodeError, UnicodeDecodeError):
            if index == len(lines) - 1 and not data.endswith(b"\n"):
                break  # torn tail
            problems[index] = "not a JSON line" if utf8(line) else "not UTF-8"
            records.append(None)
    return records, problems


def utf8(line: bytes) -> bool:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def read_bytes(path: Path, name: str) -> bytes:
    """A results file's bytes; b"" when it does not exist. Anything but a regular file of a
    size a reader can hold is a ResultsError (bench.results.documents.read_results_file)."""
    data = read_results_file(path / name, MAX_FILE_BYTES)
    return b"" if data is None else data


@dataclass
class Samples:
    """Records of samples.jsonl: each line's sample, or the failed row a bad line became;
    `invalid` says which lines were bad and why ("line 5: ...")."""

    records: list[Record] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)


def slices(data: bytes, size: int = SLICE) -> Iterator[tuple[int, bytes]]:
    """The file in pieces of about `size` bytes, each ending at a line's end, with the index
    (0-based) of its first line."""
    start, line = 0, 0
    while start < len(data):
        end = data.find(b"\n", start + size)
        end = len(data) if end < 0 else end + 1
        piece = data[start:end]
        yield line, piece
        line += piece.count(b"\n")
        start = end


def sample_slices(path: Path, size: int = SLICE) -> Iterator[Samples]:
    """samples.jsonl slice by slice (a million lines never live as dicts at once), every
    line checked (bench.results.validate), each bad one a failed row with its reason."""
    data = read_bytes(path, SAMPLES)
    copies = repeated_lines(data)
    for first, piece in slices(data, size):
        yield checked_samples(piece, first, copies)


def checked_samples(piece: bytes, first: int, copies: dict[int, int]) -> Samples:
    """The records of one slice whose first line is line `first` (0-based) of the file."""
    records, problems = parse_lines(piece)
    for index, problem in sample_problems(records).items():
        problems.setdefault(index, problem)
    for index in range(len(records)):
        if first + index in copies and index not in problems:
            problems[index] = (f"repeats line {copies[first + index]}: a sample recorded twice "
                               "would count twice")
    invalid = []
    for index in sorted(problems):
        where = f"{SAMPLES} line {first + index + 1}"
        invalid.append(f"{where}: {problems[index]}")
        records[index] = failed_record(records[index], f"invalid sample ({where}): "
                                       f"{problems[index]}")
    return Samples(records, invalid)


def read_samples(path: Path) -> list[Record]:
    """Every line of samples.jsonl, checked (bench.results.validate): the records, each bad
    line as a failed row with its reason."""
    records: list[Record] = []
    with gc_paused():
        for part in sample_slices(path):
            records += part.records
    return records


def read_lines(path: Path, name: str) -> list[Record]:
    """The records of a .jsonl file as they were written, unchecked (for looking at what a
    run wrote): a line that is not a JSON object is a ResultsError naming it; a torn last
    line is dropped."""
    records, problems = parse_lines(read_bytes(path, name))
    for index, record in enumerate(records):
        if index in problems or type(record) is not dict:
            raise ResultsError(f"{path / name}: line {index + 1} is corrupt (not a JSON object)")
    return records


def read_cells(path: Path) -> list[Record]:
    """The finished cells of a results directory (what --resume and the noise notes read):
    a line that breaks a rule is left out, so --resume runs that cell again."""
    records, problems = parse_lines(read_bytes(path, CELLS))
    problems.update(cell_problems(records))
    return [record for index, record in enumerate(records) if index not in problems]
