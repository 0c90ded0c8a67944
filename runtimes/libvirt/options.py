"""The libvirt driver's options: validated once, at the config's edge.

A URI that would make libvirt run a program (the ext transport, command= or netcat=) is
refused unless the config says it is meant.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote_plus, urlsplit

from pydantic import ByteSize, Field, field_validator, model_validator

from runtimes.base import DriverOptions
from runtimes.guest.accel import AccelRequest
from runtimes.guest.options import CpuModel, GuestMemory, KernelParams
from runtimes.host.pinning import CpuList, parse_cpus
from runtimes.libvirt.domain import MACHINE, CpuMode

MiB = 1 << 20
DEFAULT_URI = "qemu:///system"
# libvirt runs a program for these: the ext transport runs `command`; ssh-style transports
# run `command` in place of ssh, and `netcat` on the remote host
COMMAND_TRANSPORTS = frozenset({"ext"})
COMMAND_PARAMETERS = frozenset({"command", "netcat"})


class LibvirtOptions(DriverOptions):
    uri: str = Field(DEFAULT_URI, description="libvirt URI; remote ones (qemu+ssh://host/system) "
                     "need the kernel and cache paths on that host, and give no memory readings")
    kernel: Path | None = Field(None, description="guest kernel; default the newest /boot/vmlinuz-*")
    vcpus: int = Field(1, ge=1, le=64)
    memory: GuestMemory = ByteSize(256 * MiB)
    machine: str = Field("pc", description="QEMU machine type; pc (i440fx) is the smaller machine"
                         " (no PCIe root complex, no ICH9); q35 measured no faster under TCG")
    cpu_mode: CpuMode | None = Field(None, description="default: host-passthrough under kvm, "
                                     "custom (cpu_model) under tcg")
    cpu_model: CpuModel = Field("qemu64", description="the model when cpu_mode is custom")
    cmdline_extra: KernelParams = Field((), description="extra kernel parameters")
    accel: AccelRequest = "auto"
    run_as_root: bool = Field(True, description="run qemu as root and relabel no file; false "
                              "keeps libvirt's default user, which must reach the cache dir")
    cpus: CpuList | None = Field(None, description="pin the vCPUs to these host CPUs, one CPU "
                                 "each in turn (vcpupin); default: unpinned")
    emulator_cpus: CpuList | None = Field(None, description="pin QEMU's own threads here "
                                          "(emulatorpin); default: the vCPUs' CPUs")

    def vcpu_pins(self) -> tuple[str, ...]:
        """The host CPU of each vCPU: the `cpus` list in turn."""
        if self.cpus is None:
            return ()
        cpus = sorted(parse_cpus(self.cpus))
        return tuple(str(cpus[vcpu % len(cpus)]) for vcpu in range(self.vcpus))
    allow_command_transport: bool = Field(False, description="accept a URI that makes libvirt "
                                          "run a program (qemu+ext, command= or netcat=): it "
                                          "runs as bench's user, root, whenever bench connects")

    @model_validator(mode="after")
    def _no_hidden_programs(self) -> LibvirtOptions:
        problem = command_in_uri(self.uri)
        if problem and not self.allow_command_transport:
            raise ValueError(f"the URI {self.uri!r} {problem}; set allow_command_transport: true "
                             "if that is meant")
        return self

    @field_validator("uri")
    @classmethod
    def _uri(cls, value: str) -> str:
        parts = urlsplit(value)
        if not parts.scheme or any(c.isspace() for c in value):
            raise ValueError("expected a libvirt URI such as qemu:///system or qemu+ssh://host/system")
        return value

    @field_validator("machine")
    @classmethod
    def _machine(cls, value: str) -> str:
        if not MACHINE.fullmatch(value):
            raise ValueError("expected a QEMU machine type such as pc or q35")
        return value

    def is_remote(self) -> bool:
        """A host part or a network transport (qemu+ssh, +tcp, +tls); qemu+unix is local."""
        parts = urlsplit(self.uri)
        return bool(parts.netloc) or parts.scheme.partition("+")[2] not in ("", "unix")


def command_in_uri(uri: str) -> str | None:
    """What in a libvirt URI makes libvirt run a program, or None. Transport and parameter
    names are matched as libvirt does: case-insensitively, unescaped, split on & and ;."""
    parts = urlsplit(uri)
    transport = parts.scheme.partition("+")[2].lower()
    if transport in COMMAND_TRANSPORTS:
        return f"uses the {transport} transport, which runs a program"
    names = {unquote_plus(item.partition("=")[0]).strip().lower()
             for item in re.split(r"[&;]", parts.query) if item}
    found = sorted(names & COMMAND_PARAMETERS)
    return f"has a {found[0]}= parameter, which runs a program" if found else None
