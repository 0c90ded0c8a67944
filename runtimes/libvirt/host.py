"""The libvirt guest seen from the host: its QEMU process, memory cgroup, meminfo and log.

Read from /proc and /sys only (no libvirt call), so these work the same whichever
libvirt version runs the guest, and only for a guest on this host.
"""

from __future__ import annotations

from pathlib import Path

from foundation.errors import InstanceError
from runtimes.guest.readings import guest_meminfo
from runtimes.host.memory import PROC

__all__ = ["bench_logs", "cgroup_charge", "domain_log", "guest_meminfo", "machine_cgroup", "qemu_pid"]

PID_DIRS = (Path("/run/libvirt/qemu"), Path("/var/run/libvirt/qemu"))
CGROUP_ROOT = Path("/sys/fs/cgroup")
QEMU_LOG_DIR = Path("/var/log/libvirt/qemu")  # libvirt's per-domain QEMU log (qemu:///system)


def qemu_pid(name: str) -> int | None:
    """The guest's QEMU: libvirt's pid file, else the process whose -name is guest=<name>."""
    for folder in PID_DIRS:
        try:
            return int((folder / f"{name}.pid").read_text().strip())
        except (OSError, ValueError):
            continue
    wanted = f"guest={name},".encode()
    for entry in PROC.glob("[0-9]*"):
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(arg.startswith(wanted) or arg == wanted[:-1] for arg in argv):
            return int(entry.name)
    return None


def machine_cgroup(pid: int) -> Path | None:
    """The memory cgroup libvirt made for the guest (v1 memory controller, else pure v2), or
    None when it has none; an InstanceError when the process is gone (not "no cgroup")."""
    try:
        lines = (PROC / str(pid) / "cgroup").read_text().splitlines()
    except OSError as error:
        raise InstanceError(f"the guest's QEMU (pid {pid}) is gone: {error.strerror}") from error
    paths = {}
    for line in lines:
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(","):
            paths[controller] = Path(path)
    if "memory" in paths:
        return _guest_level(CGROUP_ROOT / "memory", paths["memory"])
    if "" in paths and (CGROUP_ROOT / "cgroup.controllers").exists():
        return _guest_level(CGROUP_ROOT, paths[""])
    return None


def _guest_level(base: Path, path: Path) -> Path | None:
    """The machine's own cgroup: the closest ancestor named for libvirt or a machine scope."""
    for candidate in (path, *path.parents):
        if candidate.name.endswith(".libvirt-qemu") or candidate.name.startswith("machine-qemu"):
            return base / candidate.relative_to("/")
    return None


def cgroup_charge(folder: Path) -> int:
    """The machine cgroup's charge; an InstanceError when it cannot be read (a cgroup that is
    gone has no charge, which is not a charge of 0, nor no reading at all)."""
    for name in ("memory.current", "memory.usage_in_bytes"):
        try:
            return int((folder / name).read_text())
        except (OSError, ValueError):
            continue
    raise InstanceError(f"cannot read the memory charge of {folder}: gone, or not a cgroup")


def domain_log(name: str) -> Path:
    return QEMU_LOG_DIR / f"{name}.log"


def bench_logs(prefix: str) -> list[Path]:
    """libvirt's logs of the domains whose name starts with `prefix`."""
    return sorted(QEMU_LOG_DIR.glob(f"{prefix}*.log"))
