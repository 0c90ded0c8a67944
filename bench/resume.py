"""`bench run --resume DIR`: finish the cells a stopped run did not, with the same plan.

A cell counts as done once its line is in cells.jsonl; samples of a cell that was cut
off before that line are dropped, so the rerun does not count them twice.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from bench.config import Config
from bench.errors import ConfigError, ResultsError
from bench.plan import Cell, make_plan
from bench.store import CELLS, SAMPLES, read_lines, read_manifest


def first_difference(old: Any, new: Any, key: str = "") -> str | None:
    """The dotted key where two config documents first differ."""
    if isinstance(old, dict) and isinstance(new, dict):
        for name in sorted(old.keys() | new.keys()):
            found = first_difference(old.get(name), new.get(name), f"{key}.{name}" if key else name)
            if found:
                return found
        return None
    return None if old == new else (key or "(top level)")


def remaining_cells(path: Path, config: Config) -> tuple[dict[str, Any], list[Cell]]:
    """The manifest and the cells still to run (warm-up cells run again: caches went cold)."""
    manifest = read_manifest(path)
    if manifest.get("status") == "complete":
        raise ResultsError(f"{path}: this run is already complete; nothing to resume")
    changed = first_difference(manifest.get("config"), config.model_dump(mode="json"))
    if changed:
        raise ConfigError(f"{path}: the config changed since this run started (at {changed}); "
                          "resume with the original config or start a new run")
    done = {record["cell"] for record in read_lines(path, CELLS)}
    drop_unfinished_samples(path, done)
    return manifest, [c for c in make_plan(config) if c.warmup or c.index not in done]


def drop_unfinished_samples(path: Path, done: set[int]) -> None:
    kept = [r for r in read_lines(path, SAMPLES) if r.get("cell") in done]
    partial = path / (SAMPLES + ".partial")
    partial.write_text("".join(json.dumps(r) + "\n" for r in kept))
    os.replace(partial, path / SAMPLES)
    # cells.jsonl may end in a torn line too: rewrite it whole
    cells = read_lines(path, CELLS)
    (path / (CELLS + ".partial")).write_text("".join(json.dumps(r) + "\n" for r in cells))
    os.replace(path / (CELLS + ".partial"), path / CELLS)
