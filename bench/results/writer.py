"""The writer of a results directory: append-only, written as the run goes.

Every line is flushed when written so a killed run keeps everything it measured. The
directory's layout is bench.results.documents; the manifest's model and its state machine
are bench.results.manifest, and this writer is the only one that writes manifest.json.

One writer at a time: the store holds the directory's lock (bench.results.lock) from
create or reopen to close. Nothing is written through a link planted in the directory:
the manifest is replaced through an exclusively created temporary file, and the .jsonl
files are opened with O_NOFOLLOW. Any failure to write (a read-only or full disk, an output
path that is a file or /dev/null) is one ResultsError, never a traceback.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

from bench.results.documents import CELLS, MANIFEST, SAMPLES
from bench.results.lock import DirectoryLock
from bench.results.manifest import Manifest, StatusMoveRefused, manifest_of, read_manifest
from bench.results.sample import Sample
from bench.results.validate import failed_record, sample_problems
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


def json_line(record: dict[str, Any]) -> str:
    """One line of JSON; NaN or an infinity in metadata is written as null (JSON has none)."""
    try:
        return json.dumps(record, default=str, allow_nan=False) + "\n"
    except ValueError:
        return json.dumps(json_safe(record), default=str, allow_nan=False) + "\n"


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


class RunWriter:
    """The writer side of one results directory; it holds the directory's lock until close().
    Its manifest's status moves only through the state machine (bench.results.manifest)."""

    def __init__(self, path: Path, manifest: Manifest, lock: DirectoryLock) -> None:
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
    def create(cls, path: Path, manifest: Manifest) -> RunWriter:
        """A new results directory for a run that starts now (status running); an existing
        one must be empty (checked under the lock, so two runs given the same directory at
        once cannot both start)."""
        if manifest.status != "running" or manifest.resumed:
            raise StatusMoveRefused(manifest.run_id, manifest.status, "a new run")
        make_results_dir(path)
        lock = DirectoryLock.acquire(path)
        try:
            if any(path.iterdir()):
                raise ResultsError(f"{path}: the results directory exists and is not empty")
            write_manifest(path, manifest)
        except BaseException:
            lock.release()
            raise
        return cls(path, manifest, lock)

    @classmethod
    def reopen(cls, path: Path, lock: DirectoryLock | None = None) -> RunWriter:
        """For --resume: append to an existing directory, under its lock (taken here unless
        the caller already holds it)."""
        lock = lock or DirectoryLock.acquire(path)
        try:
            manifest = read_manifest(path)
        except BaseException:
            lock.release()
            raise
        return cls(path, manifest, lock)

    def append(self, samples: Iterable[Sample]) -> list[str]:
        """Write the samples (a batch: one cell's); one that breaks a rule every reader checks
        (bench.results.validate), or repeats an earlier one of the batch exactly, is written
        as a failed sample with the reason instead. Returns those reasons: the runner fails
        the cell with them. (Samples of two cells always differ: they carry their cell.)"""
        records = [sample.to_dict() for sample in samples]
        refused = []
        for index, problem in sample_problems(records).items():
            refused.append(f"invalid value, not recorded: {problem}")
            records[index] = failed_record(records[index], refused[-1])
        lines = [json_line(record) for record in records]
        first: dict[str, int] = {}
        for index, line in enumerate(lines):  # a reader counts an exact copy as corruption
            earlier = first.setdefault(line, index)
            if earlier != index:
                refused.append(f"invalid value, not recorded: sample {index + 1} of the batch "
                               f"repeats sample {earlier + 1} exactly (a copy would count twice)")
                lines[index] = json_line(failed_record(records[index], refused[-1]))
        self._write(self._samples, lines)
        return refused

    def record_cell(self, record: dict[str, Any]) -> None:
        self._write(self._cells, [json_line(record)])

    def _write(self, file: IO[str], lines: list[str]) -> None:
        try:
            file.write("".join(lines))
            file.flush()
        except OSError as error:
            raise ResultsError(f"{file.name}: cannot write ({error.strerror or error})") from None

    def record_drivers(self, drivers: Mapping[str, dict[str, Any]]) -> None:
        """Each runtime's driver fingerprint, once its driver is prepared."""
        self._update(replace(self.manifest, drivers=dict(drivers)))

    def record_swept(self, swept: Sequence[str]) -> None:
        """What the sweep after this attempt's cells removed."""
        self._update(replace(self.manifest, swept=tuple(swept)))

    def complete(self, failed_cells: int, at: float | None = None) -> None:
        self._update(self.manifest.completed(failed_cells, now(at)))

    def interrupt(self, signal: str, at: float | None = None) -> None:
        self._update(self.manifest.interrupted(signal, now(at)))

    def fail(self, reason: str, at: float | None = None) -> None:
        self._update(self.manifest.failed(reason, now(at)))

    def resume(self, swept: Sequence[str] = (), at: float | None = None) -> None:
        """A stopped run goes on: back to running, how it had stopped kept with the resume."""
        self._update(self.manifest.resumed_at(now(at), swept))

    def _update(self, manifest: Manifest) -> None:
        write_manifest(self.path, manifest)
        self.manifest = manifest

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


def now(at: float | None) -> float:
    return time.time() if at is None else at


def write_manifest(path: Path, manifest: Manifest) -> None:
    """manifest.json, replaced atomically: the one place it is written. The document is read
    back through the reader's checks first, so nothing is written that a reader refuses."""
    document = manifest.document()
    manifest_of(document, str(path / MANIFEST))
    write_json_atomic(path / MANIFEST, document)
