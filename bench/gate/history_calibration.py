"""`bench calibrate --history`: the calibration of a host kind from the runs its store holds.

Runs of the same config at the same commit on one host kind are A/A sittings by construction:
identical code, measured in different sittings. The store keys every run by its host
fingerprint hash and config hash (bench.history.identity) and records its commit, so the
sittings of a calibration are the store's complete runs with the given run's host kind and
config, grouped by commit. Each commit's runs move around their own mean; the spread is
pooled over the commits (the sum of squared deviations of each row's log median from its
commit's mean, over the sum of each commit's runs less one: its degrees of freedom). So a
change between commits, a real regression included, adds nothing to the spread: only the
sittings of one code do.

Left out, and named: runs that did not complete, runs of no commit or of a checkout with
uncommitted changes (`+dirty`: two of them need not be the same code), and runs whose
runtimes used another accelerator (kvm or tcg) than the given run's.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from bench.gate.calibration import MIN_SITTINGS, Calibration, host_identity, log_median
from bench.gate.history import accel_differences
from bench.history.database import Store
from bench.history.identity import config_hash, host_hash
from bench.history.queries import RunLine, comparable_runs, row_instances
from bench.results.run import Key, Run
from foundation.errors import ResultsError

NEWEST = 200  # runs read from the store, newest first: the host's recent behaviour


@dataclass
class Sittings:
    """The store's runs that count as sittings, by commit, and why the others do not."""

    by_commit: dict[str, list[RunLine]] = field(default_factory=dict)
    left_out: list[str] = field(default_factory=list)


def sittings_of(store: Store, like: Run, imported: bool = False) -> Sittings:
    """Complete runs of `like`'s host kind and config, at a clean commit, same accelerators:
    those `bench run` recorded here, unless `imported` (a forged import could widen the
    spread until no regression fails)."""
    manifest = like.manifest
    found = Sittings()
    for line, past in comparable_runs(store, host_hash(manifest), config_hash(manifest), "",
                                      NEWEST, imported):
        why = left_out_because(line, accel_differences(manifest, past))
        if why:
            found.left_out.append(f"{line.run_id}: {why}")
        else:
            found.by_commit.setdefault(str(line.commit), []).append(line)
    return found


def left_out_because(line: RunLine, accel: list[str]) -> str | None:
    if line.status != "complete":
        return f"status {line.status!r}"
    if not line.commit or line.commit.endswith("+dirty"):
        return f"commit {line.commit or 'unknown'}: not one known code"
    return "; ".join(accel) or None


def pooled(logs_by_commit: list[list[float]]) -> tuple[float, int] | None:
    """The SD of log medians around each commit's own mean, and its degrees of freedom."""
    squares = sum(float(np.sum((np.asarray(logs) - np.mean(logs)) ** 2))
                  for logs in logs_by_commit)
    dof = sum(len(logs) - 1 for logs in logs_by_commit)
    return None if dof < MIN_SITTINGS - 1 else (float(np.sqrt(squares / dof)), dof)


def from_history(store: Store, like: Run, imported: bool = False) -> tuple[Calibration, Sittings]:
    """The calibration of `like`'s host kind and config from the store's sittings; refused
    (ResultsError) when no row has the sittings of one commit it needs."""
    sittings = sittings_of(store, like, imported)
    runs = [line for lines in sittings.by_commit.values() for line in lines]
    instances = row_instances(store, [line.run_id for line in runs])
    logs: dict[Key, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for commit, lines in sittings.by_commit.items():
        for line in lines:
            for key, values in instances[line.run_id].items():
                value = log_median(np.asarray(values or [], dtype=float))
                if value is not None:
                    logs[key][commit].append(value)
    sd: dict[Key, float] = {}
    dof: dict[Key, int] = {}
    for key in sorted(logs):
        spread = pooled(list(logs[key].values()))
        if spread is not None:
            sd[key], dof[key] = spread
    if not sd:
        counts = ", ".join(f"{len(v)} at {k[:12]}" for k, v in sittings.by_commit.items())
        raise ResultsError(f"{store.name} holds too few sittings of host kind "
                           f"{host_hash(like.manifest)[:8]} and config "
                           f"{config_hash(like.manifest)[:8]} for a calibration ({counts or 'none'}"
                           f"): it needs {MIN_SITTINGS} complete runs at one commit")
    repeated = {commit: lines for commit, lines in sittings.by_commit.items() if len(lines) > 1}
    count = sum(map(len, repeated.values()))
    source = f"history {store.name}: {count} runs at {len(repeated)} commit(s)"
    return Calibration(sd, count, host_identity(like.manifest), source, dof,
                       config_hash(like.manifest)), sittings
