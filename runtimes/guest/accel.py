"""What this host offers a guest: hardware acceleration (kvm or tcg) and a kernel to boot.

/dev/kvm alone proves nothing: a host can expose it through a software scheme (kvm_pvm)
that hangs a stock kernel. KVM is used only when the CPU flags show hardware
virtualization (vmx or svm) AND /dev/kvm opens; otherwise guests run under TCG. The
reason for the choice is recorded with the numbers, since it changes them tenfold.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from foundation.errors import RuntimeUnavailable
from runtimes.host.cpuinfo import CPUINFO, cpu_virt_flags

__all__ = ["CPUINFO", "Accel", "AccelChoice", "AccelRequest", "HostVirt", "choose_accel",
           "cpu_virt_flags", "host_virt", "newest_kernel", "probe_kvm", "readable_kernel"]

Accel = Literal["kvm", "tcg"]
AccelRequest = Literal["auto", "kvm", "tcg"]

KVM_DEVICE = Path("/dev/kvm")
BOOT = Path("/boot")


@dataclass(frozen=True)
class AccelChoice:
    """The accel a guest runs with, and why."""

    accel: Accel
    reason: str

    @property
    def domain_type(self) -> str:
        """libvirt's <domain type=...>: `qemu` is TCG."""
        return "kvm" if self.accel == "kvm" else "qemu"


@dataclass(frozen=True)
class HostVirt:
    """What the host's CPU and /dev/kvm say about hardware virtualization."""

    flags: frozenset[str]
    kvm_openable: bool
    kvm_error: str = ""


def probe_kvm(device: Path = KVM_DEVICE) -> tuple[bool, str]:
    """Whether /dev/kvm opens read-write (and why not)."""
    try:
        fd = os.open(device, os.O_RDWR | os.O_CLOEXEC)
    except OSError as error:
        return False, f"{device}: {error.strerror}"
    os.close(fd)
    return True, ""


def host_virt() -> HostVirt:
    try:
        text = CPUINFO.read_text()
    except OSError:
        text = ""
    openable, error = probe_kvm()
    return HostVirt(cpu_virt_flags(text), openable, error)


def choose_accel(request: AccelRequest, host: HostVirt) -> AccelChoice:
    """kvm only where the hardware really offers it (or where asked for and /dev/kvm opens)."""
    if request == "tcg":
        return AccelChoice("tcg", "tcg requested in the options")
    if request == "kvm":
        if not host.kvm_openable:
            raise RuntimeUnavailable(f"accel kvm requested but {host.kvm_error or '/dev/kvm'} cannot"
                                     " be opened: load kvm_intel/kvm_amd or set accel: tcg")
        lacking = "" if host.flags else " (the CPU flags show neither vmx nor svm: a stock kernel may hang)"
        return AccelChoice("kvm", "kvm requested in the options" + lacking)
    if not host.flags:
        return AccelChoice("tcg", "the CPU flags show neither vmx nor svm, so /dev/kvm (if any) is"
                                  " not hardware virtualization")
    if not host.kvm_openable:
        return AccelChoice("tcg", f"the CPU has {'/'.join(sorted(host.flags))} but {host.kvm_error}")
    return AccelChoice("kvm", f"the CPU has {'/'.join(sorted(host.flags))} and /dev/kvm opens")


def version_key(name: str) -> tuple[tuple[int, str], ...]:
    """Like `sort -V`: digit runs compare as numbers, the rest as text."""
    return tuple((int(part), "") if part.isdigit() else (-1, part)
                 for part in re.findall(r"\d+|\D+", name))


def newest_kernel(boot: Path = BOOT) -> Path | None:
    """The newest /boot/vmlinuz-* by version, or None."""
    kernels = sorted(boot.glob("vmlinuz-*"), key=lambda path: version_key(path.name))
    return kernels[-1] if kernels else None


def readable_kernel(configured: Path | None) -> Path:
    kernel = configured or newest_kernel()
    if kernel is None:
        raise RuntimeUnavailable("no guest kernel found in /boot: install linux-image-amd64 or set"
                                 " the libvirt option `kernel`")
    try:
        with kernel.open("rb") as handle:
            handle.read(1)
    except OSError as error:
        raise RuntimeUnavailable(f"cannot read the guest kernel {kernel} ({error.strerror}):"
                                 " run as root or set the libvirt option `kernel`") from error
    return kernel.resolve()
