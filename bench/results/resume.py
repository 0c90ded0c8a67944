"""`bench run --resume DIR`: finish the cells a stopped run did not, with the same plan.

A cell counts as done once its line is in cells.jsonl; samples of a cell that was cut
off before that line are dropped, so the rerun does not count them twice.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.results.documents import CELLS, SAMPLES
from bench.results.manifest import Manifest, read_manifest
from bench.results.records import read_cells, read_samples
from foundation.errors import ConfigError, ResultsError
from foundation.files import write_text_atomic


def first_difference(old: Any, new: Any, key: str = "") -> str | None:
    """The dotted key where two config documents first differ."""
    if isinstance(old, dict) and isinstance(new, dict):
        for name in sorted(old.keys() | new.keys()):
            found = first_difference(old.get(name), new.get(name), f"{key}.{name}" if key else name)
            if found:
                return found
        return None
    return None if old == new else (key or "(top level)")


def finished_cells(path: Path, config: dict[str, Any]) -> tuple[Manifest, set[int]]:
    """The manifest and the indexes of the cells a stopped run finished, after checking the
    run can be resumed with this config (given as its JSON document); samples of cells cut
    off before their line was written are dropped."""
    manifest = read_manifest(path)
    if manifest.status == "complete":
        raise ResultsError(f"{path}: this run is already complete; nothing to resume")
    changed = first_difference(dict(manifest.config.data), config)
    if changed:
        raise ConfigError(f"{path}: the config changed since this run started (at {changed}); "
                          "resume with the original config or start a new run")
    done = {record["cell"] for record in read_cells(path)}
    drop_unfinished_samples(path, done)
    return manifest, done


def drop_unfinished_samples(path: Path, done: set[int]) -> None:
    """Rewrite samples.jsonl with the finished cells' samples only, and cells.jsonl whole
    (it may end in a torn line too); each through foundation.files, never a fixed-name file."""
    # a bad line whose cell cannot be told (bench.results.records) keeps its reason
    kept = [r for r in read_samples(path)
            if r.get("cell") in done or (r["status"] == "failed" and r.get("cell") == -1)]
    cells = read_cells(path)
    for name, records in ((SAMPLES, kept), (CELLS, cells)):
        try:
            write_text_atomic(path / name, "".join(json.dumps(r) + "\n" for r in records))
        except OSError as error:
            raise ResultsError(f"{path / name}: cannot rewrite ({error.strerror or error})") from None
