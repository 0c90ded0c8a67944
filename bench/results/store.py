"""The writer of a results directory: append-only, written as the run goes.

Every line is flushed when written so a killed run keeps everything it measured. The
directory's layout and its reading are in bench.results.manifest and bench.results.records.

One writer at a time: the store holds the directory's lock (bench.results.lock) from
create or reopen to close. Nothing is written through a link planted in the directory:
the manifest is replaced through an exclusively created temporary file, and the .jsonl
files are opened with O_NOFOLLOW. Any failure to write (a read-only or full disk, an output
path that is a file or /dev/null) is one ResultsError, never a traceback.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from bench.results.lock import DirectoryLock
from bench.results.manifest import CELLS, FORMAT, FORMAT_VERSION, MANIFEST, SAMPLES, read_manifest
from bench.results.sample import Sample
from foundation.errors import ResultsError
from foundation.files import open_append, write_text_atomic


def json_safe(value: Any) -> Any:
    """The document with NaN and infinities as null: JSON has neither, and readers refuse them.
    (numpy's floats are floats too.)"""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    return value


def write_json_atomic(path: Path, document: dict[str, Any]) -> None:
    text = json.dumps(json_safe(document), indent=2, default=str, allow_nan=False) + "\n"
    try:
        write_text_atomic(path, text)
    except OSError as error:
        raise ResultsError(f"{path}: cannot write ({error.strerror or error})") from None


def make_results_dir(path: Path) -> None:
    """Create the results directory (and its parents); refuse a path that is a file, a
    device, or a link, dangling or not."""
    if path.is_symlink():
        raise ResultsError(f"{path}: a symbolic link; give bench the directory itself")
    if path.exists() and not path.is_dir():
        raise ResultsError(f"{path}: exists and is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ResultsError(f"{path}: cannot create the results directory "
                           f"({error.strerror or error})") from None


class RunStore:
    """The writer side of one results directory; it holds the directory's lock until close()."""

    def __init__(self, path: Path, manifest: dict[str, Any], lock: DirectoryLock) -> None:
        self.path = path
        self.manifest = manifest
        self.lock = lock
        try:
            self._samples: IO[str] = open_append(path / SAMPLES)
            self._cells: IO[str] = open_append(path / CELLS)
        except OSError as error:
            lock.release()
            raise ResultsError(f"{path}: cannot open its results files "
                               f"({error.strerror or error})") from None

    @classmethod
    def create(cls, path: Path, manifest: dict[str, Any]) -> RunStore:
        """A new results directory; an existing one must be empty (checked under the lock, so
        two runs given the same directory at once cannot both start)."""
        make_results_dir(path)
        lock = DirectoryLock.acquire(path)
        try:
            if any(path.iterdir()):
                raise ResultsError(f"{path}: the results directory exists and is not empty")
            document = {"format": FORMAT, "format_version": FORMAT_VERSION, "status": "running",
                        **manifest}
            write_json_atomic(path / MANIFEST, document)
        except BaseException:
            lock.release()
            raise
        return cls(path, document, lock)

    @classmethod
    def reopen(cls, path: Path, lock: DirectoryLock | None = None) -> RunStore:
        """For --resume: append to an existing directory, under its lock (taken here unless
        the caller already holds it)."""
        lock = lock or DirectoryLock.acquire(path)
        try:
            manifest = read_manifest(path)
        except BaseException:
            lock.release()
            raise
        return cls(path, manifest, lock)

    def append(self, samples: Iterable[Sample]) -> None:
        self._write(self._samples, [json.dumps(s.to_dict(), default=str) + "\n" for s in samples])

    def record_cell(self, record: dict[str, Any]) -> None:
        self._write(self._cells, [json.dumps(json_safe(record), default=str) + "\n"])

    def _write(self, file: IO[str], lines: list[str]) -> None:
        try:
            file.write("".join(lines))
            file.flush()
        except OSError as error:
            raise ResultsError(f"{file.name}: cannot write ({error.strerror or error})") from None

    def update_manifest(self, **fields: Any) -> None:
        self.manifest.update(fields)
        write_json_atomic(self.path / MANIFEST, self.manifest)

    def close(self) -> None:
        """Close the files and release the lock; idempotent."""
        try:
            for file in (self._samples, self._cells):
                if not file.closed:
                    file.close()
        except OSError:
            pass  # what was flushed is on disk; a close error leaves nothing to save
        finally:
            self.lock.release()
