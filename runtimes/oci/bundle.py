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


SEPARATORS = (",", ":")  # compact: config.json is written on the boot path, and read by runc
# stands where an instance's own value goes; NUL appears in no path, name or profile
SLOT = "\x00bench-instance-value\x00"


class BundleWriter:
    """config.json for the instances of one variant, serialised once (in the driver's
    prepare): only args, env, hostname and cgroupsPath differ between instances, so the
    rest (the seccomp profile most of all) is kept as text around a slot for each, and a
    launch serialises four small values. The text is byte for byte what
    json.dumps(oci_config(spec, rootfs)) gives for the instance's spec."""

    def __init__(self, spec: BundleSpec, rootfs: Path) -> None:
        self.spec = spec
        document = oci_config(spec, rootfs)
        # in the order the slots come in the text: process.args, process.env, hostname,
        # linux.cgroupsPath (see instance_values)
        document["process"]["args"] = document["process"]["env"] = SLOT
        document["hostname"] = document["linux"]["cgroupsPath"] = SLOT
        self.pieces = json.dumps(document, separators=SEPARATORS).split(
            json.dumps(SLOT, separators=SEPARATORS))

    def config_text(self, spec: BundleSpec) -> str:
        """The config of an instance whose spec differs from the writer's in argv, env,
        hostname and cgroups_path at most."""
        if (spec.limits, spec.read_only, spec.seccomp) != (
                self.spec.limits, self.spec.read_only, self.spec.seccomp):
            raise ValueError("this bundle writer is for another variant's limits, rootfs "
                             "mode or seccomp profile")
        values = [json.dumps(value, separators=SEPARATORS) for value in instance_values(spec)]
        text = [self.pieces[0]]
        for value, piece in zip(values, self.pieces[1:], strict=True):
            text += (value, piece)
        return "".join(text)

    def write(self, directory: Path, spec: BundleSpec) -> Path:
        """The bundle directory with its config.json; the rootfs stays where it is."""
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "config.json").write_text(self.config_text(spec))
        return directory


def instance_values(spec: BundleSpec) -> tuple[list[str], list[str], str, str]:
    """What differs between instances, in the order config.json holds it."""
    return list(spec.argv), list(spec.env), spec.hostname, spec.cgroups_path


def write_bundle(directory: Path, spec: BundleSpec, rootfs: Path) -> Path:
    """One bundle on its own (a driver keeps a BundleWriter for its instances)."""
    return BundleWriter(spec, rootfs).write(directory, spec)
