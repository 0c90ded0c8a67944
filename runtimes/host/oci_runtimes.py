"""The OCI runtimes bench can drive: directly (the oci driver), under podman, or registered
with dockerd. What each one is, which Debian package brings it, its version, and what
stops it on a host, said once for every driver that uses them.

- runc: the reference runtime (Go); namespaces, cgroups, seccomp, pivot_root; the process
  it starts is the container's init, and runc itself exits.
- crun: the same job in C. This host's crun (1.8) refuses a hybrid cgroup layout (v1
  controllers plus an empty cgroup2 at /sys/fs/cgroup/unified) with "cgroups in hybrid
  mode not supported"; it works on a pure v2 host.
- runsc: gVisor. The container's process runs on a kernel written in Go in user space
  (the Sentry), which serves every system call itself; file access goes through a second
  process (the Gofer). The platform decides how the Sentry catches system calls: ptrace
  (works anywhere, slowest), systrap (newer builds), kvm (needs hardware virtualization).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from runtimes.host.cgroups import ROOT
from runtimes.host.gvisor import gvisor_roles
from runtimes.host.tools import find_tool, missing_tool, tool_version

OciRuntime = Literal["runc", "crun", "runsc"]
RUNTIMES: tuple[OciRuntime, ...] = ("runc", "crun", "runsc")
CRUN_HYBRID_REFUSAL = "cgroups in hybrid mode not supported"  # crun's own words


def is_hybrid(root: Path = ROOT) -> bool:
    """v1 controllers with an (empty) cgroup2 beside them at root/unified."""
    return (not (root / "cgroup.controllers").exists()
            and (root / "unified" / "cgroup.controllers").exists())


def runtime_refusal(name: str, root: Path = ROOT) -> str | None:
    """None when the runtime can run containers here, else one sentence: why, what to do."""
    missing = missing_tool(name, name)  # each comes in a Debian package of its own name
    if missing:
        return missing
    if name == "crun" and is_hybrid(root):
        return (f"crun refuses this host's hybrid cgroup layout (v1 controllers plus an empty "
                f"cgroup2 at {root / 'unified'}: \"{CRUN_HYBRID_REFUSAL}\"): use runc or "
                "runsc here, or run on a pure cgroup v2 host")
    return None


def runtime_version(name: str) -> str | None:
    """The runtime's own version line ("runc version 1.1.5+ds1"), None when not installed."""
    path = find_tool(name)
    return tool_version(str(path)) if path else None


def process_roles(runtime: str, pids: list[int], init_pid: int | None) -> dict[str, list[int]]:
    """A container's processes by role, for its memory reading: runc and crun leave only the
    container's own (the workload); runsc adds its kernel (runtimes/host/gvisor.py), whose
    Sentry is the pid the runtime reports for the container."""
    return gvisor_roles(pids, init_pid) if runtime == "runsc" else {"workload": pids}
