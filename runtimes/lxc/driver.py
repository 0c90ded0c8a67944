"""LXC application containers over the same rootfs the native and OCI runtimes get.

LXC is the older Linux container toolkit (liblxc, in C): a container is a config file and a
rootfs, started by `lxc-start`, which stays as the container's monitor (the parent of its
init, holding its command socket) until the container ends. Here each instance gets a
config written from typed settings: the same namespaces (with an empty network
namespace: `lxc.net.0.type = empty`, lo only), the same memory (no swap) and pids
limits in a cgroup below bench/lxc, the rootfs read-only, /proc (with /proc/sys
read-only), a tmpfs /tmp, an autodev /dev, no capabilities and no new privileges.

Two ways to launch, an option: `start` (default) runs `lxc-start -F` with the probe as
`lxc.init.cmd`, so the probe is the container's PID 1 as in every other runtime here;
`execute` runs `lxc-execute -- /probe ...`, LXC's "application container", where LXC's
own minimal init (lxc-init) is PID 1 and the probe PID 2. With no console
(`lxc.console.path = none`) the container's stdio is ours: the ready line comes straight
through, and EOF on stdin tells the probe to leave. The launcher starts `lxc-start` (armed
before the clock: runtimes/host/tool_starts.py, which says why not Popen).
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from foundation.errors import ExitCause, InstanceError
from runtimes.base import Driver, MemoryReading, ProbeCommand, RunContext
from runtimes.host.cgroups import Cgroup, Hierarchy, detect
from runtimes.host.memory import pss_bytes, total_pss
from runtimes.host.options import ContainerOptions
from runtimes.host.placed_cgroups import PlacedCgroups, remove_empty
from runtimes.host.rootfs import make_rootfs, probe_argv
from runtimes.host.spawn import TAG, Child, announced_exit, process_exit, stop_process
from runtimes.host.tool_starts import ToolStarts
from runtimes.host.tools import find_tool, missing_tool, sweep_dirs, tool_version
from runtimes.instance import Instance

LXC_BASE = Path("/run/bench/lxc")  # one lxcpath (-P) per run below it
LOCK_BASE = Path("/run/lxc/lock")  # where liblxc keeps a lock directory per lxcpath
CGROUP_PARENT = "bench/lxc"
MONITOR_SUFFIX = ".monitor"
LAUNCHERS = {"start": "lxc-start", "execute": "lxc-execute"}


class LxcOptions(ContainerOptions):
    launcher: Literal["start", "execute"] = "start"


@dataclass
class LxcHandle:
    """The container's cgroup and its monitor: the lxc-start (or lxc-execute) process."""

    cgroup: Cgroup
    monitor: Child | None = None


