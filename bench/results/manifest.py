"""The manifest: one run's record as one typed model, and the one state machine of its status.

Every reader gets a `Manifest` from read_manifest (or, for a run the history store keeps,
from manifest_of on the stored document); every writer hands one to bench.results.writer.
Nothing else builds or reads manifest.json. Its fields are typed and checked on read (a
field of the wrong type is one ResultsError line naming it); a field this bench does not
know is kept as it is, in `extras`, and written back.

The status moves through one state machine (MOVES): a run is `running` until it ends
`complete`, `interrupted` (with the signal) or `failed` (with the reason); a `--resume`
moves a stopped run back to `running` and keeps how the attempt before it ended in its
`Resume`. Any other move is refused (StatusMoveRefused). The format's versions and their
upgrades are bench.results.manifest_versions; docs/results-format.md describes both.

This module stays free of pydantic (the gate reads manifests and must start fast): the
config is kept as the data the run validated, with typed accessors for what readers need.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, get_args

from bench.results.documents import MANIFEST, read_document
from bench.results.manifest_versions import FORMAT, FORMAT_VERSION, OWN_FIELDS, current
from foundation.errors import ResultsError

Status = Literal["running", "complete", "interrupted", "failed"]
Kind = Literal["run", "verify"]
Ending = Literal["interrupted", "failed", "killed"]  # how a resumed attempt had stopped
STATUSES: tuple[str, ...] = get_args(Status)
KINDS: tuple[str, ...] = get_args(Kind)
ENDINGS: tuple[str, ...] = get_args(Ending)
# the state machine: running ends one way; a resume takes a stopped run back to running
# (running -> running: a run whose writer was killed, which the directory's free lock shows)
MOVES: dict[str, frozenset[str]] = {
    "running": frozenset({"complete", "interrupted", "failed", "running"}),
    "interrupted": frozenset({"running"}),
    "failed": frozenset({"running"}),
    "complete": frozenset(),
}
# how a resumed attempt had stopped, by the status its manifest said (running: killed)
ENDING_OF: dict[str, Ending] = {"running": "killed", "interrupted": "interrupted",
                                "failed": "failed"}
BASELINE_DRIVER = "process"
Json = dict[str, Any]


class StatusMoveRefused(ResultsError):
    """A move the state machine does not have (a complete run resumed, an interrupted one
    completed): nothing was written."""

    def __init__(self, run_id: str | None, before: str, after: str) -> None:
        super().__init__(f"run {run_id or '?'}: its status cannot move from {before} to {after}")
        self.run_id = run_id
        self.before = before
        self.after = after


def text_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True)
class RunConfig:
    """The run's config as the run validated it, every default written out (`data`), with
    typed accessors for what readers need. It stays data: hashing it and comparing it on
    --resume use it as written, and reading it needs no config models."""

    data: Mapping[str, Any] = field(default_factory=dict)

    @property
    def runtimes(self) -> dict[str, Json]:
        """Runtime name -> its section (driver, options, repetitions...), in config order."""
        return dict(self.data.get("runtimes") or {})

    def driver_of(self, runtime: str) -> str | None:
        return text_or_none(self.runtimes.get(runtime, {}).get("driver"))

    @property
    def workloads(self) -> dict[str, Json]:
        """Workload name -> its section (mode and its settings), in config order."""
        return dict(self.data.get("workloads") or {})

    def mode_of(self, workload: str) -> str | None:
        return text_or_none(self.workloads.get(workload, {}).get("mode"))

    @property
    def baseline(self) -> str | None:
        """The configured baseline runtime (see Manifest.baseline for the one used)."""
        return text_or_none(self.data.get("baseline"))

    @property
    def gate(self) -> Json | None:
        """The `gate:` section as written, None when the config has none."""
        section = self.data.get("gate")
        return None if section is None else dict(section)

    @property
    def description(self) -> str:
        return str(self.data.get("description") or "")

    @property
    def repetitions(self) -> int | None:
        value = self.data.get("repetitions")
        return None if value is None else int(value)

    @property
    def warmup(self) -> int:
        return int(self.data.get("warmup") or 0)


@dataclass(frozen=True)
class Attempt:
    """How an attempt of the run stopped, kept by the resume that followed it. `status`
    None: not recorded (a version-1 manifest kept only the last signal and reason)."""

    status: Ending | None = None
    ended: float | None = None
    signal: str | None = None
    reason: str | None = None
    swept: tuple[str, ...] = ()  # what the sweep after its cells removed

    def document(self) -> Json:
        found = {"status": self.status, "ended": self.ended, "signal": self.signal,
                 "reason": self.reason}
        return {**{k: v for k, v in found.items() if v is not None},
                **({"swept": list(self.swept)} if self.swept else {})}


@dataclass(frozen=True)
class Resume:
    """One `--resume`: when, what of the stopped attempt it removed before starting, and how
    that attempt had stopped (None: not recorded, version 1)."""

    at: float
    stopped: Attempt | None = None
    swept: tuple[str, ...] = ()

    def document(self) -> Json:
        return {"at": self.at, **({"swept": list(self.swept)} if self.swept else {}),
                **({"stopped": self.stopped.document()} if self.stopped else {})}


@dataclass(frozen=True)
class Manifest:
    """One run: who, when, what config on which host with which drivers, and how it ended."""

    run_id: str | None = None
    status: Status = "running"
    kind: Kind = "run"  # "verify": `bench verify`'s run, references beside its cells
    created: float | None = None  # wall-clock seconds since the epoch
    ended: float | None = None  # set when the status is final
    signal: str | None = None  # interrupted: the signal's name
    reason: str | None = None  # failed: why
    config_path: str | None = None
    config: RunConfig = field(default_factory=RunConfig)
    config_commit: str | None = None  # the git commit (+dirty) of the config's folder
    config_branch: str | None = None
    cells: int | None = None  # planned, warm-up cells included
    recorded_cells: int | None = None  # planned, warm-up cells left out
    failed_cells: int | None = None  # set when the run completes
    bundle: str | None = None  # the probe build's digest
    host: Mapping[str, Any] = field(default_factory=dict)  # the host fingerprint
    endpoints: Mapping[str, str | None] = field(default_factory=dict)  # runtime -> socket, URI
    drivers: Mapping[str, Json] = field(default_factory=dict)  # runtime -> driver fingerprint
    skipped: Mapping[str, str] = field(default_factory=dict)  # runtime -> why not run here
    workloads: Mapping[str, Json] = field(default_factory=dict)  # command workload -> its tree
    resumed: tuple[Resume, ...] = ()
    swept: tuple[str, ...] = ()  # what the sweep after this attempt's cells removed
    extras: Mapping[str, Any] = field(default_factory=dict)  # fields this bench does not know

    @property
    def baseline(self) -> str | None:
        """The runtime ratios and memory.overhead are taken against: the config's baseline,
        else the first runtime whose driver is the plain process."""
        configured = self.config.baseline
        if configured:
            return configured
        return next((name for name in self.config.runtimes
                     if self.config.driver_of(name) == BASELINE_DRIVER), None)

    @property
    def attempt(self) -> int:
        """1 for a new run, then one more for each --resume (instance names carry it)."""
        return 1 + len(self.resumed)

    def resume_times(self) -> list[float]:
        return [resume.at for resume in self.resumed]

    # --- the state machine -----------------------------------------------------------------

    def moved(self, status: Status) -> None:
        if status not in MOVES[self.status]:
            raise StatusMoveRefused(self.run_id, self.status, status)

    def completed(self, failed_cells: int, at: float) -> Manifest:
        self.moved("complete")
        return replace(self, status="complete", ended=at, failed_cells=failed_cells)

    def interrupted(self, signal: str, at: float) -> Manifest:
        self.moved("interrupted")
        return replace(self, status="interrupted", ended=at, signal=signal)

    def failed(self, reason: str, at: float) -> Manifest:
        self.moved("failed")
        return replace(self, status="failed", ended=at, reason=reason)

    def resumed_at(self, at: float, swept: Sequence[str] = ()) -> Manifest:
        """Back to running; how the stopped attempt ended moves into the new Resume (a run
        still `running` here was killed before it could say: its writer is gone)."""
        self.moved("running")
        stopped = Attempt(ENDING_OF[self.status], self.ended, self.signal, self.reason,
                          self.swept)
        return replace(self, status="running", ended=None, signal=None, reason=None, swept=(),
                       resumed=(*self.resumed, Resume(at, stopped, tuple(swept))))

    # --- the document ------------------------------------------------------------------------

    def document(self) -> Json:
        """manifest.json's object, in this bench's version."""
        head: Json = {"format": FORMAT, "format_version": FORMAT_VERSION, "kind": self.kind,
                      "status": self.status}
        optional = {"run_id": self.run_id, "created": self.created, "ended": self.ended,
                    "signal": self.signal, "reason": self.reason,
                    "config_path": self.config_path, "config_commit": self.config_commit,
                    "config_branch": self.config_branch, "cells": self.cells,
                    "recorded_cells": self.recorded_cells, "failed_cells": self.failed_cells,
                    "bundle": self.bundle}
        head.update({key: value for key, value in optional.items() if value is not None})
        head.update(config=dict(self.config.data), host=dict(self.host),
                    endpoints=dict(self.endpoints), drivers=dict(self.drivers),
                    skipped=dict(self.skipped), workloads=dict(self.workloads))
        if self.resumed:
            head["resumed"] = [resume.document() for resume in self.resumed]
        if self.swept:
            head["swept"] = list(self.swept)
        head.update({key: value for key, value in self.extras.items() if key not in KNOWN})
        return head


def read_manifest(path: Path) -> Manifest:
    """The manifest of a results directory, after checking it is one this bench reads: the
    format, a positive version no newer than this bench's (an older one is upgraded), and
    the type of every field."""
    if not path.is_dir():
        raise ResultsError(f"{path}: no such results directory")
    file = path / MANIFEST
    return manifest_of(current(read_document(path, file), path, file), str(file))


def stored_manifest(document: Any, where: str) -> Manifest:
    """A manifest as the history store keeps it (any version this bench reads)."""
    return manifest_of(current(document, Path(where), Path(MANIFEST)), where)


# --- reading a document into a Manifest ------------------------------------------------------

KNOWN = frozenset({"format", "format_version", "kind", "status", "run_id", "created", "ended",
                   "signal", "reason", "config_path", "config", "config_commit", "config_branch",
                   "cells", "recorded_cells", "failed_cells", "bundle", "host", "endpoints",
                   "drivers", "skipped", "workloads", "resumed", "swept"})
NUMBER = (int, float)
CONFIG_TYPES: dict[str, tuple[type, ...]] = {
    "runtimes": (dict,), "workloads": (dict,), "gate": (dict, type(None)),
    "baseline": (str, type(None)), "description": (str,), "warmup": (int,),
    "repetitions": (int,),
}


class Fields:
    """Typed reads of one JSON object; each refusal is one line naming the dotted key."""

    def __init__(self, document: Json, where: str, prefix: str = "") -> None:
        self.document = document
        self.where = where
        self.prefix = prefix

    def wrong(self, key: str, problem: str) -> ResultsError:
        return ResultsError(f"{self.where}: {self.prefix}{key} {problem}")

    def value(self, key: str, types: tuple[type, ...]) -> Any:
        """The value (None when absent), of one of `types` (a boolean is never a number)."""
        value = self.document.get(key)
        if key in self.document and (not isinstance(value, types) or isinstance(value, bool)):
            raise self.wrong(key, f"has the wrong type ({type(value).__name__})")
        return value

    def choice(self, key: str, allowed: tuple[str, ...], default: str | None) -> Any:
        value = self.value(key, (str,))
        if value is None:
            return default
        if value not in allowed:
            raise self.wrong(key, f"is {value[:40]!r}, not one of {', '.join(allowed)}")
        return value

    def strings(self, key: str) -> tuple[str, ...]:
        values = self.value(key, (list,)) or []
        if not all(isinstance(value, str) for value in values):
            raise self.wrong(key, "must be a list of strings")
        return tuple(values)

    def objects(self, key: str) -> dict[str, Json]:
        """An object of objects (drivers, a config's runtimes)."""
        entries = self.value(key, (dict,)) or {}
        for name, entry in entries.items():
            if not isinstance(entry, dict):
                raise self.wrong(f"{key}.{name}", "must be an object")
        return dict(entries)

    def names(self, key: str, types: tuple[type, ...]) -> dict[str, Any]:
        """An object whose values are each of `types` (skipped reasons, endpoints)."""
        entries = self.value(key, (dict,)) or {}
        for name, entry in entries.items():
            if not isinstance(entry, types):
                raise self.wrong(f"{key}.{name}", f"has the wrong type ({type(entry).__name__})")
        return dict(entries)


def manifest_of(document: Json, where: str) -> Manifest:
    """A Manifest from a document of this bench's version (bench.results.manifest_versions
    upgrades older ones), every field type-checked."""
    fields = Fields(document, where)
    status = fields.choice("status", STATUSES, None)
    if status is None:
        raise ResultsError(f"{where}: no status (running, complete, interrupted or failed)")
    manifest = Manifest(
        run_id=fields.value("run_id", (str,)), status=status,
        kind=fields.choice("kind", KINDS, "run"), created=fields.value("created", NUMBER),
        ended=fields.value("ended", NUMBER), signal=fields.value("signal", (str,)),
        reason=fields.value("reason", (str,)), config_path=fields.value("config_path", (str,)),
        config=config_of(fields), config_commit=fields.value("config_commit", (str, type(None))),
        config_branch=fields.value("config_branch", (str, type(None))),
        cells=fields.value("cells", (int,)), recorded_cells=fields.value("recorded_cells", (int,)),
        failed_cells=fields.value("failed_cells", (int,)),
        bundle=fields.value("bundle", (str, type(None))), host=fields.value("host", (dict,)) or {},
        endpoints=fields.names("endpoints", (str, type(None))),
        drivers=fields.objects("drivers"), skipped=fields.names("skipped", (str,)),
        workloads=fields.objects("workloads"), resumed=resumes_of(fields),
        swept=fields.strings("swept"),
        extras={key: value for key, value in document.items() if key not in KNOWN})
    check_ending(manifest, where)
    return manifest


def config_of(fields: Fields) -> RunConfig:
    data = fields.value("config", (dict,)) or {}
    config = Fields(data, fields.where, "config.")
    for key, types in CONFIG_TYPES.items():
        config.value(key, types)
    config.objects("runtimes")
    config.objects("workloads")
    return RunConfig(data)


def resumes_of(fields: Fields) -> tuple[Resume, ...]:
    found = []
    for index, entry in enumerate(fields.value("resumed", (list,)) or []):
        key = f"resumed[{index}]"
        if not isinstance(entry, dict):
            raise fields.wrong(key, "must be an object")
        resume = Fields(entry, fields.where, f"{key}.")
        at = resume.value("at", NUMBER)
        if at is None:
            raise fields.wrong(key, "has no time (at)")
        stopped = resume.value("stopped", (dict,))
        found.append(Resume(at, None if stopped is None else attempt_of(resume, stopped),
                            resume.strings("swept")))
    return tuple(found)


def attempt_of(resume: Fields, document: Json) -> Attempt:
    stopped = Fields(document, resume.where, f"{resume.prefix}stopped.")
    return Attempt(stopped.choice("status", ENDINGS, None), stopped.value("ended", NUMBER),
                   stopped.value("signal", (str,)), stopped.value("reason", (str,)),
                   stopped.strings("swept"))


def check_ending(manifest: Manifest, where: str) -> None:
    """What only a final status has: a running run has no end, only an interrupted one a
    signal, only a failed one a reason (the state machine never writes otherwise)."""
    for key, statuses in OWN_FIELDS.items():
        if getattr(manifest, key) is not None and manifest.status not in statuses:
            raise ResultsError(f"{where}: {key} is set but the status is {manifest.status}")
