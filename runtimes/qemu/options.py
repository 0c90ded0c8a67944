"""The qemu driver's options: validated once, at the config's edge."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import ByteSize, Field

from runtimes.base import DriverOptions
from runtimes.guest.accel import AccelRequest
from runtimes.guest.options import CpuModel, GuestMemory, KernelParams, MiB
from runtimes.host.pinning import CpuList

Machine = Literal["microvm", "q35"]
Switch = Literal["auto", "on", "off"]
STATE_DIR = Path("/run/bench-qemu")


class QemuOptions(DriverOptions):
    machine: Machine = Field("microvm", description="microvm: no firmware to speak of (qboot), no "
                             "PCI, virtio-mmio, one ISA serial port; q35: the PC libvirt starts "
                             "(SeaBIOS, PCIe, ACPI)")
    binary: str = Field("qemu-system-x86_64", pattern=r"^[A-Za-z0-9_./-]+$",
                        description="the QEMU binary, by name on PATH or by path")
    kernel: Path | None = Field(None, description="guest kernel; default the newest /boot/vmlinuz-*")
    vcpus: int = Field(1, ge=1, le=64)
    memory: GuestMemory = ByteSize(256 * MiB)
    cpu_model: CpuModel = Field("qemu64", description="the CPU model under TCG (KVM runs -cpu host)")
    cmdline_extra: KernelParams = Field((), description="extra kernel parameters")
    accel: AccelRequest = "auto"
    acpi: Switch = Field("auto", description="microvm only: auto is off (qboot firmware) for the "
                         "probe and on (SeaBIOS) for command workloads, whose virtio-mmio disks a "
                         "kernel without CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES finds only through ACPI")
    pit: Switch = Field("auto", description="microvm only: the legacy i8254 timer; auto is off "
                        "under KVM (kvmclock), on under TCG, where the kernel without it fails to "
                        "verify its LAPIC timer and boots slower (docs/vms.md)")
    rtc: Switch = Field("auto", description="microvm only: the legacy CMOS clock; auto is off under "
                        "KVM (kvmclock gives the wall clock), on under TCG, where the kernel "
                        "without ACPI waits for an absent one")
    state_dir: Path = Field(STATE_DIR, description="where each run keeps its guests' QMP sockets, "
                            "pid files and QEMU logs (`bench clean` sweeps it)")
    cpus: CpuList | None = Field(None, description="run QEMU (every thread) on these host CPUs")
    qmp_timeout: float = Field(60.0, gt=0, le=600, description="seconds QEMU may take to answer on QMP")
