"""How much each row moves between sittings of identical code, per host kind: the calibration.

Two runs of the same code minutes apart differ by more than their instances explain: the
machine's load, caches and daemons change between sittings, and every instance of a sitting
shares that state. Measured here (2 cores shared with other work), the median of a row moved
by up to 30 % between sittings while its instances agreed to a few %. A rank test between
two runs sees only the instances, so it calls such a drift significant.

From K >= 3 A/A sittings (the same config, same code) this module estimates, per row, the
standard deviation of the log of the row's median over sittings, s (K - 1 degrees of
freedom; sittings of several commits pool their spread around each commit's own mean). It
holds everything that moves a sitting's median: its instances' own noise and the sitting's
state. Between two later sittings of identical code, the change of log medians d then has
standard deviation s * sqrt(2), and d / (s * sqrt(2)) follows Student's t with the
calibration's degrees of freedom when the log medians are normal (a prediction for a new
pair, so the uncertainty of s itself is paid for). bench.gate.significance.sitting_change is that
test.

The spread is a property of a machine kind, so a calibration belongs to one: the host
fingerprint keys the history store compares runs by (bench.history.identity: architecture,
CPU model, core count, kernel release, cgroup version, CPU vulnerability mitigations; not
the host name, so CI runners of one type are one kind). A calibration file holds one
calibration per host kind; `bench calibrate -o FILE` adds or replaces this kind's and keeps
the others, and the gate uses the one of the candidate's kind only (for_host).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.history.identity import HOST_KEYS, config_hash, host_hash, host_kind
from bench.results.manifest import Manifest
from bench.results.run import Key, Run
from foundation.errors import ResultsError
from foundation.files import write_output

FORMAT = "bench-gate-calibration"
FORMAT_VERSION = 2  # 1: one calibration, no per-row dof; 2: a list, one per host kind
MIN_SITTINGS = 3
LABELS = {"cpu_model": "{}", "cores": "{} cores", "kernel": "kernel {}",
          "cgroup_version": "cgroup {}"}  # a kind, in words
SHOWN_KEYS = tuple(LABELS)


@dataclass(frozen=True)
class Spread:
    """How much a row's log median moves between sittings: its SD and that SD's freedom."""

    sd: float
    dof: int


@dataclass(frozen=True)
class Calibration:
    """Per row, the standard deviation of its log median over sittings of one host kind."""

    sd: dict[Key, float]
    sittings: int
    host: dict[str, Any]  # the host fingerprint's identity keys (HOST_KEYS)
    source: str = ""  # the file it was read from, or the runs it was estimated from
    dof: dict[Key, int] = field(default_factory=dict)  # rows pooled over commits; else K - 1
    config_hash: str | None = None  # of the sittings' config (bench.history.identity)

    def of(self, key: Key) -> Spread | None:
        found = self.sd.get(key)
        return None if found is None else Spread(found, self.dof.get(key, self.sittings - 1))

    @property
    def kind(self) -> str:
        """The host kind's hash, as `bench history list` shows a host fingerprint."""
        return host_kind(self.host)


def host_identity(manifest: Manifest) -> dict[str, Any]:
    return {key: manifest.host.get(key) for key in HOST_KEYS}


def describe_kind(host: dict[str, Any]) -> str:
    """A host kind in a few words: hash, CPU, cores, kernel and cgroup layout."""
    words = [LABELS[key].format(host.get(key)) for key in SHOWN_KEYS
             if host.get(key) is not None]
    unknown = [key for key in HOST_KEYS if host.get(key) is None]
    if unknown:
        words.append(f"{', '.join(unknown)} unknown")
    return f"{host_kind(host)[:8]} ({', '.join(words)})"


def same_kind(runs: Sequence[Run]) -> None:
    """A/A sittings come from one host kind and one config, or they are not A/A."""
    for run in runs[1:]:
        if host_hash(run.manifest) != host_hash(runs[0].manifest):
            raise ResultsError(f"{run.path} ran on another host kind than {runs[0].path} "
                               f"({describe_kind(host_identity(run.manifest))} against "
                               f"{describe_kind(host_identity(runs[0].manifest))}): sittings "
                               "of one calibration come from one kind of host")
        if config_hash(run.manifest) != config_hash(runs[0].manifest):
            raise ResultsError(f"{run.path} ran another config than {runs[0].path}: sittings "
                               "of one calibration run the same config")


def log_median(values: np.ndarray[Any, np.dtype[np.float64]]) -> float | None:
    """The log of a sitting's median; None where there is no log scale (a value <= 0)."""
    return None if values.size == 0 or values.min() <= 0 else float(np.log(np.median(values)))


