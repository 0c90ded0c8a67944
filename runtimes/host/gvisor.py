"""What is particular to runsc (gVisor): its platforms, its flags, and its processes; for
every driver that runs it (oci directly, docker and podman as their OCI runtime).

gVisor puts a kernel of its own between the container's process and the host's. The
Sentry (the `runsc-sandbox` process) implements Linux system calls in Go, in user space;
the Gofer (`runsc-gofer`) opens files on the Sentry's behalf, so the Sentry itself needs
almost no host system calls. The platform is how the Sentry gets hold of the
application's system calls: with ptrace, the application runs in stub processes that
the Sentry traces, so each system call is a ptrace stop, two context switches and a
resume (several microseconds, where a host getppid takes a few hundred nanoseconds);
with kvm the Sentry runs the application in a virtual machine of its own; newer builds
add systrap (seccomp traps instead of ptrace stops).

Memory: every one of those processes lives in the container's cgroup, and each is named by
its role: the Sentry (the pid the runtime reports for the container), the Gofer (its
command line), and the stub processes that hold the application's address space (the
workload).
"""

from __future__ import annotations

import functools
import re
import subprocess
from pathlib import Path
from typing import Literal

from runtimes.host.cpuinfo import CPUINFO, cpu_virt_flags
from runtimes.host.tools import VERSION_TIMEOUT_S, find_tool

Platform = Literal["ptrace", "systrap", "kvm"]
DEFAULT_PLATFORM: Platform = "ptrace"
GOFER = b"runsc-gofer"


def runsc_flags(platform: Platform, oci_seccomp: bool) -> tuple[str, ...]:
    """runsc's global flags: the platform, no network stack (lo only, like every runtime
    here), and the OCI seccomp profile applied inside the sandbox when one is asked for."""
    return (f"--platform={platform}", "--network=none", *(("--oci-seccomp",) if oci_seccomp else ()))


@functools.cache
def offered_platforms() -> frozenset[str]:
    """The platforms this runsc build knows, from its own `runsc flags` text."""
    path = find_tool("runsc")
    if path is None:
        return frozenset()
    try:
        done = subprocess.run([str(path), "flags"], capture_output=True, text=True,
                              timeout=VERSION_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired):
        return frozenset()
    return parse_platforms(done.stdout + done.stderr)


def parse_platforms(flags_text: str) -> frozenset[str]:
    """'specifies which platform to use: ptrace (default), kvm.' -> {ptrace, kvm}."""
    match = re.search(r"which platform to use:([^\n.]*)", flags_text)
    if not match:
        return frozenset()
    return frozenset(re.findall(r"[a-z]+", re.sub(r"\(default\)", "", match.group(1))))


def platform_refusal(platform: Platform, cpuinfo: Path = CPUINFO) -> str | None:
    """Why runsc cannot use this platform here, or None."""
    offered = offered_platforms()
    if platform not in offered:
        return (f"this runsc build does not offer the {platform} platform (it has: "
                f"{', '.join(sorted(offered)) or 'none it names'}): use platform: ptrace")
    if platform == "kvm" and not cpu_virt_flags(cpuinfo.read_text()):
        return ("runsc's kvm platform needs hardware virtualization, and the CPU flags show "
                "neither vmx nor svm (a software /dev/kvm hangs it): use platform: ptrace")
    return None


def gvisor_roles(pids: list[int], sentry: int | None) -> dict[str, list[int]]:
    """A gVisor container's processes by role: sentry, gofer, workload (the stubs)."""
    roles: dict[str, list[int]] = {"sentry": [], "gofer": [], "workload": []}
    for pid in pids:
        if pid == sentry:
            roles["sentry"].append(pid)
        elif command_name(pid) == GOFER:
            roles["gofer"].append(pid)
        else:
            roles["workload"].append(pid)
    return roles


def command_name(pid: int) -> bytes:
    """argv[0] of a process (runsc names its processes there), empty once it is gone."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0", 1)[0]
    except OSError:
        return b""
