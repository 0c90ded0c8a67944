"""The QEMU command line of one guest, built from typed parts: no shell, no template.

Both machines boot the probe's initramfs straight from the guest kernel (-kernel, -initrd,
-append), start paused (-S) with QMP on a socket bench listens on, print their serial
console on QEMU's stdout, have no NIC, no display and no default devices, and leave on any
reset (-no-reboot). What differs is the machine model:

- q35: the PC libvirt starts for its guests, with the same settings libvirt gives it
  (SeaBIOS writing to the serial port as libvirt's <bios useserial='yes'/> makes it, no USB,
  UTC clock, the same seccomp sandbox), so libvirt against this is libvirt's own share;
- microvm: QEMU's minimal machine as its documentation describes the fast set-up (no PCI,
  no option ROMs, no legacy PIC; qboot firmware with ACPI off; virtio-mmio disks). Three
  settings follow what was measured here rather than the documentation (docs/vms.md): under
  TCG the PIT and the RTC stay and the guest is told its TSC frequency, and ACPI goes on for
  a guest with disks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from runtimes.guest.accel import Accel
from runtimes.guest.disk import Disk
from runtimes.qemu.options import Machine

SANDBOX = "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"  # libvirt's
DEVICE = {"q35": "virtio-blk-pci", "microvm": "virtio-blk-device"}


@dataclass(frozen=True)
class MachineSpec:
    """Everything the command line says, already validated and decided."""

    name: str
    binary: str
    machine: Machine
    accel: Accel
    cpu_model: str
    memory_bytes: int
    vcpus: int
    kernel: Path
    initrd: Path
    cmdline: str
    qmp_socket: Path
    pidfile: Path
    acpi: bool  # microvm only
    pit: bool  # microvm only
    rtc: bool  # microvm only
    disks: tuple[Disk, ...] = ()



def on_off(flag: bool) -> str:
    return "on" if flag else "off"


def machine_arg(spec: MachineSpec) -> str:
    if spec.machine == "q35":
        return "q35,usb=off,dump-guest-core=off,graphics=off"
    return ("microvm,x-option-roms=off,pic=off,isa-serial=on,auto-kernel-cmdline=off,"
            f"pit={on_off(spec.pit)},rtc={on_off(spec.rtc)},acpi={on_off(spec.acpi)}")


def disk_args(spec: MachineSpec) -> list[str]:
    args: list[str] = []
    for index, disk in enumerate(spec.disks):
        drive = f"file={disk.path},if=none,id=disk{index},format=raw"
        drive += ",readonly=on" if disk.readonly else ""
        drive += f",cache={disk.cache}" if disk.cache else ""
        args += ["-drive", drive, "-device", f"{DEVICE[spec.machine]},drive=disk{index}"]
    return args


def qemu_argv(spec: MachineSpec) -> list[str]:
    kvm = spec.accel == "kvm"
    argv = [spec.binary, "-name", spec.name, "-S", "-machine", machine_arg(spec),
            "-accel", spec.accel, "-cpu", "host" if kvm else spec.cpu_model,
            "-m", f"{spec.memory_bytes >> 20}M", "-smp", str(spec.vcpus),
            "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
            "-chardev", "stdio,id=console,signal=off", "-serial", "chardev:console",
            "-qmp", f"unix:{spec.qmp_socket}", "-pidfile", str(spec.pidfile),
            "-sandbox", SANDBOX,
            "-kernel", str(spec.kernel), "-initrd", str(spec.initrd), "-append", spec.cmdline]
    if spec.machine == "q35":
        argv += ["-rtc", "base=utc", "-boot", "strict=on"]
    return argv + disk_args(spec)
