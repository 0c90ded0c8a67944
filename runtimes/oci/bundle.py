"""An OCI bundle for one instance: config.json, built from typed settings, over the shared rootfs.

The config asks an OCI runtime for what the native runtime does by hand: new pid,
network, ipc, uts, mount and cgroup namespaces; a cgroup with the same memory (no swap)
and pids limits; the rootfs read-only with /proc, a tmpfs /tmp and a tmpfs /dev; no
capabilities at all and no new privileges; runc's default masked and read-only /proc
paths; no network interface but lo (an empty network namespace). Seccomp is off, or
Docker's default profile as the native runtime applies it (runtimes/host/seccomp.py).

Every instance gets its own bundle directory (the config names the instance: hostname,
cgroup path), while `root.path` points at the one rootfs of the run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runtimes.host.cgroups import Limits

OCI_VERSION = "1.0.2"
NAMESPACES = ("pid", "network", "ipc", "uts", "mount", "cgroup")
CAPABILITY_SETS = ("bounding", "effective", "permitted", "inheritable", "ambient")
# runc's `runc spec` defaults, as Docker uses them
MASKED_PATHS = ("/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
                "/sys/firmware")
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")
TMPFS_OPTIONS = ("nosuid", "nodev", "size=16m", "mode=1777")  # as the native runtime's /tmp
DEV_OPTIONS = ("nosuid", "strictatime", "mode=755", "size=65536k")
PROC_OPTIONS = ("nosuid", "noexec", "nodev")


@dataclass(frozen=True)
class BundleSpec:
    """What differs between instances and variants; the rest is fixed by the module."""

    argv: tuple[str, ...]
    hostname: str
    cgroups_path: str
    limits: Limits
    read_only: bool = True
    seccomp: dict[str, Any] | None = None
    env: tuple[str, ...] = field(default=("PATH=/",))


def oci_config(spec: BundleSpec, rootfs: Path) -> dict[str, Any]:
    """The config.json document (OCI runtime spec 1.0.2)."""
    no_capabilities: dict[str, list[str]] = {name: [] for name in CAPABILITY_SETS}
    linux: dict[str, Any] = {
        "namespaces": [{"type": kind} for kind in NAMESPACES],
        "cgroupsPath": spec.cgroups_path,
        "resources": {
            "memory": {"limit": spec.limits.memory_bytes, "swap": spec.limits.memory_bytes},
            "pids": {"limit": spec.limits.pids},
            "devices": [{"allow": False, "access": "rwm"}],
        },
        "maskedPaths": list(MASKED_PATHS),
        "readonlyPaths": list(READONLY_PATHS),
    }
    if spec.seccomp is not None:
        linux["seccomp"] = spec.seccomp
    return {
        "ociVersion": OCI_VERSION,
        "process": {"terminal": False, "user": {"uid": 0, "gid": 0}, "args": list(spec.argv),
                    "env": list(spec.env), "cwd": "/", "capabilities": no_capabilities,
                    "noNewPrivileges": True},
        "root": {"path": str(rootfs), "readonly": spec.read_only},
        "hostname": spec.hostname,
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc", "options": list(PROC_OPTIONS)},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": list(DEV_OPTIONS)},
            {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": list(TMPFS_OPTIONS)},
        ],
        "linux": linux,
    }


def write_bundle(directory: Path, spec: BundleSpec, rootfs: Path) -> Path:
    """The bundle directory with its config.json; the rootfs stays where it is (absolute path)."""
    directory.mkdir(parents=True, exist_ok=True)
    # compact: it is written on the boot path, and read by runc
    (directory / "config.json").write_text(json.dumps(oci_config(spec, rootfs),
                                                      separators=(",", ":")))
    return directory
