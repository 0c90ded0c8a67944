"""Our own container runtime: Linux namespaces, a cgroup and a read-only rootfs, nothing else.

It is the floor for what container isolation costs: the same namespaces and limits a
container engine sets up, without an engine. The start path is kept to what must
happen per instance: make the cgroup and write its limits, then ask the driver's launcher
(runtimes/host/launcher.c, a small C library loaded once at prepare(), outside every
measurement) for the instance: it clones the probe as PID 1 of a new pid namespace, which
enters the cgroup without the ~10 ms threadgroup-lock migration (v1: it moves only itself
through `tasks`; v2: it is cloned into the cgroup), its other namespaces, pivots into the
rootfs, drops privileges, installs the seccomp filter and execs the probe; the launcher's
stamps name each of those phases. The rootfs (runtimes/host/rootfs.py: the probe
plus empty mount points, the same tree the OCI and LXC runtimes get) and the filter
(Docker's default profile, compiled by runtimes/host/seccomp_bpf.py) are made once per run
in the run's work directory.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from foundation.errors import BenchError, BuildError, ExitCause, InstanceError, RuntimeUnavailable
from runtimes.base import (
    MemoryReading,
    ProbeCommand,
    RunContext,
    Usage,
    instance_prefix,
)
from runtimes.commands import SCRATCH_MOUNT, PackagedCommand, scratch_fingerprint
from runtimes.host.cgroups import Cgroup, Limits, detect, sweep
from runtimes.host.launched import Contained, LaunchedDriver
from runtimes.host.launcher import (
    Request,
    joining,
    launcher_command,
    start_launcher,
)
from runtimes.host.memory import total_pss
from runtimes.host.options import ContainerOptions
from runtimes.host.pinning import CpuList
from runtimes.host.rootfs import MOUNT_POINTS, assemble_rootfs, make_rootfs, probe_argv
from runtimes.host.seccomp import DOCKER_DEFAULT, PROFILE_SOURCE, host_target, resolve
from runtimes.host.seccomp_bpf import Filter, compile_filter, library_version
from runtimes.host.usage import TICK_NS, process_cpu_ns
from runtimes.instance import Instance

NAMESPACES = ("pid", "mnt", "uts", "ipc", "net", "cgroup")
# the device nodes a command workload's rootfs gets, bound from the host (as Docker gives them)
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
# what launcher.c masks (masked_proc), as runc's default maskedPaths; recorded in the fingerprint
MASKED_PATHS = ("/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi")
CAP_SYS_ADMIN = 21


class NativeOptions(ContainerOptions):
    """The limits and hostname every rootfs runtime shares (runtimes/host/options.py), and
    the seccomp profile."""

    seccomp: Literal["default", "unconfined"] = Field(
        "default", description="default: Docker's default profile; unconfined: no filter")
    cpus: CpuList | None = None  # the probe starts with this affinity


class NativeDriver(LaunchedDriver[NativeOptions]):
    kind = "native"
    Options = NativeOptions
    needs_root = "needs root (namespaces, cgroups, pivot_root)"
    runs_commands = True

    def __init__(self, name: str, options: NativeOptions, context: RunContext) -> None:
        super().__init__(name, options, context)
        self.limits = self.options.limits()
        self.rootfs = context.work_dir / f"{name}-rootfs"
        self.applied: Limits | None = None
        self.probe: Path | None = None
        self.command_roots: dict[str, Path] = {}  # tree digest -> its rootfs
        self.seccomp: Filter | None = None

    @classmethod
    def unavailable_reason(cls, options: NativeOptions) -> str | None:
        refused = super().unavailable_reason(options)
        if refused:
            return refused
        if not has_sys_admin():
            return ("the native runtime needs CAP_SYS_ADMIN, which this root lacks (inside a "
                    "container?): run bench on the host or in a privileged container")
        disabled = disabled_namespaces()
        if disabled:
            return (f"this kernel lacks or disables the {', '.join(disabled)} namespace(s) the "
                    f"native runtime needs: use a kernel with them (or raise "
                    f"/proc/sys/user/max_*_namespaces)")
        lacking = detect().missing_reason()
        if lacking:
            return lacking
        try:
            from runtimes.host.build import compiler

            compiler()
        except BuildError as error:
            return f"the native runtime's launcher is built from C source, and {error}"
        if options.seccomp == "default":
            try:
                library_version()
            except RuntimeUnavailable as error:
                return str(error)
        return None

    def prepare(self, probe: Path, extra_files: Mapping[str, Path] | None = None) -> None:
        """Make the rootfs (/probe, plus extra_files, and mount points) and the filter (the
        launcher's, and a file of it for the launcher as a command), and load the launcher."""
        self.probe = probe
        self.applied = self.cgroups.check_limits(self.resource_name("limits"), self.limits)
        if self.options.seccomp == "default":
            self.seccomp = compile_filter(resolve(DOCKER_DEFAULT, host_target()))
            self.filter_file.write_bytes(self.seccomp.program)
        make_rootfs(self.rootfs, probe, extra_files)
        self.launcher = start_launcher(self, self.seccomp.program if self.seccomp else None,
                                       self.options.cpus)

    def prepare_commands(self, commands: Mapping[str, PackagedCommand]) -> None:
        """One rootfs per workload tree: its files hard-linked, the probe, the mount points,
        and empty files the host's device nodes are bound on."""
        if self.probe is None:
            raise InstanceError("the native driver was not prepared: call prepare(probe) first")
        self.cells.set(commands)
        for packaged in commands.values():
            digest = packaged.tree.digest
            if digest not in self.command_roots:
                self.command_roots[digest] = assemble_rootfs(
                    packaged.tree.root, self.context.work_dir / f"{self.name}-{digest}-rootfs",
                    {"probe": self.probe}, dirs=MOUNT_POINTS,
                    empty_files=[f"dev/{device}" for device in DEVICES])

    def command_argv(self, command: ProbeCommand) -> list[str]:
        """What runs inside: the probe, by its absolute path (the syscall timings use it), and
        a command workload's spec after `--`."""
        argv = probe_argv(command.argv())
        if command.workload is not None:
            spec = self.cells.get(command.workload).spec
            argv += ["--", *spec.lines(cwd=SCRATCH_MOUNT if spec.scratch else None)]
        return argv

    def binds(self, instance: Instance[Contained],
              command: ProbeCommand) -> tuple[str, list[tuple[str, str]]]:
        """The rootfs for this command, and what is bound into it (scratch, devices): host
        source, target relative to the rootfs."""
        if command.workload is None:
            return str(self.rootfs), []
        packaged = self.cells.get(command.workload)
        binds = [(f"/dev/{device}", f"dev/{device}") for device in DEVICES]
        scratch = self.cells.make_scratch(instance.name, packaged.spec)
        if scratch is not None:
            binds.append((str(scratch), SCRATCH_MOUNT.lstrip("/")))
        return str(self.command_roots[packaged.tree.digest]), binds

    def request(self, name: str, cgroup: Cgroup, command: ProbeCommand, rootfs: str | None = None,
                binds: list[tuple[str, str]] | None = None) -> Request:
        """What the launcher is asked for an instance in `cgroup` (made already): the probe's
        own rootfs unless `rootfs` (a command workload's), with these binds."""
        return Request(self.command_argv(command), cgroup=joining(self.cgroups, cgroup),
                       rootfs=rootfs or str(self.rootfs), hostname=self.options.hostname_of(name),
                       binds=binds or [])

    def launcher_argv(self, name: str, cgroup: Cgroup, command: ProbeCommand) -> list[str]:
        """The same start as a command line of the launcher's (one instance, waited for):
        what `bench verify` times as this driver's reference."""
        self.prepared()
        request = self.request(name, cgroup, command)
        seccomp = ["--seccomp", str(self.filter_file)] if self.seccomp else []
        cgroups = [arg for path in self.cgroups.join_paths(cgroup) for arg in ("--cgroup", str(path))]
        return [str(launcher_command(self.context.cache_dir)), *seccomp, *cgroups,
                "--ns", str(request.rootfs), str(request.hostname), "--", *request.argv]

    @property
    def cgroup_limits(self) -> Limits:
        return self.limits

    def instance_request(self, instance: Instance[Contained], cgroup: Cgroup,
                         command: ProbeCommand) -> Request:
        rootfs, binds = self.binds(instance, command)
        return self.request(instance.name, cgroup, command, rootfs, binds)

    @property
    def filter_file(self) -> Path:
        return self.context.work_dir / f"{self.name}-seccomp.bpf"

    def host_pids(self, instance: Instance[Contained]) -> list[int]:
        """Every process in the instance's cgroup: the probe and its children (no monitor
        process waits beside an instance: bench itself is the probe's parent)."""
        pids = self.cgroups.members_now(instance.held().cgroup)
        if not pids:
            raise InstanceError(f"{instance.name}: no process is left in its cgroup")
        return pids

    def memory(self, instance: Instance[Contained]) -> MemoryReading:
        handle = instance.held()
        if handle.process is None or handle.process.poll() is not None:
            raise InstanceError(f"{instance.name} exited before its memory could be read",
                                cause=self.exit_cause(instance))
        return MemoryReading(host_pss=total_pss(self.host_pids(instance)),
                             cgroup=self.cgroups.memory_charge(handle.cgroup))

    def usage(self, instance: Instance[Contained]) -> Usage:
        """The probe's process tree (as for a plain process: the same accounting) and the
        cgroup's peak charge."""
        handle = instance.held()
        if handle.process is None:
            raise InstanceError(f"{instance.name} has no probe")
        return Usage(cpu_ns=process_cpu_ns(handle.process.pid),
                     cpu_source="the probe's process tree (/proc/PID/stat)", cpu_resolution_ns=TICK_NS,
                     peak_bytes=self.cgroups.memory_peak(handle.cgroup),
                     peak_source="the instance cgroup's peak charge")

    def exit_cause(self, instance: Instance[Contained]) -> ExitCause | None:
        handle = instance.handle
        if handle is None:
            return None
        return (self.cgroups.oom_cause(handle.cgroup, self.limits.memory_bytes)
                or super().exit_cause(instance))

    def fingerprint(self) -> dict[str, Any]:
        return {
            "driver": self.kind,
            "isolation": "namespaces+cgroup",
            "namespaces": list(NAMESPACES),
            "cgroup_version": self.cgroups.version,
            "cgroup_controllers": self.cgroups.controllers(),
            "cgroup_join": ("clone3 CLONE_INTO_CGROUP" if self.cgroups.version == 2
                            else "the child moves itself through tasks before its exec"),
            "launcher": "bench's own (runtimes/host/launcher.c, in-process: clone3 with "
                        "CLONE_VM|CLONE_VFORK); no monitor process per instance",
            "memory_limit": self.limits.memory_bytes,
            "pids_limit": self.limits.pids,
            # read back from a cgroup made with these limits at prepare(): what the kernel holds
            "memory_limit_applied": self.applied.memory_bytes if self.applied else None,
            "pids_limit_applied": self.applied.pids if self.applied else None,
            "rootfs": "read-only, pivot_root",
            "capabilities": "none (bounding set empty, securebits locked)",
            "no_new_privs": True,
            "network": "empty namespace, lo only",
            "keyring": "own session keyring",
            "masked_paths": list(MASKED_PATHS),
            "seccomp": self.options.seccomp,
            "seccomp_filter": seccomp_facts(self.seccomp),
            **scratch_fingerprint(self.cells, "a host directory bound at /scratch (rw, nosuid)"),
            "cpus": self.options.cpus,
            # the probe starts with it (the launcher sets it); the cgroup has no cpuset of its own
            "pinning": "sched_setaffinity" if self.options.cpus else None,
        }

    @classmethod
    def clean(cls, options: NativeOptions, run_id: str | None, dry_run: bool) -> list[str]:
        try:
            return sweep(detect(), instance_prefix(run_id), dry_run)
        except (OSError, BenchError) as error:
            raise RuntimeUnavailable(f"cannot clean native cgroups: {error}") from error

def seccomp_facts(compiled: Filter | None) -> dict[str, Any] | None:
    """What decides the filter's cost and reach: the profile, its ABIs and size, the library."""
    if compiled is None:
        return None
    return {"profile": compiled.profile, "source": PROFILE_SOURCE,
            "architectures": list(compiled.architectures), "instructions": compiled.instructions,
            "sha256": compiled.sha256, "libseccomp": compiled.libseccomp,
            "enosys_above": compiled.newest, "layout": compiled.layout}


def has_sys_admin() -> bool:
    """Whether this process holds CAP_SYS_ADMIN (bit 21 of CapEff)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) >> CAP_SYS_ADMIN & 1)
    return False


def disabled_namespaces() -> list[str]:
    """Namespaces this kernel lacks, or whose creation is turned off (max_*_namespaces = 0)."""
    found = []
    for ns in NAMESPACES:
        limit = Path(f"/proc/sys/user/max_{ns}_namespaces")
        if not Path(f"/proc/self/ns/{ns}").exists() or (
                limit.exists() and limit.read_text().strip() == "0"):
            found.append(ns)
    return found