class LxcDriver(Driver[LxcOptions, LxcHandle]):
    kind = "lxc"
    Options = LxcOptions
    needs_root = "runs privileged LXC containers"
    variant_option = ("launcher", tuple(LAUNCHERS))
    host_parts = ("workload", "monitor")

    def __init__(self, name: str, options: LxcOptions, context: RunContext) -> None:
        super().__init__(name, options, context)
        self.cgroups: Hierarchy = detect()
        self.placed = PlacedCgroups(self.cgroups, CGROUP_PARENT)
        self.rootfs = context.work_dir / f"{name}-rootfs"
        self.lxc_path = lxc_path(context.run_id)
        self._shared: tuple[str, str] | None = None  # see _shared_config
        self.starts = ToolStarts()

    @classmethod
    def unavailable_reason(cls, options: LxcOptions) -> str | None:
        missing = super().unavailable_reason(options) or \
            missing_tool(LAUNCHERS[options.launcher], "lxc")
        if missing:
            return missing
        return detect().missing_reason()

    def prepare(self, probe: Path, extra_files: Mapping[str, Path] | None = None) -> None:
        make_rootfs(self.rootfs, probe, extra_files)
        self.lxc_path.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._shared_config()
        self.placed.roots()  # the cgroup mounts, read here rather than in a timed teardown
        self.starts.prepare(self)

    # --- boot ------------------------------------------------------------------------

    def command_argv(self, command: ProbeCommand) -> list[str]:
        """What runs inside: the probe, by its absolute path."""
        return probe_argv(command.argv())

    def config(self, instance: Instance[LxcHandle], command: ProbeCommand) -> str:
        """The container's LXC config (lxc.container.conf(5)): the instance's own lines
        around the blocks every instance shares."""
        mounts, limits = self._shared_config()
        lines = [
            f"lxc.uts.name = {self.options.hostname_of(instance.name)}",
            mounts,
            f"lxc.cgroup.dir.container = {CGROUP_PARENT}/{instance.name}",
            f"lxc.cgroup.dir.monitor = {CGROUP_PARENT}/{instance.name}{MONITOR_SUFFIX}",
            limits,
            f"lxc.environment = {TAG}={instance.name}",
        ]
        if self.options.launcher == "start":
            lines.append(f"lxc.init.cmd = {' '.join(self.command_argv(command))}")
        return "\n".join(lines) + "\n"

    def _shared_config(self) -> tuple[str, str]:
        """The config's blocks that are the same for every instance (the rootfs and mounts;
        the limits, no capabilities, no console), made once: prepare() makes them, off the
        timed path."""
        if self._shared is None:
            cgroup_key = "lxc.cgroup2" if self.cgroups.version == 2 else "lxc.cgroup"
            limits = self.cgroups.limit_settings(self.options.limits())
            self._shared = ("\n".join((
                f"lxc.rootfs.path = dir:{self.rootfs}",
                "lxc.rootfs.options = ro",
                "lxc.net.0.type = empty",
                "lxc.mount.auto = proc:mixed",
                "lxc.mount.entry = tmpfs tmp tmpfs nosuid,nodev,size=16m,mode=1777 0 0",
                "lxc.autodev = 1",
            )), "\n".join((
                *(f"{cgroup_key}.{name} = {value}" for name, value in limits.items()),
                "lxc.cap.keep = none",
                "lxc.no_new_privs = 1",
                "lxc.console.path = none",
                "lxc.tty.max = 0",
            )))
        return self._shared

    def launch_argv(self, instance: Instance[LxcHandle], config: Path, command: ProbeCommand) -> list[str]:
        name = LAUNCHERS[self.options.launcher]
        tool = str(find_tool(name) or name)  # by its path: the launcher does not search PATH
        common = ["-n", instance.name, "-f", str(config), "-P", str(self.lxc_path)]
        if self.options.launcher == "start":
            return [tool, "-F", *common]
        return [tool, *common, "--", *self.command_argv(command)]

    def before_clock(self, instance: Instance[LxcHandle], command: ProbeCommand) -> None:
        """The instance's config file, written before the clock as the reference's is written
        before hyperfine times `lxc-start`: a file the harness writes, not part of what LXC
        does to start; and the start of `lxc-start` armed."""
        config = self.config_path(instance)
        config.write_text(self.config(instance, command))
        instance.handle = LxcHandle(self.placed.cgroup(instance.name))
        self.starts.arm(instance, self.launch_argv(instance, config, command))

    def config_path(self, instance: Instance[LxcHandle]) -> Path:
        return self.context.work_dir / f"{instance.name}.conf"

    def launch(self, instance: Instance[LxcHandle], command: ProbeCommand) -> None:
        instance.held().monitor = self.starts.launch(instance)  # before_clock armed it
        instance.mark("spawn")

    # --- measure ---------------------------------------------------------------------

    def memory(self, instance: Instance[LxcHandle]) -> MemoryReading:
        handle = instance.held()
        monitor = handle.monitor
        if monitor is None or monitor.poll() is not None or instance.output.closed:
            raise InstanceError(f"{instance.name} exited before its memory could be read",
                                cause=self.exit_cause(instance))
        workload = total_pss([p for p in self.cgroups.members(handle.cgroup) if p != monitor.pid])
        parts = {"workload": workload, "monitor": pss_bytes(monitor.pid)}
        return MemoryReading(host_pss=sum(parts.values()), host_parts=parts,
                             cgroup=self.cgroups.memory_charge(handle.cgroup))

    def exit_cause(self, instance: Instance[LxcHandle]) -> ExitCause | None:
        """OOM from the cgroup's counter, while liblxc has not removed the cgroup yet (it does
        as soon as init dies); else the status lxc-execute passes on, or the probe announced."""
        handle = instance.handle
        if handle is None:
            return None
        oom = self.cgroups.oom_cause(handle.cgroup, int(self.options.memory_limit))
        if oom or self.options.launcher == "start":  # lxc-start's own status says nothing
            return oom or announced_exit(instance)
        return process_exit(handle.monitor, instance)  # lxc-execute exits with the probe's

    # --- teardown --------------------------------------------------------------------

    def teardown(self, instance: Instance[LxcHandle]) -> None:
        """EOF on the probe's stdin, then TERM and KILL to the monitor (liblxc kills the
        container's init when its monitor dies); then proof the cgroups went with it."""
        handle = instance.handle
        if handle is None:
            return
        if handle.monitor is not None:
            stop_process(handle.monitor, self.grace_seconds)
            instance.mark_stop("exit")
        for suffix in ("", MONITOR_SUFFIX):
            self.placed.remove(f"{instance.name}{suffix}")
        instance.mark_stop("cgroup_removed")

    def close(self) -> None:
        self.starts.close()
        self.placed.close()
        remove_empty(str(self.lxc_path.relative_to(LXC_BASE)), [LXC_BASE])
        remove_empty(str(lock_dir(self.lxc_path).relative_to(LOCK_BASE)), [LOCK_BASE])

    # --- what the run records, and what clean finds -----------------------------------

    def fingerprint(self) -> dict[str, Any]:
        tool = LAUNCHERS[self.options.launcher]
        return {
            "driver": self.kind,
            "launcher": self.options.launcher,
            "lxc_version": tool_version(shutil.which(tool) or tool),
            "init": "the probe (lxc.init.cmd)" if self.options.launcher == "start" else "lxc-init",
            "isolation": "namespaces+cgroup",
            "cgroup_version": self.cgroups.version,
            "cgroups_path": f"{CGROUP_PARENT}/<instance>",
            "memory_limit": int(self.options.memory_limit),
            "pids_limit": self.options.pids_limit,
            "rootfs": "read-only",
            "capabilities": "none (lxc.cap.keep = none)",
            "no_new_privs": True,
            "proc": "proc:mixed (/proc/sys read-only)",
            "network": "empty network namespace, lo only",
            "seccomp": "none",
            "lxc_path": str(self.lxc_path),
        }

    @classmethod
    def clean(cls, options: LxcOptions, run_id: str | None, dry_run: bool) -> list[str]:
        """Containers' and monitors' cgroups (their processes killed), then the runs' lxc paths."""
        lines = PlacedCgroups(detect(), CGROUP_PARENT).sweep(run_id, dry_run)
        paths = [lxc_path(run_id)] if run_id else sorted(LXC_BASE.glob("*"))
        return lines + sweep_dirs("lxc directory", [d for path in paths
                                                    for d in (path, lock_dir(path))], dry_run)


def lxc_path(run_id: str) -> Path:
    return LXC_BASE / run_id


def lock_dir(path: Path) -> Path:
    """liblxc's lock directory for an lxcpath: /run/lxc/lock/<the lxcpath>."""
    return LOCK_BASE / path.relative_to("/")
