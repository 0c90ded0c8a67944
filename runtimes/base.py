"""The driver contract: what every runtime (process, native, docker, libvirt, ...) provides.

A driver only does what is its own: create and launch an instance, say what it costs the
host, and tear it down. The base class does what every driver needs: the host clock, boot
phases, waiting for the probe's ready marker with a deadline, a stop that is safe to call
twice, and the instance names that `bench clean` finds.

docs/writing-a-driver.md is the guide to writing one; the methods' docstrings below are the
reference.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

from foundation.errors import BenchError, ExitCause, InstanceError, TeardownError
from foundation.models import Strict
from runtimes.commands import CommandCells, PackagedCommand
from runtimes.instance import HandleT, Instance
from runtimes.protocol import READY

log = logging.getLogger("bench.runtimes")

INSTANCE_PREFIX = "bench-"


def instance_prefix(run_id: str | None = None) -> str:
    """What the name of everything a run creates starts with: `bench-<run id>-`, or `bench-`
    for every run (what `bench clean` looks for)."""
    return f"{INSTANCE_PREFIX}{run_id}-" if run_id else INSTANCE_PREFIX


class DriverOptions(Strict):
    """Base of every driver's options: strict and immutable, like the rest of the config."""


OptionsT = TypeVar("OptionsT", bound=DriverOptions)


@dataclass(frozen=True)
class RunContext:
    """What a driver knows of the run it serves."""

    run_id: str
    cache_dir: Path
    work_dir: Path  # per-run scratch space, removed by the runner
    attempt: int = 1  # 1, then 2, 3... for each --resume: names never collide with a killed try's


@dataclass(frozen=True)
class ProbeCommand:
    """The probe's mode and arguments (key=value), identical for every packaging; for mode
    `command`, the name of the command workload (packaged by prepare_commands) it runs, and
    the file its output goes to as it comes (None: kept in memory)."""

    mode: str
    args: tuple[str, ...] = ()
    workload: str | None = None
    output: Path | None = None

    def argv(self) -> list[str]:
        return [self.mode, *self.args]


@dataclass(frozen=True)
class MemoryReading:
    """Host cost of one idle instance, in bytes; None where the driver has no such thing.

    host_pss: PSS of every host process charged to the instance, guest RAM excluded;
    host_parts: host_pss split by the role of its processes (names declared by the driver's
    `host_parts`, e.g. workload and shim); guest_ram: resident guest RAM (VMs);
    cgroup: the instance cgroup's charge; guest: the guest kernel's own view (VMs).
    """

    host_pss: int
    guest_ram: int | None = None
    cgroup: int | None = None
    host_parts: Mapping[str, int] = field(default_factory=dict)
    guest: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Usage:
    """What an instance has cost the host so far, where the driver can tell: CPU time in
    ns (cgroup accounting, the VMM's CPU time, or the process tree's) and peak memory in
    bytes (the cgroup's peak, the VMM's peak resident set); each with where it came from."""

    cpu_ns: int | None = None
    cpu_source: str = ""
    cpu_resolution_ns: int = 1  # /proc/PID/stat counts in clock ticks (10 ms)
    peak_bytes: int | None = None
    peak_source: str = ""


