"""What the host's CPU says about hardware virtualization (vmx or svm among its flags): read
by the guest drivers' accel choice and by gVisor's kvm platform check."""

from __future__ import annotations

from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")
HARDWARE_FLAGS = frozenset({"vmx", "svm"})


def cpu_virt_flags(cpuinfo: str) -> frozenset[str]:
    """vmx/svm among the `flags` lines of /proc/cpuinfo."""
    found: set[str] = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            found |= HARDWARE_FLAGS & set(value.split())
    return frozenset(found)
