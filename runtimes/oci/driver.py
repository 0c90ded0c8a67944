"""An OCI runtime (runc, crun, runsc) called directly: no engine, no daemon, no shim.

This is the layer every container engine ends in: Docker asks containerd, which asks a
shim, which runs runc; podman runs it through conmon. Here the harness itself writes the
bundle (runtimes/oci/bundle.py: the same namespaces, limits and read-only rootfs the
native runtime sets up, over the same rootfs) and runs the binary's verbs:

- boot: `run --detach` (the runtime makes the namespaces, the cgroup and the mounts, runs
  the probe and returns), then the probe's ready line (which often arrives first);
- teardown: `kill` (SIGTERM through the runtime; SIGKILL to every process if the probe
  does not leave within the grace period), `delete` (state and cgroup removed).

`run` is started by the driver's launcher (runtimes/host/tool_starts.py) with our pipes as
its stdio and, with no terminal, the runtime hands them
to the container as they are: the probe's output reaches us with no copy in between.
Each run gets a state root of its own (/run/bench/oci/<run id>/<runtime>), cgroups
below bench/oci, and bundles in the run's work directory, so `bench clean` finds and
removes exactly what a killed run left. What runc does that the native runtime does
not: it is a general tool (a spec parsed from JSON, hooks, devices, every cgroup
controller the host mounts, a re-exec of itself to enter the namespaces), which is most
of its extra start time.

One call, not containerd's two (`create`, then `start`): the split costs a second start of
the runtime's binary (a Go program: about 6.5 ms of runc's 48 here, 2026-12-05), which is
the lifecycle's price, not what starting a container costs; the docker driver holds the
engine's way.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from pydantic import model_validator

from foundation.errors import BenchError, ExitCause, InstanceError, RuntimeUnavailable, TeardownError
from runtimes.base import Driver, MemoryReading, ProbeCommand, RunContext, log
from runtimes.host.cgroups import Cgroup, Hierarchy, detect
from runtimes.host.gvisor import DEFAULT_PLATFORM, Platform, platform_refusal, runsc_flags
from runtimes.host.memory import total_pss
from runtimes.host.oci_runtimes import RUNTIMES, OciRuntime, process_roles, runtime_refusal
from runtimes.host.options import ContainerOptions
from runtimes.host.placed_cgroups import PlacedCgroups, remove_empty
from runtimes.host.rootfs import make_rootfs, probe_argv
from runtimes.host.seccomp import PROFILE_NAME, PROFILE_SOURCE, host_target, oci_seccomp
from runtimes.host.spawn import TAG, Child, announced_exit, wait_exit
from runtimes.host.tool_starts import ToolStarts
from runtimes.host.tools import find_tool, sweep_dirs, tool_version
from runtimes.instance import Instance
from runtimes.oci.bundle import MASKED_PATHS, NAMESPACES, BundleSpec, BundleWriter
from runtimes.oci.cli import COMMAND_TIMEOUT_S, RuntimeCli

STATE_BASE = Path("/run/bench/oci")
CGROUP_PARENT = "bench/oci"


class OciOptions(ContainerOptions):
    runtime: OciRuntime = "runc"
    platform: Platform | None = None  # runsc only; default ptrace
    seccomp: Literal["default", "unconfined"] = "default"  # Docker's default profile, or none
    read_only: bool = True

    @model_validator(mode="after")
    def _platform_is_runsc_only(self) -> OciOptions:
        if self.platform is not None and self.runtime != "runsc":
            raise ValueError(f"platform is an option of runtime runsc, not of {self.runtime}")
        return self

    def runsc_platform(self) -> Platform | None:
        return (self.platform or DEFAULT_PLATFORM) if self.runtime == "runsc" else None


@dataclass
class OciHandle:
    """One container: its id (the instance name), its cgroup, its bundle, the `run --detach`
    process whose pipes the container holds, and whether it succeeded."""

    container_id: str
    cgroup: Cgroup
    bundle: Path
    creator: Child | None = None
    created: bool = False


class OciDriver(Driver[OciOptions, OciHandle]):
    kind = "oci"
    Options = OciOptions
    needs_root = "runs OCI runtimes as root (namespaces, cgroups, mounts)"
    variant_option = ("runtime", RUNTIMES)
    host_parts = ("workload", "sentry", "gofer")

    def __init__(self, name: str, options: OciOptions, context: RunContext) -> None:
        super().__init__(name, options, context)
        self.cgroups: Hierarchy = detect()
        self.placed = PlacedCgroups(self.cgroups, CGROUP_PARENT)
        self.rootfs = context.work_dir / f"{name}-rootfs"
        self.seccomp: dict[str, Any] | None = None
        self.bundles: BundleWriter | None = None  # made in prepare
        self.starts = ToolStarts()
        platform = options.runsc_platform()
        flags = runsc_flags(platform, options.seccomp == "default") if platform else ()
        binary = find_tool(options.runtime) or Path(options.runtime)
        self.cli = RuntimeCli(options.runtime, binary, state_root(context.run_id) / options.runtime,
                              flags)

    @classmethod
    def unavailable_reason(cls, options: OciOptions) -> str | None:
        refusal = super().unavailable_reason(options) or runtime_refusal(options.runtime)
        if refusal:
            return refusal
        platform = options.runsc_platform()
        if platform is not None and (refused := platform_refusal(platform)):
            return refused
        if options.seccomp == "default":
            try:
                host_target()
            except RuntimeUnavailable as error:
                return str(error)
        return None

    def prepare(self, probe: Path, extra_files: Mapping[str, Path] | None = None) -> None:
        """The rootfs every instance's bundle points at (the probe, plus extra_files by
        name), this run's state root, and the config.json all instances share, serialised
        here rather than at each launch."""
        make_rootfs(self.rootfs, probe, extra_files)
        self.cli.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        if self.options.seccomp == "default":
            self.seccomp = oci_seccomp(host_target())
        self.bundles = BundleWriter(self.variant_spec(), self.rootfs)
        self.placed.roots()  # the cgroup mounts, read here rather than in a timed teardown
        self.starts.prepare(self)

    # --- boot ------------------------------------------------------------------------

    def command_argv(self, command: ProbeCommand) -> list[str]:
        """What runs inside: the probe, by its absolute path."""
        return probe_argv(command.argv())

    def variant_spec(self) -> BundleSpec:
        """What every instance's bundle shares; the instance's own values left empty."""
        return BundleSpec(argv=(), hostname="", cgroups_path="", limits=self.options.limits(),
                          read_only=self.options.read_only, seccomp=self.seccomp, env=())

    def bundle_spec(self, instance: Instance[OciHandle], command: ProbeCommand) -> BundleSpec:
        return replace(self.variant_spec(), argv=tuple(self.command_argv(command)),
                       hostname=self.options.hostname_of(instance.name),
                       cgroups_path=f"/{CGROUP_PARENT}/{instance.name}",
                       env=("PATH=/", f"{TAG}={instance.name}"))

    def before_clock(self, instance: Instance[OciHandle], command: ProbeCommand) -> None:
        """The instance's bundle (its config.json and rootfs link), written before the clock
        as the reference's is written before hyperfine times `runc run`: a file the harness
        writes, not part of what the runtime does to start; and the start of `run` armed."""
        if self.bundles is None:
            raise InstanceError(f"{self.name}: an instance was started before prepare()")
        bundle = self.bundles.write(self.context.work_dir / instance.name,
                                    self.bundle_spec(instance, command))
        instance.handle = OciHandle(instance.name, self.placed.cgroup(instance.name), bundle)
        self.starts.arm(instance, self.cli.run_argv(bundle, instance.name))

    def launch(self, instance: Instance[OciHandle], command: ProbeCommand) -> None:
        handle = instance.held()  # before_clock made it, and armed the start
        handle.creator = self.starts.launch(instance)
        self._wait_created(instance, handle)
        instance.mark("run")

    def _wait_created(self, instance: Instance[OciHandle], handle: OciHandle) -> None:
        """`run --detach` returns once the container's process runs; its errors are in the
        stream."""
        creator = handle.creator
        if creator is None:
            return
        status = wait_exit(creator, COMMAND_TIMEOUT_S)
        if status is None:
            raise InstanceError(f"{self.cli.name} run did not return within "
                                f"{COMMAND_TIMEOUT_S:g} s", tail=instance.output.tail())
        if status != 0:
            instance.output.wait_closed(time.monotonic_ns() + int(1e9))
            raise InstanceError(f"{self.cli.name} run failed (exit {status})",
                                tail=instance.output.tail())
        handle.created = True

    # --- measure ---------------------------------------------------------------------

    def memory(self, instance: Instance[OciHandle]) -> MemoryReading:
        handle = instance.held()
        pids = self.cgroups.members(handle.cgroup)
        if not pids or instance.output.closed:
            raise InstanceError(f"{instance.name} exited before its memory could be read",
                                cause=self.exit_cause(instance))
        parts = {role: total_pss(members) for role, members in self.roles(handle, pids).items()}
        return MemoryReading(host_pss=sum(parts.values()),
                             cgroup=self.cgroups.memory_charge(handle.cgroup), host_parts=parts)

    def roles(self, handle: OciHandle, pids: list[int]) -> dict[str, list[int]]:
        """runc and crun leave only the container's own processes; runsc also the Sentry and
        the Gofer, which are the price of its kernel."""
        if self.options.runtime != "runsc":
            return process_roles(self.options.runtime, pids, None)
        sentry = int(self.cli.state(handle.container_id).get("pid") or 0)
        return process_roles(self.options.runtime, pids, sentry)

    def exit_cause(self, instance: Instance[OciHandle]) -> ExitCause | None:
        """OOM from the cgroup's counter; else the status the probe announced, if it did.
        The container's process is not our child (the runtime exits once it started it), so its
        wait status is nobody's to read."""
        handle = instance.handle
        if handle is None:
            return None
        return (self.cgroups.oom_cause(handle.cgroup, int(self.options.memory_limit))
                or announced_exit(instance))

    # --- teardown --------------------------------------------------------------------

    def teardown(self, instance: Instance[OciHandle]) -> None:
        handle = instance.handle
        if handle is None:
            return
        if handle.created:
            self._kill(instance, handle)
            instance.mark_stop("kill")
        try:
            self.cli.delete(handle.container_id)
        except InstanceError as error:
            if handle.created:
                raise TeardownError(f"{self.cli.name} could not delete {instance.name}: {error}") from error
        instance.mark_stop("delete")
        self._release(handle)

    def _kill(self, instance: Instance[OciHandle], handle: OciHandle) -> None:
        """SIGTERM to the probe through the runtime; SIGKILL to every process if it stays."""
        for signum, every in ((signal.SIGTERM, False), (signal.SIGKILL, True)):
            if instance.output.closed:
                return
            self.cli.kill(handle.container_id, signum, every)
            if instance.output.wait_closed(time.monotonic_ns() + int(self.grace_seconds * 1e9)):
                return

    def _release(self, handle: OciHandle) -> None:
        """The `run --detach` process and its pipes; then proof that the runtime removed the
        cgroup."""
        creator = handle.creator
        if creator is not None:
            if creator.poll() is None:
                creator.kill()
            creator.wait()
            if creator.stdin is not None:
                creator.stdin.close()
        self.placed.remove(handle.container_id)

    def close(self) -> None:
        """The launcher, then the cgroup parents and this run's state roots, where nothing
        else uses them (another variant of this run, or something left)."""
        self.starts.close()
        self.placed.close()
        remove_empty(str(self.cli.root.relative_to(STATE_BASE)), [STATE_BASE])

    # --- what the run records, and what clean finds -----------------------------------

    def fingerprint(self) -> dict[str, Any]:
        platform = self.options.runsc_platform()
        return {
            "driver": self.kind,
            "runtime": self.options.runtime,
            "runtime_path": str(self.cli.path),
            "runtime_version": tool_version(str(self.cli.path)),  # the binary that runs
            "runtime_flags": list(self.cli.flags),
            "isolation": (f"gVisor user-space kernel, platform {platform}" if platform
                          else "namespaces+cgroup"),
            "platform": platform,
            "namespaces": list(NAMESPACES),
            "cgroup_version": self.cgroups.version,
            "cgroups_path": f"/{CGROUP_PARENT}/<instance>",
            "memory_limit": int(self.options.memory_limit),
            "pids_limit": self.options.pids_limit,
            "rootfs": "read-only" if self.options.read_only else "read-write",
            "capabilities": "none",
            "no_new_privs": True,
            "masked_paths": list(MASKED_PATHS),
            "network": "empty network namespace, lo only",
            "seccomp": self.options.seccomp,
            "seccomp_profile": ({"profile": PROFILE_NAME, "source": PROFILE_SOURCE,
                                 "rules": len((self.seccomp or {}).get("syscalls", [])),
                                 "applied_by": ("the Sentry (--oci-seccomp)" if platform
                                                else self.options.runtime)}
                                if self.seccomp else None),
            "state_root": str(self.cli.root),
        }

    @classmethod
    def clean(cls, options: OciOptions, run_id: str | None, dry_run: bool) -> list[str]:
        """Every runtime's containers under the runs' state roots (deleted by the runtime
        itself), then cgroups the runtimes could not remove, then the state roots."""
        binaries: dict[str, Path | None] = {runtime: find_tool(runtime) for runtime in RUNTIMES}
        try:
            lines = [line for root in run_roots(run_id)
                     for line in clean_root(root, binaries, dry_run)]
        except (OSError, BenchError) as error:
            raise RuntimeUnavailable(f"cannot clean OCI containers: {error}") from error
        lines += PlacedCgroups(detect(), CGROUP_PARENT).sweep(run_id, dry_run)
        return lines + sweep_dirs("state directory", run_roots(run_id), dry_run)


def state_root(run_id: str) -> Path:
    return STATE_BASE / run_id


def run_roots(run_id: str | None) -> list[Path]:
    """The state roots of one run, or of every run, that exist."""
    if run_id is not None:
        return [root] if (root := state_root(run_id)).is_dir() else []
    return sorted(p for p in STATE_BASE.iterdir() if p.is_dir()) if STATE_BASE.is_dir() else []


def clean_root(run_root: Path, binaries: Mapping[str, Path | None], dry_run: bool) -> list[str]:
    """The containers under one run's state roots (one per runtime whose binary is found),
    deleted unless dry_run."""
    lines = []
    for runtime, binary in binaries.items():
        if binary is None or not (run_root / runtime).is_dir():
            continue
        cli = RuntimeCli(runtime, binary, run_root / runtime)
        for container_id in cli.container_ids():
            lines.append(f"container {container_id} ({runtime}, state in {cli.root})")
            if dry_run:
                continue
            try:
                cli.delete(container_id)
            except InstanceError as error:  # its processes and cgroups are swept next
                log.warning("clean: %s", error)
    return lines