class Driver(ABC, Generic[OptionsT, HandleT]):
    """A runtime. Subclasses set `kind` and `Options`, and implement the abstract methods."""

    kind: ClassVar[str]
    Options: ClassVar[type[DriverOptions]] = DriverOptions
    # the parts of host_pss this driver may report, by name (MemoryReading.host_parts)
    host_parts: ClassVar[tuple[str, ...]] = ()
    # the host daemons that serve every instance (their process names: dockerd, libvirtd):
    # their memory is the engine's, read beside the instances' in a density ladder
    engine_processes: ClassVar[tuple[str, ...]] = ()
    # how long an instance gets to leave on its own after being told to stop
    grace_seconds: ClassVar[float] = 2.0
    # whether prepare_commands() packages command workloads (mode `command`)
    runs_commands: ClassVar[bool] = False
    # why the driver needs root, when it does ("runs OCI runtimes as root (...)"):
    # unavailable_reason() refuses with it for any other user
    needs_root: ClassVar[str] = ""
    # the option whose values are worth checking one by one in `bench runtimes`, and those
    # values (("runtime", ("runc", "crun", "runsc"))): variants() makes one option set each
    variant_option: ClassVar[tuple[str, tuple[str, ...]] | None] = None

    def __init__(self, name: str, options: OptionsT, context: RunContext) -> None:
        if not isinstance(options, self.Options):
            raise TypeError(f"{type(self).__name__} takes {self.Options.__name__}, "
                            f"not {type(options).__name__}")
        self.name = name
        self.options: OptionsT = options
        self.context = context
        self.serial = 0
        self._serial_lock = threading.Lock()  # density starts instances from several threads
        # command workloads and each instance's scratch storage (a driver that runs commands
        # sets them in prepare_commands); stop() removes an instance's scratch after teardown
        self.cells = CommandCells()

    # --- what every driver implements -------------------------------------------------

    @classmethod
    def unavailable_reason(cls, options: OptionsT) -> str | None:
        """None when the driver can run here with these options (a configured endpoint or
        URI), else a sentence saying why not and what to do. A driver that overrides it
        starts with the base's answer (the root check of `needs_root`)."""
        if cls.needs_root and os.geteuid() != 0:
            return f"the {cls.kind} driver {cls.needs_root}: run bench as root"
        return None

    def prepare(self, probe: Path) -> None:  # noqa: B027  (optional hook)
        """Once per run, before any cell and outside every measurement: package the probe."""

    def prepare_commands(self, commands: Mapping[str, PackagedCommand]) -> None:  # noqa: B027
        """Once per run, after prepare() and outside every measurement: package each command
        workload's tree with the probe (a rootfs, an image, a guest disk). Drivers that do
        set `runs_commands`; launch() then gets ProbeCommand("command", ..., workload=name)."""

    def usage(self, instance: Instance[HandleT]) -> Usage:
        """Host CPU time and peak memory charged to the instance so far (read while its
        command runs and once it ended); empty where the driver cannot tell."""
        return Usage()

    def before_clock(self, instance: Instance[HandleT],  # noqa: B027 (optional hook)
                     command: ProbeCommand) -> None:
        """What a start can prepare before its clock starts (nothing unless a driver says)."""

    @abstractmethod
    def launch(self, instance: Instance[HandleT], command: ProbeCommand) -> None:
        """Create and start the instance, feed its output to instance.output, mark phases."""

    def after_ready(self, instance: Instance[HandleT]) -> None:  # noqa: B027 (optional hook)
        """Boot phases that can only be named once the ready marker arrived (e.g. a guest's
        console stamps); instance.mark(phase, stamp) with stamps taken earlier."""

    @abstractmethod
    def memory(self, instance: Instance[HandleT]) -> MemoryReading:
        """What the idle instance costs the host now. An instance or process that is gone
        is an InstanceError, never a zero."""

    @abstractmethod
    def teardown(self, instance: Instance[HandleT]) -> None:
        """Ask the instance to leave, wait up to grace_seconds, then force it; free its resources."""

    def exit_cause(self, instance: Instance[HandleT]) -> ExitCause | None:
        """How an instance whose output ended left, if the driver can tell. Called before
        teardown, while the evidence (exit status, OOM counters) is still there."""
        return None

    def fingerprint(self) -> dict[str, Any]:
        """Versions and settings that decide this driver's numbers (recorded in the manifest)."""
        return {"driver": self.kind}

    @classmethod
    def variants(cls) -> Mapping[str, DriverOptions]:
        """Named option sets worth checking on their own in `bench runtimes` (e.g. each OCI
        runtime a driver can use), beside the default options: one per value of
        `variant_option`; none by default."""
        if cls.variant_option is None:
            return {}
        key, values = cls.variant_option
        return {value: cls.Options.model_validate({key: value}) for value in values}

    @classmethod
    def reserved_memory(cls, options: OptionsT) -> int | None:
        """Bytes of host memory one instance may come to hold whatever it does (a guest's
        RAM), for a storm's pre-flight check; None where the driver reserves nothing."""
        return None

    @classmethod
    def endpoint(cls, options: OptionsT) -> str | None:
        """The daemon, URI or binary these options make the driver talk to (recorded in the
        manifest, swept by `bench clean`); None for a driver with no such thing."""
        return None

    def close(self) -> None:  # noqa: B027  (optional hook)
        """After the last cell: release connections and per-run resources."""

    @classmethod
    def clean(cls, options: OptionsT, run_id: str | None, dry_run: bool) -> list[str]:
        """Find (and unless dry_run remove) what runs left behind, where these options point
        (a docker endpoint, a libvirt URI): all bench runs, or one.

        Returns one line per thing found, e.g. "container bench-1a2b-docker-3". Used by
        `bench clean` after a killed run, by the runner's sweep, and by tests.
        """
        return []

    # --- what the base class does for all of them --------------------------------------

    def instance_name(self) -> str:
        """`bench-<run id>-<runtime>-<attempt>-<serial>`: unique per run, runtime and attempt,
        so a resumed run never meets what the killed attempt left under the same name."""
        with self._serial_lock:
            self.serial += 1
            return self.resource_name(str(self.serial))

    def resource_name(self, tag: str) -> str:
        """The name of something this driver creates for the run (an instance, a shared
        container, a trial cgroup): `bench-<run id>-<runtime>-<attempt>-<tag>`."""
        return f"{instance_prefix(self.context.run_id)}{self.name}-{self.context.attempt}-{tag}"

    def explain(self, instance: Instance[HandleT], error: InstanceError) -> InstanceError:
        """The error with the instance's exit cause recorded (read before teardown)."""
        try:
            cause = self.exit_cause(instance)
        except (OSError, BenchError) as problem:
            log.debug("%s: no exit cause (%s)", instance.name, problem)
            cause = None
        return error.with_cause(cause)

    def start(self, command: ProbeCommand, deadline_ns: int) -> Instance[HandleT]:
        """Launch an instance and wait for its ready marker; the boot clock starts here.

        On failure the instance is torn down and the original error raised; a teardown
        that fails too is logged and attached as a note, never in its place.
        """
        name = self.instance_name()
        log.info("%s: start %s", name, " ".join(command.argv()))  # off the clock: a file write
        instance: Instance[HandleT] = Instance(name, 0, command.output)
        try:
            self.before_clock(instance, command)
            instance.requested_ns = time.monotonic_ns()  # the clock starts once bench's own record is made
            self.launch(instance, command)
            stamp, _ = instance.output.wait_for(READY, deadline_ns, f"{self.name} instance")
            instance.mark("ready", stamp)
            log.info("%s: ready after %.1f ms", instance.name, instance.boot_total_ms())
            self.after_ready(instance)
        except InstanceError as error:
            explained = self.explain(instance, error)  # before teardown erases the evidence
            self._stop_after_failure(instance, explained)
            raise explained  # noqa: B904 (with_cause() chains the original)
        except BaseException as error:
            self._stop_after_failure(instance, error)
            raise
        return instance

    def _stop_after_failure(self, instance: Instance[HandleT], error: BaseException) -> None:
        try:
            self.stop(instance)
        except BenchError as problem:
            log.error("%s: teardown after a failed start failed too: %s", instance.name, problem)
            error.add_note(f"teardown failed too: {problem}")

    def stop(self, instance: Instance[HandleT]) -> None:
        """Idempotent: the first call tears down, later calls do nothing. A library error that
        escapes a teardown is a TeardownError."""
        if instance.stopped:
            return
        instance.stopped = True
        asked = time.monotonic_ns()
        try:
            try:
                self.teardown(instance)
            finally:  # whatever teardown did, the cell's scratch storage goes with it
                self.cells.remove_scratch(instance.name)
        except TeardownError:
            raise
        except InstanceError as error:
            raise TeardownError(f"tearing down {instance.name}: {error}") from error
        finally:
            instance.stop_span = (asked, time.monotonic_ns())
        log.info("%s: stopped", instance.name)


# what the orchestration holds: a driver or instance of any kind
AnyDriver = Driver[Any, Any]
AnyInstance = Instance[Any]
