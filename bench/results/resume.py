"""`bench run --resume DIR`: finish the cells a stopped run did not, with the same plan.

A cell counts as done once its line is in cells.jsonl; samples of a cell that was cut
off before that line are dropped, so the rerun does not count them twice.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from bench.errors import ConfigError, ResultsError
from bench.results.manifest import CELLS, SAMPLES, read_manifest
from bench.results.records import read_lines


def first_difference(old: Any, new: Any, key: str = "") -> str | None:
    """The dotted key where two config documents first differ."""
    if isinstance(old, dict) and isinstance(new, dict):
        for name in sorted(old.keys() | new.keys()):
            found = first_difference(old.get(name), new.get(name), f"{key}.{name}" if key else name)
            if found:
                return found
        return None
    return None if old == new else (key or "(top level)")


def finished_cells(path: Path, config: dict[str, Any]) -> tuple[dict[str, Any], set[int]]:
    """The manifest and the indexes of the cells a stopped run finished, after checking the
    run can be resumed with this config (given as its JSON document); samples of cells cut
    off before their line was written are dropped."""
    manifest = read_manifest(path)
    if manifest.get("status") == "complete":
        raise ResultsError(f"{path}: this run is already complete; nothing to resume")
    changed = first_difference(manifest.get("config"), config)
    if changed:
        raise ConfigError(f"{path}: the config changed since this run started (at {changed}); "
                          "resume with the original config or start a new run")
    done = {record["cell"] for record in read_lines(path, CELLS)}
    drop_unfinished_samples(path, done)
    return manifest, done


def drop_unfinished_samples(path: Path, done: set[int]) -> None:
    kept = [r for r in read_lines(path, SAMPLES) if r.get("cell") in done]
    partial = path / (SAMPLES + ".partial")
    partial.write_text("".join(json.dumps(r) + "\n" for r in kept))
    os.replace(partial, path / SAMPLES)
    # cells.jsonl may end in a torn line too: rewrite it whole
    cells = read_lines(path, CELLS)
    (path / (CELLS + ".partial")).write_text("".join(json.dumps(r) + "\n" for r in cells))
    os.replace(path / (CELLS + ".partial"), path / CELLS)
