"""Native boot against its floors, in one sitting, all timed the same way to the same end
point: from asking for the launch to the host reading the probe's ready line, on the host's
monotonic clock, through the same spawn and line stamping (the static probe in each).

- native: the native driver's boot.total (a cgroup, the static launcher, namespaces,
  pivot_root);
- unshare: `unshare --pid --mount --uts --ipc --net --cgroup --fork --mount-proc PROBE`:
  the same namespaces set up by util-linux, no cgroup, no pivot_root;
- runc (where installed): `runc run` of a bundle holding the probe, the same namespaces and
  limits.
Fails when native is more than 1.5x unshare (expected about 1.1x: the cgroup and
pivot_root), or slower than runc.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from bench.workload.bundle import build_bundle
from runtimes.native.driver import NativeDriver, NativeOptions
from tests.benchmarks.sitting import (
    CACHE,
    READY_ONCE,
    Measured,
    check_ratio,
    driver_boot,
    side_by_side,
    sitting,
    spawn_to_ready,
)

UNSHARE = ["unshare", "--pid", "--mount", "--uts", "--ipc", "--net", "--cgroup", "--fork",
           "--mount-proc"]
RUNC_NAMESPACES = ("pid", "network", "ipc", "uts", "mount", "cgroup")
MEMORY_LIMIT = 256 * 1024**2
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
    options = NativeOptions(memory_limit=MEMORY_LIMIT, pids_limit=PIDS_LIMIT)
    with sitting(NativeDriver, options, "nb") as context:
        driver = NativeDriver("native", options, context)
        driver.prepare(build_bundle(CACHE).probe)
        probe = str(driver.rootfs / "probe")
        counter = iter(range(1_000_000))

        def unshare() -> float:
            value, cleanup = spawn_to_ready([*UNSHARE, probe, *READY_ONCE.argv()],
                                            f"bench-{context.run_id}-unshare-{next(counter)}")
            cleanup()
            return value

        references = {"unshare": unshare}
        runc = Runc(context.run_id, context.work_dir, driver.rootfs / "probe") \
            if shutil.which("runc") else None
        if runc is not None:
            references["runc run"] = runc
        try:
            ours, theirs = side_by_side(benchmark, lambda: _boot(driver), references, rounds=30,
                                        warmup=3)
        finally:
            driver.close()
            if runc is not None:
                runc.close()
    check_ratio(benchmark, "native boot.total / unshare", ours, theirs["unshare"], 0.0, 1.5)
    if "runc run" in theirs:
        check_ratio(benchmark, "native boot.total / runc run", ours, theirs["runc run"], 0.0, 1.0)


def _boot(driver: NativeDriver) -> Measured:
    return driver_boot(driver)
