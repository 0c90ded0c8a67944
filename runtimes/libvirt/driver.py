"""The libvirt driver: the probe as /init of a transient guest booted straight from a kernel.

The guest is created paused, its serial console is attached through a libvirt stream,
and only then is it resumed, so the host stamps every console byte, the first one
included. Boot phases: create (createXML returns), console (stream attached), resume,
first_byte (firmware's first byte), kernel_to_init (the kernel's "Run /init" line),
ready (the probe's marker). Memory: QEMU's PSS split into guest RAM (the one anonymous
mapping of exactly the guest's memory size: QEMU's RAM block), the TCG translation cache
(anonymous executable mappings; none under KVM) and the rest of the VMM.

The libvirt library is imported inside the functions that need it, so this module
imports (and reports itself unavailable) without it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from foundation.errors import InstanceError, RuntimeUnavailable
from runtimes.base import Driver, MemoryReading, ProbeCommand, RunContext, Usage, instance_prefix
from runtimes.base import log as runtimes_log
from runtimes.commands import PackagedCommand, scratch_fingerprint
from runtimes.guest.accel import AccelChoice, choose_accel, host_virt, readable_kernel
from runtimes.guest.commands import GuestCommands
from runtimes.guest.initramfs import build_initramfs
from runtimes.guest.readings import console_phases, vmm_usage
from runtimes.host.memory import vmm_split
from runtimes.host.tools import package_version
from runtimes.instance import Instance
from runtimes.libvirt.connection import START_DAEMONS, clean_domains, import_libvirt, open_connection
from runtimes.libvirt.console import ConsoleStream
from runtimes.libvirt.domain import CpuMode, Disk, GuestSpec, domain_xml, kernel_cmdline
from runtimes.libvirt.host import (
    bench_logs,
    cgroup_charge,
    domain_log,
    guest_meminfo,
    machine_cgroup,
    qemu_pid,
)
from runtimes.libvirt.options import LibvirtOptions

__all__ = ["Guest", "LibvirtDriver", "LibvirtOptions"]

log = runtimes_log.getChild("libvirt")


@dataclass
class Guest:
    """The driver's handle on one instance."""

    domain: Any
    accel: str
    console: ConsoleStream | None = None


