"""A driver that implements the contract without starting anything: for unit tests of the core."""

from __future__ import annotations

import time
from typing import ClassVar

from foundation.errors import InstanceError, TeardownError
from runtimes.base import Driver, DriverOptions, MemoryReading, ProbeCommand
from runtimes.instance import Instance


class FakeOptions(DriverOptions):
    fail_every: int = 0  # every Nth launch fails
    pss: int = 1000
    hang: bool = False
    teardown_fails: bool = False  # every teardown raises, after removing the instance


class FakeDriver(Driver[FakeOptions, str]):
    kind = "fake"
    Options = FakeOptions
    live: ClassVar[set[str]] = set()

    def launch(self, instance: Instance[str], command: ProbeCommand) -> None:
        if self.options.fail_every and self.serial % self.options.fail_every == 0:
            raise InstanceError("fake launch failure")
        self.live.add(instance.name)
        instance.handle = instance.name
        instance.mark("create")
        if self.options.hang:
            return
        now = time.monotonic_ns()
        lines = [f"BENCH-READY {command.mode}"]
        if command.mode == "syscall":
            lines += [f"BENCH-SYSCALL getppid {b} {100 + b}.5" for b in range(3)]
            lines += ["BENCH-DONE 0"]
        else:
            lines += ["BENCH-IDLE"]
        instance.output.feed(("\n".join(lines) + "\n").encode(), now + 1000)

    def memory(self, instance: Instance[str]) -> MemoryReading:
        return MemoryReading(host_pss=self.options.pss)

    def teardown(self, instance: Instance[str]) -> None:
        self.live.discard(instance.name)
        if self.options.teardown_fails:
            raise TeardownError(f"fake teardown of {instance.name} failed")
