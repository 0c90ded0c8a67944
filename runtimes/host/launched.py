"""What the process and native drivers share: each instance is a cgroup made first, then one
child the driver's launcher starts into it (runtimes/host/launcher.py). The start, the
phases the launcher stamped, the teardown of everything in the cgroup and the close are the
same for both; a driver says only what its launcher is asked for (`request`).
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import Generic

from foundation.errors import ExitCause, InstanceError
from runtimes.base import Driver, OptionsT, ProbeCommand, RunContext
from runtimes.host.cgroups import Cgroup, Hierarchy, Limits, detect
from runtimes.host.launcher import Armed, Launched, Launcher, Request
from runtimes.host.spawn import process_exit, stop_contained
from runtimes.instance import Instance


@dataclass
class Contained:
    """What teardown needs: the instance's cgroup (made first) and its first process, once
    the launcher started it."""

    cgroup: Cgroup
    process: Launched | None = None

    @property
    def pid(self) -> int:
        if self.process is None:
            raise InstanceError(f"the probe of cgroup {self.cgroup.name} was never started")
        return self.process.pid


class LaunchedDriver(Driver[OptionsT, Contained], Generic[OptionsT]):
    """A driver whose instances its launcher starts, each in a cgroup of its own."""

    def __init__(self, name: str, options: OptionsT, context: RunContext) -> None:
        super().__init__(name, options, context)
        self.cgroups: Hierarchy = detect()
        self.launcher: Launcher | None = None
        self._armed: dict[str, Armed] = {}  # instance name -> its start, armed (before_clock)

    @property
    def cgroup_limits(self) -> Limits | None:
        """The limits each instance's cgroup is made with (None: it only contains)."""
        return None

    @abstractmethod
    def instance_request(self, instance: Instance[Contained], cgroup: Cgroup,
                         command: ProbeCommand) -> Request:
        """What the launcher is asked for this instance, whose cgroup is made already."""

    def prepared(self) -> Launcher:
        """The launcher prepare() loaded."""
        if self.launcher is None:
            raise InstanceError(f"the {self.kind} driver was not prepared: call prepare(probe) first")
        return self.launcher

    def before_clock(self, instance: Instance[Contained], command: ProbeCommand) -> None:
        """The launcher's start armed before the clock (Launcher.arm): the request built
        from names and paths only (the cgroup's are known from the instance's name), as a
        command line is written before it is run, its pipes and the call's struct. On the
        clock this was 0.11 ms of a 1.3 ms process boot in a verify sitting; see
        docs/methodology.md, "A start's lead-in"."""
        request = self.instance_request(instance, self.cgroups.cgroup(instance.name), command)
        self._armed[instance.name] = self.prepared().arm(request, instance.output)

    def launch(self, instance: Instance[Contained], command: ProbeCommand) -> None:
        launcher = self.prepared()
        armed = self._armed.pop(instance.name)  # Driver.start called before_clock
        try:
            cgroup = self.cgroups.create(instance.name, self.cgroup_limits)
        except BaseException:
            armed.discard()
            raise
        handle = instance.handle = Contained(cgroup)
        instance.mark("cgroup")
        handle.process = launcher.launch(armed)

    def after_ready(self, instance: Instance[Contained]) -> None:
        """The launcher's stamps, as boot phases (request, spawn, ..., exec)."""
        process = instance.held().process
        if process is not None and self.launcher is not None:
            self.launcher.started(instance, process)

    def exit_cause(self, instance: Instance[Contained]) -> ExitCause | None:
        return process_exit(instance.handle.process if instance.handle else None, instance)

    def teardown(self, instance: Instance[Contained]) -> None:
        handle = instance.handle
        if handle is not None:
            stop_contained(instance, handle.process, self.cgroups, handle.cgroup, self.grace_seconds)

    def close(self) -> None:
        for armed in self._armed.values():  # a start armed, then interrupted before its launch
            armed.discard()
        self._armed.clear()
        if self.launcher is not None:
            self.launcher.close()
            self.launcher = None
        self.cgroups.remove_parents()