class LibvirtDriver(Driver[LibvirtOptions, Guest]):
    kind = "libvirt"
    Options = LibvirtOptions
    # QEMU's PSS less the guest's RAM: the VMM itself, and (under TCG) its translation cache,
    # which is the VMM's cost too, though it grows with the code the guest ran
    host_parts = ("vmm", "tcg_code_cache")
    engine_processes = ("libvirtd", "virtlogd")
    runs_commands = True

    def __init__(self, name: str, options: LibvirtOptions, context: RunContext) -> None:
        super().__init__(name, options, context)
        self._libvirt: ModuleType | None = None
        self._conn: Any = None
        self._choice: AccelChoice | None = None
        self._kernel: Path | None = None
        self._initrd: Path | None = None
        self._probe: Path | None = None
        self.commands = GuestCommands(context.cache_dir, self.cells)
        self._lock = threading.Lock()

    @classmethod
    def unavailable_reason(cls, options: LibvirtOptions) -> str | None:
        """The library, the daemon at the configured URI, and a readable kernel."""
        try:
            libvirt = import_libvirt()
            open_connection(libvirt, options.uri).close()
            if not options.is_remote():
                readable_kernel(options.kernel)
        except RuntimeUnavailable as error:
            return str(error)
        return None

    def prepare(self, probe: Path) -> None:
        self._connect()
        remote_kernel = self.options.kernel if self.options.is_remote() else None
        self._kernel = remote_kernel or readable_kernel(self.options.kernel)
        self._initrd = build_initramfs(probe, self.context.cache_dir)
        self._probe = probe

    def prepare_commands(self, commands: Mapping[str, PackagedCommand]) -> None:
        """Each tree as a read-only guest disk, and one initramfs with the disk modules and
        every workload's spec (runtimes.guest.commands)."""
        if self._probe is None or self._kernel is None:
            raise InstanceError("the libvirt driver was not prepared (prepare() packs the probe)")
        if self.options.is_remote():
            raise RuntimeUnavailable(f"command workloads need their disks on this host; "
                                     f"{self.options.uri} is remote")
        self.commands.prepare(self._probe, self._kernel, commands)

    def _connect(self) -> Any:
        with self._lock:
            if self._conn is not None and not self._alive(self._conn):
                # libvirtd restarted (or its socket broke): a dead connection would fail every
                # later cell of the run with "client socket is closed"; its guests went with it
                log.warning("libvirt %s: the connection was lost; connecting again",
                            self.options.uri)
                self._conn = None
            if self._conn is None:
                self._libvirt = import_libvirt()
                self._conn = open_connection(self._libvirt, self.options.uri)
                self._choice = self._choose_accel()
            return self._conn

    def _alive(self, conn: Any) -> bool:
        """Whether the connection still answers (virConnectIsAlive: a local check, no RPC)."""
        try:
            return bool(conn.isAlive())
        except self._lib().libvirtError:
            return False

    def _choose_accel(self) -> AccelChoice:
        if self.options.is_remote() and self.options.accel == "auto":
            return AccelChoice("tcg", "remote URI: hardware virtualization cannot be verified from"
                                      " here; set accel: kvm to use it")
        return choose_accel(self.options.accel, host_virt())

    def _spec(self, instance: Instance[Guest], command: ProbeCommand) -> GuestSpec:
        if self._kernel is None or self._initrd is None:
            raise InstanceError("the libvirt driver was not prepared (prepare() packs the probe)")
        choice = self._accel_choice()
        kvm = choice.accel == "kvm"
        argv, initrd, disks = command.argv(), self._initrd, self._disks(instance, command)
        if command.workload is not None and self.commands.initrd is not None:
            argv += self.commands.probe_args(command.workload)
            initrd = self.commands.initrd
        try:
            cmdline = kernel_cmdline(self.options.cmdline_extra, argv)
        except ValueError as error:
            raise InstanceError(f"cannot pass the probe's arguments to the guest: {error}") from None
        return GuestSpec(
            name=instance.name, run_id=self.context.run_id, disks=disks,
            domain_type="kvm" if kvm else "qemu", kernel=self._kernel, initrd=initrd,
            cmdline=cmdline, memory_bytes=int(self.options.memory), vcpus=self.options.vcpus,
            machine=self.options.machine,
            cpu_mode=self._cpu_mode(choice),
            cpu_model=self.options.cpu_model, run_as_root=self.options.run_as_root,
            vcpu_pins=self.options.vcpu_pins(),
            emulator_pin=self.options.emulator_cpus or self.options.cpus)

    def _disks(self, instance: Instance[Guest], command: ProbeCommand) -> tuple[Disk, ...]:
        if command.workload is None:
            return ()
        disks = self.commands.disks(instance.name, command.workload)
        instance.mark("disks")
        return disks

    def launch(self, instance: Instance[Guest], command: ProbeCommand) -> None:
        conn = self._connect()
        spec = self._spec(instance, command)
        libvirt = self._lib()
        flags = libvirt.VIR_DOMAIN_START_PAUSED | libvirt.VIR_DOMAIN_START_AUTODESTROY
        try:
            document = domain_xml(spec)
            log.info("libvirt %s: createXML (paused, auto-destroy)\n%s", self.options.uri, document)
            domain = conn.createXML(document, flags)
            instance.mark("create")
            guest = instance.handle = Guest(domain, "kvm" if spec.domain_type == "kvm" else "tcg")
            stream = conn.newStream(libvirt.VIR_STREAM_NONBLOCK)
            domain.openConsole(None, stream, libvirt.VIR_DOMAIN_CONSOLE_FORCE)
            guest.console = ConsoleStream(libvirt, stream, instance.output)
            guest.console.attach()
            instance.mark("console")
            log.info("libvirt: resume %s", instance.name)
            domain.resume()
            instance.mark("resume")
        except libvirt.libvirtError as error:
            raise InstanceError(f"libvirt could not start {instance.name}: "
                                f"{error.get_error_message()}") from error

    def after_ready(self, instance: Instance[Guest]) -> None:
        """first_byte and kernel_to_init from the console's stamps, and the guest kernel's own
        clock at /init (runtimes.guest.readings.console_phases)."""
        console_phases(instance, time.monotonic_ns() + int(self.grace_seconds * 1e9))

    def memory(self, instance: Instance[Guest]) -> MemoryReading:
        if self.options.is_remote():
            raise InstanceError(f"memory readings need the guest's QEMU on this host; "
                                f"{self.options.uri} is remote")
        pid = qemu_pid(instance.name)
        if pid is None:
            raise InstanceError(f"no QEMU process found for {instance.name}: the guest is gone")
        split = vmm_split(pid, int(self.options.memory))
        folder = machine_cgroup(pid)
        return MemoryReading(host_pss=split.vmm + split.code_cache, guest_ram=split.guest_ram,
                             cgroup=cgroup_charge(folder) if folder else None,
                             host_parts={"vmm": split.vmm, "tcg_code_cache": split.code_cache},
                             guest=guest_meminfo(instance))

    def usage(self, instance: Instance[Guest]) -> Usage:
        """QEMU's CPU time and peak resident set (runtimes.guest.readings.vmm_usage)."""
        if self.options.is_remote():
            return Usage()
        pid = qemu_pid(instance.name)
        if pid is None:
            raise InstanceError(f"no QEMU process found for {instance.name}: the guest is gone")
        return vmm_usage(pid)

    def teardown(self, instance: Instance[Guest]) -> None:
        guest = instance.handle
        if guest is None:
            return
        try:
            self._destroy(guest.domain)
            instance.mark_stop("destroy")
        finally:
            # the console ends by itself once QEMU is gone; close() then only makes sure
            if guest.console is not None:
                instance.output.wait_closed(time.monotonic_ns() + int(self.grace_seconds * 1e9))
                guest.console.close()
            instance.output.close()
        if not self.options.is_remote() and any(phase == "ready" for phase, _ in instance.marks):
            domain_log(instance.name).unlink(missing_ok=True)  # kept only when the boot failed

    def _destroy(self, domain: Any) -> None:
        libvirt = self._lib()
        log.info("libvirt: destroy %s", domain.name())
        try:
            domain.destroy()
        except libvirt.libvirtError as error:
            if error.get_error_code() not in (libvirt.VIR_ERR_NO_DOMAIN,
                                              libvirt.VIR_ERR_OPERATION_INVALID):
                raise InstanceError(f"libvirt could not destroy {domain.name()}: "
                                    f"{error.get_error_message()}") from error

    def _lib(self) -> ModuleType:
        if self._libvirt is None:
            self._libvirt = import_libvirt()
        return self._libvirt

    def fingerprint(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "driver": self.kind, "uri": self.options.uri, "remote": self.options.is_remote(),
            "machine": self.options.machine, "vcpus": self.options.vcpus,
            "memory_bytes": int(self.options.memory), "kernel": str(self._kernel or ""),
            "initramfs": str(self._initrd or ""),
            "cmdline_extra": list(self.options.cmdline_extra),
            "cpus": self.options.cpus, "vcpu_pins": list(self.options.vcpu_pins()),
            "emulator_cpus": self.options.emulator_cpus or self.options.cpus,
            "pinning": "vcpupin+emulatorpin" if self.options.cpus or self.options.emulator_cpus
            else None,
            **scratch_fingerprint(self.commands.cells, "a virtio-blk disk: a raw ext4 image file "
                                  f"(cache={'/'.join(self.commands.cache_modes())}), made by "
                                  "mkfs.ext4 without a loop mount"),
        }
        conn = self._connect()
        choice = self._accel_choice()
        info |= {"accel": choice.accel, "accel_reason": choice.reason,
                 "domain_type": choice.domain_type, "cpu_mode": self._cpu_mode(choice),
                 "cpu_model": self.options.cpu_model}
        info |= self._versions(conn)
        return info

    def _accel_choice(self) -> AccelChoice:
        self._connect()
        if self._choice is None:
            raise RuntimeUnavailable("no accel chosen: the libvirt connection failed")
        return self._choice

    def _cpu_mode(self, choice: AccelChoice) -> CpuMode:
        return self.options.cpu_mode or ("host-passthrough" if choice.accel == "kvm" else "custom")

    def _versions(self, conn: Any) -> dict[str, str]:
        libvirt = self._lib()
        try:
            return {"libvirt_version": _version(conn.getLibVersion()),
                    "hypervisor_version": _version(conn.getVersion()),
                    "libvirt_python_version": package_version("libvirt-python")}
        except libvirt.libvirtError as error:
            raise RuntimeUnavailable(f"libvirt at {self.options.uri} stopped answering "
                                     f"({error.get_error_message()}); {START_DAEMONS}") from error

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                try:
                    self._conn.close()  # auto-destroys any guest this connection still holds
                except self._lib().libvirtError:
                    pass
                self._conn = None

    @classmethod
    def endpoint(cls, options: LibvirtOptions) -> str | None:
        return options.uri

    @classmethod
    def reserved_memory(cls, options: LibvirtOptions) -> int | None:
        """The guest's RAM, which it may fill whatever it runs (a remote URI's is not ours)."""
        return None if options.is_remote() else int(options.memory)

    @classmethod
    def clean(cls, options: LibvirtOptions, run_id: str | None, dry_run: bool) -> list[str]:
        """Domains tagged with a bench run at this URI, and (locally) the logs failed boots kept."""
        try:
            libvirt = import_libvirt()
            conn = open_connection(libvirt, options.uri)
        except RuntimeUnavailable:
            return []  # no library or no daemon: no domain of ours can be running there
        prefix = instance_prefix(run_id)
        try:
            live = {domain.name() for domain in conn.listAllDomains(0)}
            found = [f"domain {name}" for name in clean_domains(libvirt, conn, prefix, run_id,
                                                                 dry_run)]
        finally:
            conn.close()
        if options.is_remote():
            return found  # the logs are on that host
        for kept in bench_logs(prefix):  # what failed boots kept for a look
            if kept.stem in live and f"domain {kept.stem}" not in found:
                continue  # a running domain that is not ours to clean
            found.append(f"log {kept}")
            if not dry_run:
                kept.unlink(missing_ok=True)
        return found


def _version(number: int) -> str:
    return f"{number // 1_000_000}.{number // 1000 % 1000}.{number % 1000}"
