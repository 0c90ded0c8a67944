"""The baseline: the probe as a plain child process, no isolation at all.

Every ratio and every memory overhead is taken against this driver's samples from the
same run.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from runtimes.base import Driver, DriverOptions, MemoryReading, ProbeCommand, instance_prefix
from runtimes.errors import ExitCause, InstanceError
from runtimes.host.memory import pss_bytes
from runtimes.host.spawn import process_exit, spawn, stop_process, sweep_processes
from runtimes.instance import Instance

Process = subprocess.Popen[bytes]


class ProcessDriver(Driver[DriverOptions, Process]):
    kind = "process"

    def prepare(self, probe: Path) -> None:
        self.probe = probe

    def launch(self, instance: Instance[Process], command: ProbeCommand) -> None:
        instance.handle = spawn(instance, [str(self.probe), *command.argv()])
        instance.mark("spawn")

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
    def clean(cls, options: DriverOptions, run_id: str | None, dry_run: bool) -> list[str]:
        return sweep_processes(instance_prefix(run_id), dry_run)

    def fingerprint(self) -> dict[str, Any]:
        return {"driver": self.kind, "isolation": "none"}
