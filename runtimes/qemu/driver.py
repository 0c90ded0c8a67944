"""The qemu driver: the probe as /init of a guest kernel booted by QEMU started directly, with
no libvirt in between; machine `microvm` or `q35` (runtimes.qemu.machine).

QEMU starts paused, with its serial console on a pipe bench reads and stamps, and connects
to a QMP socket bench listens on; once its monitor answers, `cont` lets the guest run. Boot
phases on the host clock: process (QEMU spawned), qmp (its monitor answered), running (`cont`
returned: the vCPU runs), first_byte (the first console byte: SeaBIOS on q35, the kernel's
setup code on microvm), kernel_to_init (the kernel's "Run /init" line), ready (the probe's
marker); and guest.kernel_to_init from the guest kernel's own clock. Memory: QEMU's PSS split
as libvirt's is (guest RAM block, TCG translation cache, the VMM's own).

Each run keeps its guests' QMP sockets, pid files and QEMU logs in a state directory of its
own under `state_dir`, named for the run; `clean` finds a killed run's QEMUs by their -name
and removes its state directory. The QMP library is imported when a guest starts.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from foundation.errors import ExitCause, InstanceError, RuntimeUnavailable
from runtimes.base import Driver, MemoryReading, ProbeCommand, RunContext, Usage, instance_prefix
from runtimes.commands import PackagedCommand, scratch_fingerprint
from runtimes.guest.accel import AccelChoice, choose_accel, host_virt, readable_kernel
from runtimes.guest.cmdline import kernel_cmdline
from runtimes.guest.commands import GuestCommands
from runtimes.guest.disk import Disk
from runtimes.guest.initramfs import build_initramfs
from runtimes.guest.modules import Transport
from runtimes.guest.readings import console_phases, guest_meminfo, vmm_usage
from runtimes.guest.serial import ConsoleText
from runtimes.guest.tsc import host_tsc_khz
from runtimes.host.memory import vmm_split
from runtimes.host.pinning import thread_pinned
from runtimes.host.spawn import process_exit, wait_exit
from runtimes.host.tools import find_tool, package_version, tool_version
from runtimes.instance import Instance
from runtimes.qemu.host import kill_qemus, sweep_state
from runtimes.qemu.machine import MachineSpec, qemu_argv
from runtimes.qemu.options import QemuOptions
from runtimes.qemu.qmp import Monitor, import_qmp, log

__all__ = ["QemuDriver", "QemuOptions", "Vmm"]

# the probe resets the guest at its end, and the kernel does it by a triple fault at once
# (QEMU's -no-reboot makes that QEMU's exit): a microvm without ACPI has no power-off device,
# and both machines then leave the same way
END = "end=reboot"
RESET = "reboot=t"
CHUNK = 65536


@dataclass
class Vmm:
    """The driver's handle on one guest: its QEMU process, monitor and files."""

    process: subprocess.Popen[bytes]
    monitor: Monitor
    accel: str
    spec: MachineSpec
    log_path: Path
    log_file: IO[bytes]


