"""The libvirt guest as typed data, and its domain XML built with ElementTree.

Every value that reaches the XML or the kernel command line comes from a typed,
validated field; nothing is spliced into a string template, so a name or a kernel
parameter cannot add an element, an attribute or a second command line.

The guest is as small as libvirt allows, to boot fast: direct kernel boot with the
probe as /init, a serial console on a pty, no NIC, no USB, no graphics, no balloon, and
every way out (poweroff, reboot, crash) destroys the transient domain. A command
workload's guest has virtio-blk disks: its tree (read-only) and its scratch storage.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from runtimes.guest.cmdline import check_kernel_param, kernel_cmdline
from runtimes.guest.disk import Disk

__all__ = ["CPU_MODEL", "MACHINE", "CpuMode", "Disk", "GuestSpec", "check_kernel_param", "domain_xml",
           "kernel_cmdline", "metadata_run_id"]

METADATA_NS = "urn:x-bench:libvirt-instance:1"
METADATA_PREFIX = "bench"
CPU_MODEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
MACHINE = re.compile(r"[a-z0-9][a-z0-9_.-]*")

CpuMode = Literal["host-passthrough", "host-model", "maximum", "custom"]


@dataclass(frozen=True)
class GuestSpec:
    """Everything the domain XML says, already validated."""

    name: str
    run_id: str
    domain_type: Literal["kvm", "qemu"]
    kernel: Path
    initrd: Path
    cmdline: str
    memory_bytes: int
    vcpus: int
    machine: str
    cpu_mode: CpuMode
    cpu_model: str
    run_as_root: bool
    vcpu_pins: tuple[str, ...] = ()  # the host CPUs of vCPU 0, 1, ... (empty: unpinned)
    emulator_pin: str | None = None  # the host CPUs of QEMU's own threads
    disks: tuple[Disk, ...] = ()


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    if text is not None:
        element.text = text
    return element


def _os(domain: ET.Element, spec: GuestSpec) -> None:
    os_element = _sub(domain, "os")
    _sub(os_element, "type", "hvm", arch="x86_64", machine=spec.machine)
    _sub(os_element, "kernel", str(spec.kernel))
    _sub(os_element, "initrd", str(spec.initrd))
    _sub(os_element, "cmdline", spec.cmdline)
    # SeaBIOS writes to the serial port too (as `qemu -nographic` does): the first
    # console byte then marks the firmware running, not the kernel decompressed.
    _sub(os_element, "bios", useserial="yes")


def _cpu(domain: ET.Element, spec: GuestSpec) -> None:
    if spec.cpu_mode != "custom":
        _sub(domain, "cpu", mode=spec.cpu_mode, check="none")
        return
    cpu = _sub(domain, "cpu", mode="custom", match="exact", check="none")
    _sub(cpu, "model", spec.cpu_model, fallback="forbid")


def _metadata(domain: ET.Element, spec: GuestSpec) -> None:
    metadata = _sub(domain, "metadata")
    tag = ET.SubElement(metadata, f"{{{METADATA_NS}}}instance")
    tag.set("run-id", spec.run_id)
    tag.set("name", spec.name)
    tag.set("accel", "kvm" if spec.domain_type == "kvm" else "tcg")


def _disk(devices: ET.Element, disk: Disk) -> None:
    element = _sub(devices, "disk", type="file", device="disk")
    driver = {"name": "qemu", "type": "raw"} | ({"cache": disk.cache} if disk.cache else {})
    _sub(element, "driver", **driver)
    _sub(element, "source", file=str(disk.path))
    _sub(element, "target", dev=disk.target, bus="virtio")
    if disk.readonly:
        _sub(element, "readonly")


def _devices(domain: ET.Element, spec: GuestSpec) -> None:
    devices = _sub(domain, "devices")
    for disk in spec.disks:
        _disk(devices, disk)
    serial = _sub(devices, "serial", type="pty")
    _sub(serial, "target", port="0")
    console = _sub(devices, "console", type="pty")
    _sub(console, "target", type="serial", port="0")
    _sub(devices, "controller", type="usb", model="none")
    _sub(devices, "memballoon", model="none")


def _seclabel(domain: ET.Element, spec: GuestSpec) -> None:
    # qemu as root without relabelling: the kernel and the cached initramfs stay as they
    # are (libvirt would chown them), and a cache under /root stays reachable.
    if spec.run_as_root:
        label = _sub(domain, "seclabel", type="static", model="dac", relabel="no")
        _sub(label, "label", "+0:+0")


def _cputune(domain: ET.Element, spec: GuestSpec) -> None:
    if not spec.vcpu_pins and spec.emulator_pin is None:
        return
    tune = _sub(domain, "cputune")
    for vcpu, cpus in enumerate(spec.vcpu_pins):
        _sub(tune, "vcpupin", vcpu=str(vcpu), cpuset=cpus)
    if spec.emulator_pin is not None:
        _sub(tune, "emulatorpin", cpuset=spec.emulator_pin)


def domain_element(spec: GuestSpec) -> ET.Element:
    domain = ET.Element("domain", type=spec.domain_type)
    _sub(domain, "name", spec.name)
    _metadata(domain, spec)
    _sub(domain, "memory", str(spec.memory_bytes // 1024), unit="KiB")
    _sub(domain, "vcpu", str(spec.vcpus), placement="static")
    _cputune(domain, spec)
    _os(domain, spec)
    features = _sub(domain, "features")
    _sub(features, "acpi")  # the probe powers off through ACPI when it ends
    _cpu(domain, spec)
    _sub(domain, "clock", offset="utc")
    for event in ("on_poweroff", "on_reboot", "on_crash"):
        _sub(domain, event, "destroy")
    _devices(domain, spec)
    _seclabel(domain, spec)
    return domain


def domain_xml(spec: GuestSpec) -> str:
    ET.register_namespace(METADATA_PREFIX, METADATA_NS)
    return ET.tostring(domain_element(spec), encoding="unicode")


def metadata_run_id(xml: str) -> str | None:
    """The run id a domain was tagged with, or None for a domain bench did not create."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return None
    tag = root.find(f"metadata/{{{METADATA_NS}}}instance")
    return tag.get("run-id") if tag is not None else None
