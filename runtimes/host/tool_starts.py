"""A runtime's own command (`runc run --detach`, `lxc-start`, `podman start`) started by the
driver's launcher (runtimes/host/launcher.py), as the process and native drivers start
their probe: armed before the clock, one call into C on it, its output read by the
launcher's one pump thread.

Started with Popen instead, each start also started a reader thread of its own, on the
clock. Interleaved, 20 starts each (2026-12-05), lxc-start to ready took 16.7 ms through Popen
and a reader thread and 12.4 ms through the launcher; those starts were held at one phase of
the kernel's tick, which decides lxc-start's wait for an RCU grace period (bench/tick.py), so
that difference is not the launcher's alone. Nothing of ours joins a cgroup here: the
runtime makes and joins its own.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Sequence
from typing import Any

from foundation.errors import InstanceError
from runtimes.base import AnyDriver
from runtimes.host.launcher import Armed, Launched, Launcher, Request, harness_environment, start_launcher
from runtimes.host.spawn import TAG
from runtimes.instance import Instance


class ToolStarts:
    """One driver's starts of its runtime's command: prepare() loads the launcher (off every
    clock), arm() readies one start before its clock, launch() makes it on the clock."""

    def __init__(self) -> None:
        self.launcher: Launcher | None = None
        self.environment = harness_environment()
        self._armed: dict[str, Armed] = {}

    def prepare(self, driver: AnyDriver) -> None:
        if self.launcher is None:
            self.launcher = start_launcher(driver)

    def arm(self, instance: Instance[Any], argv: Sequence[str]) -> None:
        """The start of argv for this instance, its output feeding the instance's lines and
        its environment naming the instance (so `bench clean` finds what a killed run left)."""
        if self.launcher is None:
            raise InstanceError(f"{instance.name}: started before its driver was prepared")
        request = Request(argv, env=[f"{TAG}={instance.name}"], base_env=self.environment)
        self._armed[instance.name] = self.launcher.arm(request, instance.output)

    def launch(self, instance: Instance[Any]) -> Launched:
        """The armed start made: returns once the command's exec is done (an InstanceError
        when nothing started; a step that failed before the exec is on its stream)."""
        armed = self._armed.pop(instance.name, None)
        if armed is None or self.launcher is None:
            raise InstanceError(f"{instance.name}: launched without being armed first")
        child = self.launcher.launch(armed)
        if child.problem is not None:  # a step before its exec failed: it exits at once
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=5)
            raise InstanceError(f"cannot run {armed.argv[0]}: {child.problem}")
        return child

    def discard(self, instance: Instance[Any]) -> None:
        """The instance's armed start given up (a step before it failed)."""
        armed = self._armed.pop(instance.name, None)
        if armed is not None:
            armed.discard()

    def close(self) -> None:
        """Starts armed and never made are given up; the launcher's pump stops."""
        for armed in self._armed.values():
            armed.discard()
        self._armed.clear()
        if self.launcher is not None:
            self.launcher.close()
            self.launcher = None
