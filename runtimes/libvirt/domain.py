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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

METADATA_NS = "urn:x-bench:libvirt-instance:1"
METADATA_PREFIX = "bench"
# kernel parameters: a conservative alphabet, no blanks or quotes, not starting with '-'
KERNEL_PARAM = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.,:/+=@%-]*")
CPU_MODEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
MACHINE = re.compile(r"[a-z0-9][a-z0-9_.-]*")
COMMAND_LINE_MAX = 2047  # x86 COMMAND_LINE_SIZE less the terminator
# serial console and a fast way out; the probe's arguments follow "--"
BASE_PARAMS = ("console=ttyS0", "panic=-1")

CpuMode = Literal["host-passthrough", "host-model", "maximum", "custom"]
DiskCache = Literal["none", "writeback", "writethrough", "directsync", "unsafe"]


@dataclass(frozen=True)
class Disk:
    """A raw image file on the host as a virtio-blk disk (vda, vdb... in this order)."""

    path: Path
    target: str
    readonly: bool = False
    cache: DiskCache | None = None  # None: the hypervisor's default


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


def check_kernel_param(param: str) -> str:
    """One kernel parameter, refused when it could break out of its slot."""
    if not KERNEL_PARAM.fullmatch(param):
        raise ValueError(f"{param!r} is not a plain kernel parameter (letters, digits and _.,:/+=@%-"
                         " only, no blanks or quotes, not starting with '-')")
    return param


def kernel_cmdline(extra: Sequence[str], probe_argv: Sequence[str]) -> str:
    """`console=ttyS0 panic=-1 EXTRA... -- MODE KEY=VALUE...`: the probe gets what follows `--`."""
    params = [check_kernel_param(p) for p in (*BASE_PARAMS, *extra)]
    probe = [check_kernel_param(arg) for arg in probe_argv]
    cmdline = " ".join([*params, "--", *probe])
    if len(cmdline) > COMMAND_LINE_MAX:
        raise ValueError(f"the kernel command line is {len(cmdline)} bytes, over {COMMAND_LINE_MAX}")
    return cmdline


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
