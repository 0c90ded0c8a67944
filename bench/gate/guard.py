"""What makes two runs incomparable (refused) or worth a note: the host, accel, drivers, status."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from bench.results.manifest import Manifest
from bench.results.run import Run
from foundation.errors import GateError

HOST_KEYS = ("cpu_model", "kernel", "cgroup_version")


def differences(before: Mapping[str, Any], after: Mapping[str, Any], keys: Iterable[str],
                prefix: str) -> list[str]:
    return [f"{prefix}{key} {before.get(key)!r} -> {after.get(key)!r}"
            for key in keys if before.get(key) != after.get(key)]


def host_differences(baseline: Manifest, candidate: Manifest,
                     runtimes: Iterable[str]) -> list[str]:
    """What makes two runs incomparable: host CPU, kernel, cgroup version, per-runtime accel."""
    found = differences(baseline.host, candidate.host, HOST_KEYS, "host ")
    for name in sorted(runtimes):
        found += differences(baseline.drivers.get(name, {}), candidate.drivers.get(name, {}),
                             ["accel"], f"runtime {name} ")
    return found


def driver_changes(baseline: Manifest, candidate: Manifest,
                   runtimes: Iterable[str]) -> list[str]:
    """Driver fingerprint changes (engine version, seccomp profile...): reported, not refused."""
    found = []
    for name in sorted(runtimes):
        before = baseline.drivers.get(name, {})
        after = candidate.drivers.get(name, {})
        keys = sorted((set(before) | set(after)) - {"accel"})
        found += differences(before, after, keys, f"runtime {name} driver ")
    return found


def guard(baseline: Run, candidate: Run, allow_host_change: bool) -> list[str]:
    """Refuses runs from different hosts; returns notes about what changed and was allowed."""
    common = baseline.runtimes() & candidate.runtimes()
    changed = host_differences(baseline.manifest, candidate.manifest, common)
    if changed and not allow_host_change:
        raise GateError(f"{baseline.path} and {candidate.path} are not comparable: "
                        f"{'; '.join(changed)} (pass --allow-host-change to compare anyway)")
    notes = [f"allowed: {line}" for line in changed]
    return notes + driver_changes(baseline.manifest, candidate.manifest, common)


def run_notes(run: Run, role: str) -> list[str]:
    status = run.manifest.status
    return [] if status == "complete" else [f"the {role} run's status is {status!r}"]
