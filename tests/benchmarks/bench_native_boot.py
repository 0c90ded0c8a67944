"""Native boot against its floors, in one sitting: `unshare` with the same namespaces, and runc.

    python -m tests.benchmarks.bench_native_boot [--n 30]

Interleaves N native boots (driver.start to the ready marker, then stop), N runs of
`unshare --pid --mount --uts --ipc --net --fork --mount-proc /bin/true` and, when runc
is installed, N `runc run` of a bundle whose process is the static probe (no busybox,
no terminal, its own network namespace, the same memory and pids limits). Each is
timed from Python with perf_counter_ns; the order rotates every round so drift hits
all three alike. Prints medians and the ratios the native runtime is held to (at most
1.5x unshare, far under runc). Run as root; leaves no cgroup, bundle or process behind.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.workload.bundle import build_bundle
from runtimes.base import ProbeCommand, RunContext
from runtimes.native.driver import NativeDriver, NativeOptions

UNSHARE = ["unshare", "--pid", "--mount", "--uts", "--ipc", "--net", "--fork", "--mount-proc",
           "/bin/true"]
RUNC_NAMESPACES = ("pid", "network", "ipc", "uts", "mount", "cgroup")
MEMORY_LIMIT = 256 * 1024**2
PIDS_LIMIT = 64
WARMUP = 3
TIMEOUT_S = 20.0


def timed_ms(argv: list[str]) -> float:
    """Wall time of one command to its exit, from Python (it must succeed)."""
    start = time.perf_counter_ns()
    subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, check=True,
                   timeout=TIMEOUT_S)
    return (time.perf_counter_ns() - start) / 1e6


class NativeBoots:
    """driver.start to the ready marker (boot.total and the wall time around start), then stop."""

    def __init__(self, run_id: str, work: Path) -> None:
        context = RunContext(run_id=run_id, cache_dir=work / "cache", work_dir=work)
        self.driver = NativeDriver("native", NativeOptions(memory_limit=MEMORY_LIMIT,
                                                           pids_limit=PIDS_LIMIT), context)
        self.driver.prepare(build_bundle(context.cache_dir).probe)
        self.boot_total: list[float] = []
        self.phases: list[dict[str, float]] = []

    def __call__(self) -> float:
        start = time.perf_counter_ns()
        deadline = time.monotonic_ns() + int(TIMEOUT_S * 1e9)
        instance = self.driver.start(ProbeCommand("ready"), deadline)
        wall = (time.perf_counter_ns() - start) / 1e6
        try:
            self.boot_total.append(instance.boot_total_ms())
            self.phases.append(instance.boot_phases())
        finally:
            self.driver.stop(instance)
        return wall

    def close(self) -> None:
        self.driver.close()


class RuncRuns:
    """`runc run` of a bundle: the probe in a rootfs, a generated config.json, a private state."""

    def __init__(self, run_id: str, work: Path, probe: Path) -> None:
        self.run_id = run_id
        self.bundle = work / "runc-bundle"
        self.state = work / "runc-state"
        self.serial = 0
        self.names: list[str] = []
        rootfs = self.bundle / "rootfs"
        for directory in ("proc", "tmp", "dev"):
            (rootfs / directory).mkdir(parents=True)
        shutil.copyfile(probe, rootfs / "probe")
        (rootfs / "probe").chmod(0o755)

    def __call__(self) -> float:
        self.serial += 1
        name = f"bench-{self.run_id}-runc-{self.serial}"
        self.names.append(name)
        (self.bundle / "config.json").write_text(json.dumps(oci_config(name)))
        return timed_ms(["runc", "--root", str(self.state), "run", "--bundle", str(self.bundle),
                         name])

    def close(self) -> None:
        for name in self.names:  # `runc run` deletes its container; this catches a killed one
            subprocess.run(["runc", "--root", str(self.state), "delete", "--force", name],
                           capture_output=True, timeout=TIMEOUT_S)


def oci_config(name: str) -> dict[str, Any]:
    """A minimal OCI config: the probe, no terminal, no capabilities, read-only root, no NIC."""
    cap_sets = ("bounding", "effective", "permitted", "inheritable", "ambient")
    no_caps: dict[str, list[str]] = {name: [] for name in cap_sets}
    return {
        "ociVersion": "1.0.2",
        "process": {"terminal": False, "user": {"uid": 0, "gid": 0},
                    "args": ["/probe", "ready", "idle=0"], "env": [], "cwd": "/",
                    "capabilities": no_caps, "noNewPrivileges": True},
        "root": {"path": "rootfs", "readonly": True},
        "hostname": name[:64],
        "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"},
                   {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
                    "options": ["nosuid", "nodev", "size=16m"]}],
        "linux": {
            "namespaces": [{"type": t} for t in RUNC_NAMESPACES],
            "resources": {"memory": {"limit": MEMORY_LIMIT}, "pids": {"limit": PIDS_LIMIT}},
            "cgroupsPath": f"/{name}",
        },
    }


def summary(name: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    return (f"{name:<28} median {statistics.median(samples):8.3f} ms   p90 {p90:8.3f} ms   "
            f"min {ordered[0]:8.3f} ms   n={len(samples)}")


def run(n: int, work: Path, run_id: str) -> dict[str, list[float]]:
    native = NativeBoots(run_id, work)
    runners: dict[str, Callable[[], float]] = {"native start (wall)": native,
                                               "unshare /bin/true": lambda: timed_ms(UNSHARE)}
    runc = RuncRuns(run_id, work, native.driver.rootfs / "probe") if shutil.which("runc") else None
    if runc is not None:
        runners["runc run"] = runc
    samples: dict[str, list[float]] = {name: [] for name in runners}
    try:
        for round_ in range(WARMUP + n):
            names = list(runners)
            names = names[round_ % len(names):] + names[:round_ % len(names)]
            for name in names:
                value = runners[name]()
                if round_ >= WARMUP:
                    samples[name].append(value)
    finally:
        native.close()
        if runc is not None:
            runc.close()
    samples["native boot.total"] = native.boot_total[WARMUP:]
    for phase in native.phases[0]:
        samples[f"  native phase {phase}"] = [p[phase] for p in native.phases[WARMUP:]]
    return samples


def report(samples: dict[str, list[float]]) -> None:
    for name, values in samples.items():
        print(summary(name, values))
    native = statistics.median(samples["native boot.total"])
    unshare = statistics.median(samples["unshare /bin/true"])
    print(f"ratio native boot.total / unshare: {native / unshare:.2f} (must be <= 1.5)")
    if "runc run" in samples:
        runc = statistics.median(samples["runc run"])
        print(f"ratio native boot.total / runc run: {native / runc:.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=30, help="measured runs of each (default 30)")
    args = parser.parse_args(argv)
    run_id = f"nb{uuid.uuid4().hex[:6]}"
    with tempfile.TemporaryDirectory(prefix=f"bench-{run_id}-") as tmp:
        try:
            samples = run(args.n, Path(tmp), run_id)
        finally:
            leftovers = NativeDriver.clean(NativeOptions(), run_id, dry_run=False)
    report(samples)
    if leftovers:
        print(f"removed leftovers: {leftovers}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