class QemuDriver(Driver[QemuOptions, Vmm]):
    kind = "qemu"
    Options = QemuOptions
    host_parts = ("vmm", "tcg_code_cache")
    runs_commands = True
    variant_option = ("machine", ("microvm", "q35"))

    def __init__(self, name: str, options: QemuOptions, context: RunContext) -> None:
        super().__init__(name, options, context)
        self._kernel: Path | None = None
        self._initrd: Path | None = None
        self._probe: Path | None = None
        self._choice: AccelChoice | None = None
        self._clock: tuple[str, ...] = ()
        transport: Transport = "virtio_mmio" if options.machine == "microvm" else "virtio_pci"
        self.commands = GuestCommands(context.cache_dir, self.cells, transport)
        self.state = options.state_dir / self.resource_name("state")

    @classmethod
    def unavailable_reason(cls, options: QemuOptions) -> str | None:
        """The QMP library, the QEMU binary, a readable kernel and a writable state directory."""
        reason = super().unavailable_reason(options)
        if reason:
            return reason
        try:
            import_qmp()
            binary(options)
            readable_kernel(options.kernel)
            choose_accel(options.accel, host_virt())
        except RuntimeUnavailable as error:
            return str(error)
        return writable(options.state_dir)

    def prepare(self, probe: Path) -> None:
        self._kernel = readable_kernel(self.options.kernel)
        self._initrd = build_initramfs(probe, self.context.cache_dir)
        self._probe = probe
        self._choice = choose_accel(self.options.accel, host_virt())
        self._clock = self._clock_params()
        self.state.mkdir(parents=True, exist_ok=True, mode=0o700)

    def prepare_commands(self, commands: Mapping[str, PackagedCommand]) -> None:
        """Each tree as a read-only virtio disk, and one initramfs with the disk modules (over
        virtio-mmio on a microvm, virtio-pci on q35) and every workload's spec."""
        if self._probe is None or self._kernel is None:
            raise InstanceError("the qemu driver was not prepared (prepare() packs the probe)")
        if commands and self.options.machine == "microvm" and self.options.acpi == "off":
            raise RuntimeUnavailable("a microvm with acpi: off cannot find virtio-mmio disks with "
                                     "this kernel (no CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES): set "
                                     "acpi: auto or on for command workloads")
        self.commands.prepare(self._probe, self._kernel, commands)

    # --- the guest's command line --------------------------------------------------------

    def _spec(self, instance: Instance[Vmm], command: ProbeCommand) -> MachineSpec:
        if self._kernel is None or self._initrd is None or self._choice is None:
            raise InstanceError("the qemu driver was not prepared (prepare() packs the probe)")
        argv, initrd, disks = [*command.argv(), END], self._initrd, self._disks(instance, command)
        if command.workload is not None and self.commands.initrd is not None:
            argv += self.commands.probe_args(command.workload)
            initrd = self.commands.initrd
        try:
            cmdline = kernel_cmdline((RESET, *self._clock, *self.options.cmdline_extra), argv)
        except ValueError as error:
            raise InstanceError(f"cannot pass the probe's arguments to the guest: {error}") from None
        serial = instance.name.rsplit("-", 1)[1]
        return MachineSpec(
            name=instance.name, binary=str(binary(self.options)), machine=self.options.machine,
            accel=self._choice.accel, cpu_model=self.options.cpu_model,
            memory_bytes=int(self.options.memory), vcpus=self.options.vcpus, kernel=self._kernel,
            initrd=initrd, cmdline=cmdline, qmp_socket=self.state / f"{serial}.qmp",
            pidfile=self.state / f"{serial}.pid", acpi=self._acpi(bool(disks)),
            pit=self._legacy(self.options.pit), rtc=self._legacy(self.options.rtc), disks=disks)

    def _acpi(self, has_disks: bool) -> bool:
        """microvm: off (qboot) unless its virtio-mmio disks must be found through ACPI."""
        if self.options.acpi != "auto":
            return self.options.acpi == "on"
        return has_disks

    def _legacy(self, switch: str) -> bool:
        """microvm's PIT and RTC: on under TCG, where the kernel has no kvmclock and, without
        ACPI, expects both (measured: tests/benchmarks/microvm_settings.py); off under KVM."""
        if switch != "auto":
            return switch == "on"
        return self._choice is None or self._choice.accel == "tcg"

    def _clock_params(self) -> tuple[str, ...]:
        """A TCG microvm is told its TSC's frequency (runtimes.guest.tsc): it has no clock to
        time it against (KVM gives it kvmclock, q35 an HPET)."""
        if self.options.machine != "microvm" or self._choice is None or self._choice.accel != "tcg":
            return ()
        return (f"tsc_early_khz={host_tsc_khz(self.context.cache_dir)}",)

    def _disks(self, instance: Instance[Vmm], command: ProbeCommand) -> tuple[Disk, ...]:
        if command.workload is None:
            return ()
        disks = self.commands.disks(instance.name, command.workload)
        instance.mark("disks")
        return disks

    # --- one guest ----------------------------------------------------------------------

    def launch(self, instance: Instance[Vmm], command: ProbeCommand) -> None:
        spec = self._spec(instance, command)
        monitor = Monitor(instance.name, spec.qmp_socket)
        monitor.listen()
        log_path = self.state / f"{spec.pidfile.stem}.log"
        argv = qemu_argv(spec)
        log.info("%s: run %s", instance.name, argv)
        log_file = log_path.open("wb")
        try:
            with thread_pinned(self.options.cpus):
                process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                           stderr=log_file, close_fds=True)
        except OSError as error:
            log_file.close()
            monitor.close()
            raise InstanceError(f"cannot start {spec.binary}: {error.strerror}") from error
        instance.handle = Vmm(process, monitor, spec.accel, spec, log_path, log_file)
        instance.mark("process")
        self._follow(instance, process)
        try:
            monitor.accept(self.options.qmp_timeout, alive=lambda: process.poll() is None)
            instance.mark("qmp")
            monitor.execute("cont", self.options.qmp_timeout)
            instance.mark("running")
        except InstanceError as error:
            raise InstanceError(str(error), tail=qemu_log_tail(log_path)) from error

    @staticmethod
    def _follow(instance: Instance[Vmm], process: subprocess.Popen[bytes]) -> None:
        """QEMU's stdout is the guest's serial console: stamped line by line, as libvirt's."""
        pipe = process.stdout
        if not isinstance(pipe, io.BufferedReader):
            raise InstanceError(f"{instance.name}: QEMU's stdout is not a buffered pipe")
        text = ConsoleText()
        instance.output.follow(lambda: (text(chunk) for chunk in iter(lambda: pipe.read1(CHUNK), b"")),
                               instance.name)

    def after_ready(self, instance: Instance[Vmm]) -> None:
        """first_byte and kernel_to_init from the console's stamps; the guest kernel's clock."""
        console_phases(instance, time.monotonic_ns() + int(self.grace_seconds * 1e9))

    def memory(self, instance: Instance[Vmm]) -> MemoryReading:
        process = instance.held().process
        if process.poll() is not None:
            raise InstanceError(f"QEMU of {instance.name} exited before its memory could be read",
                                cause=ExitCause.from_wait_status(process.returncode))
        split = vmm_split(process.pid, int(self.options.memory))
        return MemoryReading(host_pss=split.vmm + split.code_cache, guest_ram=split.guest_ram,
                             host_parts={"vmm": split.vmm, "tcg_code_cache": split.code_cache},
                             guest=guest_meminfo(instance))

    def usage(self, instance: Instance[Vmm]) -> Usage:
        return vmm_usage(instance.held().process.pid)

    def exit_cause(self, instance: Instance[Vmm]) -> ExitCause | None:
        return process_exit(instance.handle.process if instance.handle else None, instance)

    def teardown(self, instance: Instance[Vmm]) -> None:
        """QMP `quit`, then SIGKILL if QEMU is still there after the grace period."""
        vmm = instance.handle
        if vmm is None:
            return
        try:
            self._quit(instance, vmm)
            instance.mark_stop("quit")
        finally:
            vmm.monitor.close()
            instance.output.wait_closed(time.monotonic_ns() + int(self.grace_seconds * 1e9))
            instance.output.close()
            vmm.log_file.close()
            vmm.spec.pidfile.unlink(missing_ok=True)
            if any(phase == "ready" for phase, _ in instance.marks):
                vmm.log_path.unlink(missing_ok=True)  # kept only when the boot failed

    def _quit(self, instance: Instance[Vmm], vmm: Vmm) -> None:
        if vmm.process.poll() is None:
            try:
                vmm.monitor.execute("quit", self.grace_seconds)
            except InstanceError as problem:  # QEMU may leave before it answers
                log.debug("%s: %s", instance.name, problem)
        if wait_exit(vmm.process, self.grace_seconds) is None:
            log.warning("%s: QEMU did not quit: killing it", instance.name)
            vmm.process.kill()
            vmm.process.wait()

    def close(self) -> None:
        """The run's state directory goes once its guests have; a log kept is moved aside."""
        if not self.state.is_dir():
            return
        if any(self.state.glob("*.log")):
            log.warning("qemu: logs of failed boots kept in %s", self.state)
            return
        shutil.rmtree(self.state, ignore_errors=True)

    # --- what the run records -----------------------------------------------------------

    def fingerprint(self) -> dict[str, Any]:
        choice = self._choice or choose_accel(self.options.accel, host_virt())
        path = str(binary(self.options))
        return {
            "driver": self.kind, "machine": self.options.machine, "accel": choice.accel,
            "accel_reason": choice.reason, "binary": path, "hypervisor_version": tool_version(path),
            "qmp": f"qemu.qmp {package_version('qemu.qmp')}",
            "firmware": self._firmware(), "acpi": self.options.acpi,
            "pit": self._legacy(self.options.pit), "rtc": self._legacy(self.options.rtc),
            "kernel_clock_params": list(self._clock), "reset": RESET,
            "machine_settings": self._settings(), "vcpus": self.options.vcpus,
            "memory_bytes": int(self.options.memory),
            "cpu_model": "host" if choice.accel == "kvm" else self.options.cpu_model,
            "kernel": str(self._kernel or ""), "initramfs": str(self._initrd or ""),
            "cmdline_extra": list(self.options.cmdline_extra), "state_dir": str(self.state),
            "cpus": self.options.cpus, "pinning": "sched_setaffinity" if self.options.cpus else None,
            **scratch_fingerprint(self.cells, "a virtio-blk disk: a raw ext4 image file "
                                  f"(cache={'/'.join(self.commands.cache_modes())}), made by "
                                  "mkfs.ext4 without a loop mount"),
        }

    def _firmware(self) -> str:
        if self.options.machine == "q35":
            return "SeaBIOS (bios-256k.bin)"
        if self.options.acpi == "auto":
            return ("qboot for the probe (acpi off); SeaBIOS (bios-microvm.bin) for command "
                    "workloads (acpi on, to find their virtio-mmio disks)")
        return "SeaBIOS (bios-microvm.bin)" if self.options.acpi == "on" else "qboot"

    def _settings(self) -> str:
        if self.options.machine == "q35":
            return "q35,usb=off,dump-guest-core=off,graphics=off (libvirt's); -nodefaults"
        pit, rtc = ("on" if self._legacy(switch) else "off" for switch in (self.options.pit,
                                                                          self.options.rtc))
        return (f"microvm,x-option-roms=off,pic=off,isa-serial=on,auto-kernel-cmdline=off,"
                f"pit={pit},rtc={rtc},acpi={self.options.acpi}; -nodefaults")

    @classmethod
    def endpoint(cls, options: QemuOptions) -> str | None:
        return str(options.state_dir)

    @classmethod
    def clean(cls, options: QemuOptions, run_id: str | None, dry_run: bool) -> list[str]:
        """A killed run's QEMUs (by their -name), then its state directories."""
        prefix = instance_prefix(run_id)
        found = kill_qemus(prefix, dry_run)
        return found + sweep_state(options.state_dir, prefix, dry_run)


def binary(options: QemuOptions) -> Path:
    found = find_tool(options.binary) if "/" not in options.binary else Path(options.binary)
    if found is None or not found.exists():
        raise RuntimeUnavailable(f"{options.binary} is not installed: apt-get install "
                                 "qemu-system-x86 (or run .ci/host-setup)")
    return found


def writable(folder: Path) -> str | None:
    """None when the state directory exists or can be made, else why not."""
    existing = next((p for p in (folder, *folder.parents) if p.exists()), Path("/"))
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        return f"cannot write the qemu state directory {folder}: set the option state_dir"
    return None


def qemu_log_tail(path: Path, count: int = 3) -> tuple[str, ...]:
    with contextlib.suppress(OSError):
        return tuple(path.read_text(errors="replace").strip().splitlines()[-count:])
    return ()
