"""The results format's versions: which this bench writes, and how an older one is upgraded.

A manifest says its format (`bench-results`) and version. A reader takes a document of an
older version through each step below in turn (as pyperf's and asv's `update_to_2`), so
the rest of bench only ever sees the newest shape; a newer version than this bench knows is
refused in one line (exit 2: upgrade bench). The directory is never rewritten by reading:
only a writer (a `--resume`) writes the new shape back.

Version 2 (this bench): the run's `kind`, and a resume that keeps how the attempt before it
ended (docs/results-format.md, "Versions").
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from foundation.errors import ResultsError

FORMAT = "bench-results"
FORMAT_VERSION = 2
Document = dict[str, Any]
# what a stopped attempt wrote at the top level, and the status each belongs to
OWN_FIELDS = {"signal": ("interrupted",), "reason": ("failed",),
              "ended": ("complete", "interrupted", "failed")}


def current(document: Any, path: Path, file: Path) -> Document:
    """The document in this bench's version: checked to be a results manifest of a version
    it knows, then upgraded step by step."""
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ResultsError(f"{path}: not a bench results directory (another tool's {file.name})")
    version = document.get("format_version")
    if type(version) is not int or version < 1:
        raise ResultsError(f"{file}: format_version must be a positive integer (got "
                           f"{json.dumps(version)[:40]})")
    if version > FORMAT_VERSION:
        raise ResultsError(f"{path}: results format version {version!r} is newer than this bench "
                           f"reads ({FORMAT_VERSION}); upgrade bench")
    upgraded: Document = document
    for step in UPGRADES[version - 1:]:
        upgraded = step(upgraded)
    return upgraded


def update_to_2(old: Document) -> Document:
    """Version 1 -> 2.

    - `verify: true` (a `bench verify` run) becomes `kind: verify`; every other run is
      `kind: run`.
    - `resumed`, a list of times, becomes a list of objects `{at, swept, stopped}`. Version 1
      overwrote on each resume what the stopped attempt had written (its sweep before the
      resume, `swept_before_resume`) and left its `signal`, `reason` and `ended` beside the
      later status (a complete run saying SIGINT); version 2 keeps them with the resume they
      preceded. What version 1 kept (the last of each) goes to the last resume, with the
      stopped attempt's status where one field says it (a signal: interrupted; a reason:
      failed) and none where both or neither do.
    """
    new = {key: value for key, value in old.items()
           if key not in ("verify", "swept_before_resume", "resumed")}
    new["format_version"] = 2
    new["kind"] = "verify" if old.get("verify") is True else "run"
    times = old.get("resumed")
    if not isinstance(times, list):
        if times is not None:
            new["resumed"] = times  # the reader refuses it, naming the field
        return new
    resumes: list[Document] = [{"at": at} for at in times]
    if resumes:
        resumes[-1].update(last_resume(old, new))
    new["resumed"] = resumes
    return new


def last_resume(old: Document, new: Document) -> Document:
    """What a version-1 manifest kept of the attempt before its last resume; the fields the
    current status does not own are moved out of `new` into it."""
    status = old.get("status")
    stopped = {key: new.pop(key) for key, owners in OWN_FIELDS.items()
               if key in old and status not in owners}
    said = [name for key, name in (("signal", "interrupted"), ("reason", "failed"))
            if key in stopped]
    if len(said) == 1:
        stopped["status"] = said[0]
    found: Document = {}
    if "swept_before_resume" in old:
        found["swept"] = old["swept_before_resume"]
    if stopped:
        found["stopped"] = stopped
    return found


UPGRADES: list[Callable[[Document], Document]] = [update_to_2]  # step n: version n -> n + 1
