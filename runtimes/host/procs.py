"""What /proc says of a host process an engine started for us: its parent, its name, its
memory cgroup (the charge, and the other processes in it).

Engines (dockerd, podman) tell us one pid per container; the memory cgroup the kernel put
it in tells us the rest of the container's processes (gVisor's Sentry, Gofer and stubs)
and what they are charged, on v1, hybrid and v2 hosts alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from foundation.errors import InstanceError
from runtimes.host.cgroups import read_int
from runtimes.host.memory import pss_bytes, total_pss
from runtimes.host.oci_runtimes import process_roles


def parent_pid(pid: int) -> int:
    """The parent of a host process, from /proc/PID/stat (the field after the state)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError as error:
        raise InstanceError(f"process {pid} is gone: {error.strerror}") from error
    return int(stat.rsplit(")", 1)[1].split()[1])


def process_name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError as error:
        raise InstanceError(f"process {pid} is gone: {error.strerror}") from error


def memory_cgroup_file(pid: int) -> Path | None:
    """The file holding the charge of the process's memory cgroup, if this host shows one."""
    try:
        memberships = Path(f"/proc/{pid}/cgroup").read_text()
    except OSError as error:  # gone: its cgroup cannot be told, and is not "no cgroup"
        raise InstanceError(f"process {pid} is gone: {error.strerror}") from error
    try:
        mounts = Path("/proc/self/mounts").read_text()
    except OSError:
        return None
    return next((p for p in memory_cgroup_candidates(memberships, mounts) if p.exists()), None)


def memory_cgroup_candidates(memberships: str, mounts: str) -> list[Path]:
    """Where a process's memory charge may be: the v1 memory controller's file first (hybrid
    hosts also show an empty v2 tree), then the v2 file, whatever the cgroup driver named it."""
    entries = [line.split(":", 2) for line in memberships.splitlines() if line.count(":") >= 2]
    v1 = next((path for _, names, path in entries if "memory" in names.split(",")), None)
    v2 = next((path for _, names, path in entries if names == ""), None)
    table = [line.split()[1:4] for line in mounts.splitlines() if len(line.split()) >= 4]
    found = [Path(point) / v1.lstrip("/") / "memory.usage_in_bytes"
             for point, kind, options in table
             if v1 is not None and kind == "cgroup" and "memory" in options.split(",")]
    return found + [Path(point) / v2.lstrip("/") / "memory.current"
                    for point, kind, _ in table if v2 is not None and kind == "cgroup2"]


@dataclass(frozen=True)
class ContainerMemory:
    """A container's memory as the host sees it: PSS by role (the engine's monitor under its
    own role), and its memory cgroup's charge (None where this host shows none)."""

    parts: dict[str, int]
    charge: int | None


def container_memory(runtime: str, pid: int, monitor: tuple[str, int],
                     whole_cgroup: bool = True) -> ContainerMemory:
    """The memory of the container whose process `pid` is, run by this OCI runtime, and of
    its monitor (role, pid: docker's shim, podman's conmon), with its cgroup resolved once.
    whole_cgroup False: the container is shared (a docker exec), so only `pid` counts."""
    role, monitor_pid = monitor
    charge = memory_cgroup_file(pid)
    members = [p for p in _members(charge, pid) if p != monitor_pid] if whole_cgroup else [pid]
    parts = {name: total_pss(pids) for name, pids in process_roles(runtime, members, pid).items()}
    parts[role] = pss_bytes(monitor_pid)
    return ContainerMemory(parts, read_int(charge) if charge is not None else None)


def _members(charge: Path | None, pid: int) -> list[int]:
    """Every process in the memory cgroup whose charge file this is (`pid` included); [pid]
    when this host shows no memory cgroup for it."""
    if charge is None:
        return [pid]
    try:
        members = [int(x) for x in (charge.parent / "cgroup.procs").read_text().split()]
    except OSError as error:
        raise InstanceError(f"cannot list the cgroup of process {pid}: {error.strerror}") from error
    return members or [pid]
