"""The baseline: the probe as a plain child process, no isolation at all.

Every ratio and every memory overhead is taken against this driver's samples from the
same run.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from runtimes.base import Driver, Instance, MemoryReading, ProbeCommand
from runtimes.host.memory import pss_bytes
from runtimes.host.spawn import exit_cause, spawn, stop_process, sweep_processes


class ProcessDriver(Driver):
    kind = "process"

    def prepare(self, probe: Path) -> None:
        self.probe = probe

    def launch(self, instance: Instance, command: ProbeCommand) -> None:
        instance.handle = spawn(instance, [str(self.probe), *command.argv()])
        instance.mark("spawn")

    def memory(self, instance: Instance) -> MemoryReading:
        process: subprocess.Popen[bytes] = instance.handle
        return MemoryReading(host_pss=pss_bytes(process.pid))

    def exit_cause(self, instance: Instance) -> str | None:
        return exit_cause(instance.handle, instance)

    def teardown(self, instance: Instance) -> None:
        if instance.handle is not None:
            stop_process(instance.handle, self.grace_seconds)
            instance.mark_stop("exit")

    @classmethod
    def clean(cls, run_id: str | None, dry_run: bool) -> list[str]:
        return sweep_processes(f"bench-{run_id}-" if run_id else "bench-", dry_run)

    def fingerprint(self) -> dict[str, Any]:
        return {"driver": self.kind, "isolation": "none"}
