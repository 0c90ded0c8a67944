"""The baseline: the probe as a plain child process, no isolation at all.

Every ratio and every memory overhead is taken against this driver's samples from the
same run.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from foundation.errors import ExitCause, InstanceError
from runtimes.base import (
    Driver,
    DriverOptions,
    MemoryReading,
    ProbeCommand,
    Usage,
    instance_prefix,
)
from runtimes.commands import PackagedCommand, scratch_fingerprint
from runtimes.host.memory import pss_bytes
from runtimes.host.pinning import CpuList
from runtimes.host.spawn import process_exit, spawn, stop_process, sweep_processes
from runtimes.host.usage import TICK_NS, process_cpu_ns
from runtimes.instance import Instance

Process = subprocess.Popen[bytes]


class ProcessOptions(DriverOptions):
    cpus: CpuList | None = None


class ProcessDriver(Driver[ProcessOptions, Process]):
    kind = "process"
    Options = ProcessOptions
    runs_commands = True

    def prepare(self, probe: Path) -> None:
        self.probe = probe

    def prepare_commands(self, commands: Mapping[str, PackagedCommand]) -> None:
        """Nothing to package: the programs run in place, from the host's own files (the
        same files the tree holds for the other runtimes)."""
        self.cells.set(commands)

    def launch(self, instance: Instance[Process], command: ProbeCommand) -> None:
        argv = [str(self.probe), *command.argv()]
        if command.workload is not None:
            spec = self.cells.get(command.workload).spec
            scratch = self.cells.make_scratch(instance.name, spec)
            argv += ["--", *spec.lines(cwd=str(scratch) if scratch else None)]
        instance.handle = spawn(instance, argv, self.options.cpus)
        instance.mark("spawn")

    def usage(self, instance: Instance[Process]) -> Usage:
        """The probe's CPU time and its reaped children's: the whole instance."""
        return Usage(cpu_ns=process_cpu_ns(instance.held().pid),
                     cpu_source="the probe's process tree (/proc/PID/stat)", cpu_resolution_ns=TICK_NS)

    def memory(self, instance: Instance[Process]) -> MemoryReading:
        process = instance.held()
        if process.poll() is not None:
            raise InstanceError(f"{instance.name} exited before its memory could be read",
                                cause=ExitCause.from_wait_status(process.returncode))
        return MemoryReading(host_pss=pss_bytes(process.pid))

    def exit_cause(self, instance: Instance[Process]) -> ExitCause | None:
        return process_exit(instance.handle, instance)

    def teardown(self, instance: Instance[Process]) -> None:
        if instance.handle is not None:
            stop_process(instance.handle, self.grace_seconds)
            instance.mark_stop("exit")

    @classmethod
    def clean(cls, options: ProcessOptions, run_id: str | None, dry_run: bool) -> list[str]:
        return sweep_processes(instance_prefix(run_id), dry_run)

    def fingerprint(self) -> dict[str, Any]:
        return {"driver": self.kind, "isolation": "none", "cpus": self.options.cpus,
                "pinning": "sched_setaffinity" if self.options.cpus else None,
                **scratch_fingerprint(self.cells, "a host directory, the command's working directory")}
