"""How much each row moves between sittings of identical code: the gate's calibration.

Two runs of the same code minutes apart differ by more than their instances explain: the
machine's load, caches and daemons change between sittings, and every instance of a sitting
shares that state. Measured here (2 cores shared with other work), the median of a row moved
by up to 30 % between sittings while its instances agreed to a few %. A rank test between
two runs sees only the instances, so it calls such a drift significant.

From K >= 3 A/A sittings (the same config, same code) this module estimates, per row, the
standard deviation of the log of the row's median over sittings, s (K - 1 degrees of
freedom). It holds everything that moves a sitting's median: its instances' own noise and
the sitting's state. Between two later sittings of identical code, the change of log medians
d then has standard deviation s * sqrt(2), and d / (s * sqrt(2)) follows Student's t with
K - 1 degrees of freedom when the log medians are normal (a prediction for a new pair, so
the uncertainty of s itself is paid for). bench.gate.stats.sitting_change is that test. The
file is JSON, written by `bench calibrate`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.gate import guard
from bench.results.run import Key, Run
from foundation.errors import ResultsError
from foundation.files import write_output

FORMAT = "bench-gate-calibration"
FORMAT_VERSION = 1
MIN_SITTINGS = 3
# the host keys that make two runs incomparable (bench.gate.guard), and the core count: a
# calibration from another host is used with a note (host_notes), not refused
HOST_KEYS = (*guard.HOST_KEYS, "cores")


@dataclass(frozen=True)
class Spread:
    """How much a row's log median moves between sittings: its SD and that SD's freedom."""

    sd: float
    dof: int


@dataclass(frozen=True)
class Calibration:
    """Per row, the standard deviation of its log median over K sittings."""

    sd: dict[Key, float]
    sittings: int
    host: dict[str, Any]
    source: str = ""  # the file it was read from, or the runs it was estimated from

    def of(self, key: Key) -> Spread | None:
        found = self.sd.get(key)
        return None if found is None else Spread(found, self.sittings - 1)


def estimate(runs: list[Run], per_instance: bool = True) -> Calibration:
    """The calibration from A/A sittings: rows present, all positive, in every run."""
    if len(runs) < MIN_SITTINGS:
        raise ResultsError(f"a calibration needs at least {MIN_SITTINGS} A/A sittings "
                           f"(got {len(runs)})")
    common = set.intersection(*(set(run.series) for run in runs))
    found: dict[Key, float] = {}
    for key in sorted(common):
        samples = [run.series[key].observations(per_instance) for run in runs]
        if any(s.size == 0 or s.min() <= 0 for s in samples):
            continue  # no log scale (memory.overhead of the baseline is 0): the rank test decides
        found[key] = float(np.std(np.log([np.median(s) for s in samples]), ddof=1))
    host = runs[0].manifest.get("host", {})
    return Calibration(found, len(runs), {k: host.get(k) for k in HOST_KEYS},
                       ", ".join(str(run.path) for run in runs))


def to_json(calibration: Calibration) -> dict[str, Any]:
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "created": time.time(),
            "sittings": calibration.sittings, "host": calibration.host,
            "source": calibration.source,
            "rows": [{"runtime": r, "workload": w, "metric": m, "sd": sd}
                     for (r, w, m), sd in sorted(calibration.sd.items())]}


def write(path: Path, calibration: Calibration) -> None:
    """The calibration to the file the user named (`bench calibrate --output`)."""
    write_output(path, json.dumps(to_json(calibration), indent=1) + "\n")


def read(path: Path) -> Calibration:
    """A calibration file; a missing, foreign or newer one is refused with the reason."""
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
    try:
        rows = {(str(r["runtime"]), str(r["workload"]), str(r["metric"])): float(r["sd"])
                for r in document["rows"]}
        sittings = int(document["sittings"])
    except (KeyError, TypeError, ValueError):
        raise ResultsError(f"{path}: a calibration needs `sittings` and rows with runtime, "
                           "workload, metric and sd") from None
    if sittings < MIN_SITTINGS:
        raise ResultsError(f"{path}: {sittings} sittings; a calibration needs {MIN_SITTINGS}")
    return Calibration(rows, sittings, document.get("host") or {}, str(path))


def host_notes(calibration: Calibration, manifest: dict[str, Any]) -> list[str]:
    """Differences between the calibration's host and a run's: the spread may not carry over."""
    host = manifest.get("host", {})
    return [f"the calibration ({calibration.source}) was measured on another host: {key} "
            f"{calibration.host.get(key)!r} -> {host.get(key)!r}"
            for key in HOST_KEYS if key in calibration.host
            and calibration.host.get(key) != host.get(key)]
