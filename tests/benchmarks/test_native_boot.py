"""Native boot against its floors, in one sitting, interleaved round by round:

- native-unconfined and native (Docker's default seccomp profile): the driver's boot.total
  (its cgroup made, the launcher's clone into new namespaces, the mounts and pivot_root, the
  privileges dropped and the filter installed, the probe's exec, the ready line), whose
  phases must add up to it;
- unshare: `unshare --pid --mount --uts --ipc --net --fork --mount-proc PROBE ready idle=0`,
  the same namespaces set up by util-linux (no cgroup, no pivot_root, no masked paths), run
  by hyperfine -N through untilready to the same ready line, less untilready's own cost
  (bench verify's reference method, bench/verify/references.py);
- runc (where installed): `runc run` of a bundle holding the probe, the same namespaces and
  limits, spawned the same way as bench spawned before the launcher.
Fails when native-unconfined is more than 1.2x unshare, native more than 1.5x, or native
slower than runc.

Run: python3 -m pytest tests/benchmarks/test_native_boot.py --benchmark-only -s
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.verify.references import Launches
from bench.workload.bundle import build_bundle
from runtimes.base import instance_prefix
from runtimes.native.driver import NativeDriver, NativeOptions
from tests.benchmarks.sitting import (
    CACHE,
    READY_ONCE,
    Measured,
    check_ratio,
    deadline,
    side_by_side,
    sitting,
    spawn_to_ready,
)
from tests.conftest import require

UNSHARE = ["unshare", "--pid", "--mount", "--uts", "--ipc", "--net", "--fork", "--mount-proc"]
RUNC_NAMESPACES = ("pid", "network", "ipc", "uts", "mount", "cgroup")
MEMORY_LIMIT = 256 * 1024**2
RUNS = 3  # hyperfine runs of unshare per round, each after a pause
PHASES = ["cgroup", "request", "spawn", "namespaces", "mounts", "seccomp", "exec", "ready"]
PIDS_LIMIT = 64


class Runc:
    """`runc run` of a bundle: the probe in a rootfs, a generated config.json, a private state."""

    def __init__(self, run_id: str, work: Path, probe: Path) -> None:
        self.run_id = run_id
        self.bundle = work / "runc-bundle"
        self.state = work / "runc-state"
        self.serial = 0
        rootfs = self.bundle / "rootfs"
        for directory in ("proc", "tmp", "dev"):
            (rootfs / directory).mkdir(parents=True)
        shutil.copyfile(probe, rootfs / "probe")
        (rootfs / "probe").chmod(0o755)

    def __call__(self) -> float:
        self.serial += 1
        name = f"bench-{self.run_id}-runc-{self.serial}"
        (self.bundle / "config.json").write_text(json.dumps(oci_config(name)))
        value, cleanup = spawn_to_ready(["runc", "--root", str(self.state), "run", "--bundle",
                                         str(self.bundle), name], name)
        cleanup()
        return value

    def close(self) -> None:
        for serial in range(1, self.serial + 1):  # `runc run` deletes its container; a killed one stays
            subprocess.run(["runc", "--root", str(self.state), "delete", "--force",
                            f"bench-{self.run_id}-runc-{serial}"], capture_output=True, timeout=30)


def oci_config(name: str) -> dict[str, Any]:
    """A minimal OCI config: the probe, no terminal, no capabilities, read-only root, no NIC."""
    no_caps: dict[str, list[str]] = {s: [] for s in ("bounding", "effective", "permitted",
                                                     "inheritable", "ambient")}
    return {
        "ociVersion": "1.0.2",
        "process": {"terminal": False, "user": {"uid": 0, "gid": 0},
                    "args": ["/probe", *READY_ONCE.argv()], "env": [], "cwd": "/",
                    "capabilities": no_caps, "noNewPrivileges": True},
        "root": {"path": "rootfs", "readonly": True},
        "hostname": name[:64],
        "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"},
                   {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
                    "options": ["nosuid", "nodev", "size=16m"]}],
        "linux": {"namespaces": [{"type": t} for t in RUNC_NAMESPACES],
                  "resources": {"memory": {"limit": MEMORY_LIMIT}, "pids": {"limit": PIDS_LIMIT}},
                  "cgroupsPath": f"/{name}"},
    }


def test_native_boot_against_unshare_and_runc(benchmark: Any) -> None:
    require(shutil.which("hyperfine") is not None, "hyperfine (apt-get install hyperfine)")
    unconfined = NativeOptions(memory_limit=MEMORY_LIMIT, pids_limit=PIDS_LIMIT, seccomp="unconfined")
    confined = NativeOptions(memory_limit=MEMORY_LIMIT, pids_limit=PIDS_LIMIT)
    with sitting(NativeDriver, unconfined, "nb") as context:
        ours = NativeDriver("native-unconfined", unconfined, context)
        default = NativeDriver("native", confined, context)
        timer = Launches(CACHE, f"{instance_prefix(context.run_id)}hyperfine")
        probe = build_bundle(CACHE).probe
        for driver in (ours, default):
            driver.prepare(probe)
        argv = [*UNSHARE, str(ours.rootfs / "probe"), *READY_ONCE.argv()]
        references: dict[str, Callable[[], float]] = {
            "unshare": lambda: timer.timed(argv, runs=RUNS).value, "native": lambda: _once(default)}
        runc = Runc(context.run_id, context.work_dir, ours.rootfs / "probe") \
            if shutil.which("runc") else None
        if runc is not None:
            references["runc run"] = runc
        try:
            mine, theirs = side_by_side(benchmark, lambda: _boot(ours), references, rounds=30,
                                        warmup=3)
        finally:
            timer.close()
            for driver in (ours, default):
                driver.close()
            if runc is not None:
                runc.close()
    check_ratio(benchmark, "native-unconfined boot.total / unshare", mine, theirs["unshare"],
                0.0, 1.2)
    check_ratio(benchmark, "native boot.total / unshare", theirs["native"], theirs["unshare"],
                0.0, 1.5)
    if "runc run" in theirs:
        check_ratio(benchmark, "native boot.total / runc run", theirs["native"], theirs["runc run"],
                    0.0, 1.0)


def _boot(driver: NativeDriver) -> Measured:
    """boot.total, its phases named by the launcher's stamps and adding up to it."""
    instance = driver.start(READY_ONCE, deadline())
    phases = instance.boot_phases()
    assert list(phases) == PHASES, phases
    assert abs(sum(phases.values()) - instance.boot_total_ms()) < 1e-6, phases
    return instance.boot_total_ms(), lambda: driver.stop(instance)


def _once(driver: NativeDriver) -> float:
    value, cleanup = _boot(driver)
    cleanup()
    return value
