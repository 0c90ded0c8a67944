"""The writer of a results directory: append-only, written as the run goes.

Every line is flushed when written so a killed run keeps everything it measured. The
directory's layout and its reading are in bench.results.manifest and bench.results.records.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from bench.errors import ResultsError
from bench.results.manifest import CELLS, FORMAT, FORMAT_VERSION, MANIFEST, SAMPLES, read_manifest
from bench.results.sample import Sample


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
