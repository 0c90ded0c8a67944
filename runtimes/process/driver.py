"""The baseline: the probe as a plain child process, no isolation at all.

Every ratio and every memory overhead is taken against this driver's samples from the
same run. Each instance lives in a cgroup of its own, with no limit: not to isolate it, but
so that teardown and `bench clean` find and kill everything it started (a daemon that called
setsid, a command that ignores SIGTERM), whoever its parent is by then.

The probe is started by the driver's launcher (runtimes/host/launcher.c, a small C library
loaded at prepare(), outside every measurement), not by Python's subprocess: the child
enters the cgroup before its exec without a migration (v1: it writes 0 to `tasks`, moving
only itself; v2: it is cloned into it), and the launcher's stamps split the start into
`request`, `spawn`, `exec` and `ready` (after `cgroup`, the cgroup made by bench).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from foundation.errors import BenchError, ExitCause, InstanceError, RuntimeUnavailable
from runtimes.base import (
    DriverOptions,
    MemoryReading,
    ProbeCommand,
    RunContext,
    Usage,
    instance_prefix,
)
from runtimes.commands import PackagedCommand, scratch_fingerprint
from runtimes.host.cgroups import Cgroup, detect, sweep
from runtimes.host.launched import Contained, LaunchedDriver
from runtimes.host.launcher import (
    Request,
    harness_environment,
    joining,
    start_launcher,
)
from runtimes.host.memory import pss_bytes
from runtimes.host.pinning import CpuList
from runtimes.host.spawn import TAG, sweep_processes
from runtimes.host.usage import TICK_NS, process_cpu_ns
from runtimes.instance import Instance


class ProcessOptions(DriverOptions):
    cpus: CpuList | None = None


class ProcessDriver(LaunchedDriver[ProcessOptions]):
    kind = "process"
    Options = ProcessOptions
    needs_root = "puts each instance in a cgroup of its own (under /sys/fs/cgroup)"
    runs_commands = True

    def __init__(self, name: str, options: ProcessOptions, context: RunContext) -> None:
        super().__init__(name, options, context)
        # what the probe inherits: the harness's environment, and its instance's name
        self.environment = harness_environment()

    @classmethod
    def unavailable_reason(cls, options: ProcessOptions) -> str | None:
        return super().unavailable_reason(options) or detect().missing_reason()

    def prepare(self, probe: Path) -> None:
        self.probe = probe
        self.launcher = start_launcher(self, cpus=self.options.cpus)

    def prepare_commands(self, commands: Mapping[str, PackagedCommand]) -> None:
        """Nothing to package: the programs run in place, from the host's own files (the
        same files the tree holds for the other runtimes)."""
        self.cells.set(commands)

    def instance_request(self, instance: Instance[Contained], cgroup: Cgroup,
                         command: ProbeCommand) -> Request:
        argv = [str(self.probe), *command.argv()]
        if command.workload is not None:
            spec = self.cells.get(command.workload).spec
            scratch = self.cells.make_scratch(instance.name, spec)
            argv += ["--", *spec.lines(cwd=str(scratch) if scratch else None)]
        return Request(argv, env=[f"{TAG}={instance.name}"], base_env=self.environment,
                       cgroup=joining(self.cgroups, cgroup))

    def usage(self, instance: Instance[Contained]) -> Usage:
        """The probe's CPU time and its reaped children's: the whole instance."""
        return Usage(cpu_ns=process_cpu_ns(instance.held().pid),
                     cpu_source="the probe's process tree (/proc/PID/stat)", cpu_resolution_ns=TICK_NS)

    def memory(self, instance: Instance[Contained]) -> MemoryReading:
        process = instance.held().process
        if process is None:
            raise InstanceError(f"{instance.name} has no probe")
        status = process.poll()
        if status is not None:
            raise InstanceError(f"{instance.name} exited before its memory could be read",
                                cause=ExitCause.from_wait_status(status))
        return MemoryReading(host_pss=pss_bytes(process.pid))

    @classmethod
    def clean(cls, options: ProcessOptions, run_id: str | None, dry_run: bool) -> list[str]:
        """The run's probes (tagged in their environment), then its cgroups with everything
        still in them: what the probes started, whatever became of its parents."""
        found = sweep_processes(instance_prefix(run_id), dry_run)
        try:
            return found + sweep(detect(), instance_prefix(run_id), dry_run)
        except (OSError, BenchError) as error:
            raise RuntimeUnavailable(f"cannot clean the process runtime's cgroups: {error}") from error

    def fingerprint(self) -> dict[str, Any]:
        return {"driver": self.kind, "isolation": "none",
                "containment": f"a cgroup v{self.cgroups.version} of its own, no limit",
                "cpus": self.options.cpus,
                "pinning": "sched_setaffinity" if self.options.cpus else None,
                **scratch_fingerprint(self.cells, "a host directory, the command's working directory")}