def estimate(runs: list[Run], per_instance: bool = True) -> Calibration:
    """The calibration from A/A sittings of one host kind: rows present, all positive, in
    every run."""
    if len(runs) < MIN_SITTINGS:
        raise ResultsError(f"a calibration needs at least {MIN_SITTINGS} A/A sittings "
                           f"(got {len(runs)})")
    same_kind(runs)
    common = set.intersection(*(set(run.series) for run in runs))
    found: dict[Key, float] = {}
    for key in sorted(common):
        logs = [log_median(run.series[key].observations(per_instance)) for run in runs]
        if any(value is None for value in logs):
            continue  # no log scale (memory.overhead of the baseline is 0): the rank test decides
        found[key] = float(np.std(np.asarray(logs, dtype=float), ddof=1))
    return Calibration(found, len(runs), host_identity(runs[0].manifest),
                       ", ".join(str(run.path) for run in runs),
                       config_hash=config_hash(runs[0].manifest))


def entry_json(calibration: Calibration) -> dict[str, Any]:
    return {"host": calibration.host, "host_kind": calibration.kind,
            "config_hash": calibration.config_hash, "created": time.time(),
            "sittings": calibration.sittings, "source": calibration.source,
            "rows": [{"runtime": r, "workload": w, "metric": m, "sd": sd,
                      "dof": calibration.dof.get((r, w, m), calibration.sittings - 1)}
                     for (r, w, m), sd in sorted(calibration.sd.items())]}


def write(path: Path, calibration: Calibration) -> list[Calibration]:
    """This kind's calibration into the file the user named (`bench calibrate -o`), in place
    of the same kind's; the other kinds' are kept (and returned). A file there that is not
    a calibration is refused, not overwritten."""
    document: dict[str, Any] = {"format": FORMAT, "format_version": FORMAT_VERSION}
    kept: list[Calibration] = []
    if path.exists():
        kept = [c for c in read(path) if c.kind != calibration.kind]
        document.update({k: v for k, v in json.loads(path.read_text()).items()
                         if k == "note"})  # the file's own words stay
    document["calibrations"] = [entry_json(c) for c in [*kept, calibration]]
    write_output(path, json.dumps(document, indent=1) + "\n")
    return kept


def read(path: Path) -> list[Calibration]:
    """Every calibration in a file; a missing, foreign or newer file is refused with the reason."""
    try:
        document = json.loads(path.read_text())
    except OSError as error:
        raise ResultsError(f"{path}: cannot read the calibration ({error.strerror})") from None
    except json.JSONDecodeError as error:
        raise ResultsError(f"{path}: not a calibration file ({error.msg})") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ResultsError(f"{path}: not a bench gate calibration (run `bench calibrate`)")
    version = document.get("format_version")
    if type(version) is not int or version > FORMAT_VERSION:
        raise ResultsError(f"{path}: calibration format {version!r} is newer than this bench "
                           f"reads ({FORMAT_VERSION}); upgrade bench")
    entries = [document] if version == 1 else document.get("calibrations")
    if not isinstance(entries, list) or not entries:
        raise ResultsError(f"{path}: a calibration file lists `calibrations`, one per host kind")
    return [parse_entry(path, entry) for entry in entries]


def parse_entry(path: Path, entry: Any) -> Calibration:
    try:
        sittings = int(entry["sittings"])
        rows = {(str(r["runtime"]), str(r["workload"]), str(r["metric"])): r
                for r in entry["rows"]}
        sd = {key: float(row["sd"]) for key, row in rows.items()}
        dof = {key: int(row.get("dof", sittings - 1)) for key, row in rows.items()}
        host = dict(entry.get("host") or {})
    except (KeyError, TypeError, ValueError, AttributeError):
        raise ResultsError(f"{path}: a calibration needs `sittings` and rows with runtime, "
                           "workload, metric and sd") from None
    if min([sittings - 1, *dof.values()]) < MIN_SITTINGS - 1:
        raise ResultsError(f"{path}: a calibration needs {MIN_SITTINGS} sittings of a row "
                           f"({MIN_SITTINGS - 1} degrees of freedom)")
    return Calibration(sd, sittings, host, str(path), dof, entry.get("config_hash"))


def for_host(found: Sequence[Calibration], manifest: Manifest) -> Calibration | None:
    """The calibration of the run's host kind, if the file has one."""
    kind = host_hash(manifest)
    return next((c for c in found if c.kind == kind), None)
