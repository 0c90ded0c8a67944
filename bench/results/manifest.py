"""A results directory's layout and its manifest: what makes a directory bench's, and readable.

Layout: manifest.json (format, version, config, host fingerprint, status),
samples.jsonl (one Sample per line) and cells.jsonl (one line per finished cell, which
is what `--resume` reads).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.errors import ResultsError

FORMAT = "bench-results"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SAMPLES = "samples.jsonl"
CELLS = "cells.jsonl"
BASELINE_DRIVER = "process"


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
    return check_format(manifest, FORMAT, FORMAT_VERSION, f"{path}: not a bench results "
                        f"directory (another tool's {MANIFEST})", f"{path}: results")


def check_format(document: Any, name: str, reads: int, foreign: str,
                 what: str) -> dict[str, Any]:
    """A versioned document bench wrote: its `format` is `name`, its `format_version` at most
    `reads`; else ResultsError with `foreign`, or saying the version is too new."""
    if not isinstance(document, dict) or document.get("format") != name:
        raise ResultsError(foreign)
    version = document.get("format_version")
    if not isinstance(version, int) or version > reads:
        raise ResultsError(f"{what} format version {version!r} is newer than this bench reads "
                           f"({reads}); upgrade bench")
    return document


def baseline_runtime(manifest: dict[str, Any]) -> str | None:
    """The config's baseline, else the first runtime of the run whose driver is the plain process."""
    config = manifest.get("config", {})
    if config.get("baseline"):
        return str(config["baseline"])
    runtimes = config.get("runtimes", {})
    return next((name for name, spec in runtimes.items() if spec.get("driver") == BASELINE_DRIVER),
                None)
