"""Results directories: one per run, append-only, written as the run goes.

Layout: manifest.json (format, version, config, host fingerprint, status),
samples.jsonl (one Sample per line) and cells.jsonl (one line per finished cell, which
is what `--resume` reads). Every line is flushed when written so a killed run keeps
everything it measured.
"""

from __future__ import annotations

import gc
import json
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from bench.errors import ResultsError
from bench.sample import Sample

FORMAT = "bench-results"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SAMPLES = "samples.jsonl"
CELLS = "cells.jsonl"


def write_json_atomic(path: Path, document: dict[str, Any]) -> None:
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(document, indent=2, default=str) + "\n")
    os.replace(partial, path)


class RunStore:
    """The writer side of one results directory."""

    def __init__(self, path: Path, manifest: dict[str, Any]) -> None:
        self.path = path
        self.manifest = manifest
        self._samples: IO[str] = open(path / SAMPLES, "a")  # noqa: SIM115 (closed in close())
        self._cells: IO[str] = open(path / CELLS, "a")  # noqa: SIM115

    @classmethod
    def create(cls, path: Path, manifest: dict[str, Any]) -> RunStore:
        if path.exists() and any(path.iterdir()):
            raise ResultsError(f"{path}: the results directory exists and is not empty")
        path.mkdir(parents=True, exist_ok=True)
        document = {"format": FORMAT, "format_version": FORMAT_VERSION, "status": "running",
                    **manifest}
        write_json_atomic(path / MANIFEST, document)
        return cls(path, document)

    @classmethod
    def reopen(cls, path: Path) -> RunStore:
        """For --resume: append to an existing directory."""
        return cls(path, read_manifest(path))

    def append(self, samples: Iterable[Sample]) -> None:
        for sample in samples:
            self._samples.write(json.dumps(sample.to_dict(), default=str) + "\n")
        self._samples.flush()

    def record_cell(self, record: dict[str, Any]) -> None:
        self._cells.write(json.dumps(record, default=str) + "\n")
        self._cells.flush()

    def update_manifest(self, **fields: Any) -> None:
        self.manifest.update(fields)
        write_json_atomic(self.path / MANIFEST, self.manifest)

    def close(self) -> None:
        self._samples.close()
        self._cells.close()


def read_manifest(path: Path) -> dict[str, Any]:
    """The manifest, after checking this is a bench results directory we can read."""
    if not path.is_dir():
        raise ResultsError(f"{path}: no such results directory")
    file = path / MANIFEST
    try:
        manifest = json.loads(file.read_text())
    except FileNotFoundError:
        raise ResultsError(f"{path}: not a bench results directory (no {MANIFEST})") from None
    except json.JSONDecodeError as error:
        raise ResultsError(f"{file}: unreadable or truncated ({error.msg})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ResultsError(f"{path}: not a bench results directory (another tool's {MANIFEST})")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ResultsError(f"{path}: results format version {version!r} is newer than this bench "
                           f"reads ({FORMAT_VERSION}); upgrade bench")
    return manifest


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
