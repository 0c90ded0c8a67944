"""An example driver written against the documented surface only (runtimes/base.py's docstring
and docs/writing-a-driver.md): the probe as a child process started with `nice`, so
it is a real runtime with a setting of its own. tests/unit/test_driver_surface.py runs it
through the runner and checks it imports nothing else.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from pydantic import Field

from foundation.errors import ExitCause, RuntimeUnavailable
from runtimes.base import Driver, DriverOptions, MemoryReading, ProbeCommand, instance_prefix
from runtimes.host.memory import pss_bytes
from runtimes.host.spawn import process_exit, spawn, stop_process, sweep_processes
from runtimes.instance import Instance

Process = subprocess.Popen[bytes]


class NiceOptions(DriverOptions):
    niceness: int = Field(10, ge=0, le=19, description="the probe's nice value")


class NiceDriver(Driver[NiceOptions, Process]):
    """The probe under `nice -n N`."""

    kind = "nice"
    Options = NiceOptions

    @classmethod
    def unavailable_reason(cls, options: NiceOptions) -> str | None:
        return None if shutil.which("nice") else "no `nice` command: install coreutils"

    def prepare(self, probe: Path) -> None:
        nice = shutil.which("nice")
        if nice is None:
            raise RuntimeUnavailable("no `nice` command: install coreutils")
        self.argv = [nice, "-n", str(self.options.niceness), str(probe)]

    def launch(self, instance: Instance[Process], command: ProbeCommand) -> None:
        instance.handle = spawn(instance, [*self.argv, *command.argv()])
        instance.mark("spawn")

    def memory(self, instance: Instance[Process]) -> MemoryReading:
        return MemoryReading(host_pss=pss_bytes(instance.held().pid))

    def exit_cause(self, instance: Instance[Process]) -> ExitCause | None:
        return process_exit(instance.handle, instance)

    def teardown(self, instance: Instance[Process]) -> None:
        if instance.handle is not None:
            stop_process(instance.handle, self.grace_seconds)
            instance.mark_stop("exit")

    @classmethod
    def clean(cls, options: NiceOptions, run_id: str | None, dry_run: bool) -> list[str]:
        return sweep_processes(instance_prefix(run_id), dry_run)
