"""The driver contract: what every runtime (process, native, docker, libvirt, ...) provides.

A driver only does what is its own: create and launch an instance, say which host
processes and cgroup belong to it, and tear it down. The base class does what every
driver needs: the host clock, boot phases, waiting for the probe's markers with a
deadline, and a stop that is safe to call twice.
"""

from __future__ import annotations

import signal
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from runtimes.errors import BenchError, InstanceError, InstanceTimeout
from runtimes.models import Strict
from runtimes.protocol import READY


def describe_status(status: int) -> str:
    """A wait status as words: negative is a signal (subprocess), 128+N a shell-style signal."""
    if status < 0:
        return f"killed by signal {signal_name(-status)}"
    if status > 128 and status - 128 < 65:
        return f"exited with status {status} (signal {signal_name(status - 128)})"
    return f"exited with status {status}"


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


class DriverOptions(Strict):
    """Base of every driver's options: strict and immutable, like the rest of the config."""


@dataclass(frozen=True)
class RunContext:
    """What a driver knows of the run it serves."""

    run_id: str
    cache_dir: Path
    work_dir: Path  # per-run scratch space, removed by the runner


@dataclass(frozen=True)
class ProbeCommand:
    """The probe's mode and arguments (key=value), identical for every packaging."""

    mode: str
    args: tuple[str, ...] = ()

    def argv(self) -> list[str]:
        return [self.mode, *self.args]


@dataclass(frozen=True)
class MemoryReading:
    """Host cost of one idle instance, in bytes; None where the driver has no such thing."""

    host_pss: int
    guest_ram: int | None = None
    cgroup: int | None = None
    extra: dict[str, int] = field(default_factory=dict)


class StampedLines:
    """Lines from an instance's output, each stamped with the host's monotonic clock on arrival.

    A reader thread pulls raw chunks from the driver's stream; nothing in the instance
    ever timestamps an interval.
    """

    def __init__(self) -> None:
        self.lines: list[tuple[int, str]] = []
        self.first_byte_ns: int | None = None
        self.closed = False
        self._partial = b""
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def follow(self, chunks: Callable[[], Iterable[bytes]], name: str) -> None:
        """Read chunks in the background until the stream ends."""
        self._thread = threading.Thread(target=self._pump, args=(chunks,), name=name, daemon=True)
        self._thread.start()

    def _pump(self, chunks: Callable[[], Iterable[bytes]]) -> None:
        try:
            for chunk in chunks():
                self.feed(chunk, time.monotonic_ns())
        except (OSError, ValueError):
            pass  # the stream broke: the instance is gone, waiters see `closed`
        finally:
            self.close()

    def feed(self, chunk: bytes, stamp: int) -> None:
        if not chunk:
            return
        with self._cond:
            if self.first_byte_ns is None:
                self.first_byte_ns = stamp
            *complete, self._partial = (self._partial + chunk).split(b"\n")
            for raw in complete:
                self.lines.append((stamp, raw.decode(errors="replace").rstrip("\r")))
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            if self._partial:
                self.lines.append((time.monotonic_ns(), self._partial.decode(errors="replace")))
                self._partial = b""
            self.closed = True
            self._cond.notify_all()

    def find(self, prefix: str) -> tuple[int, str] | None:
        with self._cond:
            return next(((t, line) for t, line in self.lines if line.startswith(prefix)), None)

    def wait_for(self, prefix: str, deadline_ns: int, what: str) -> tuple[int, str]:
        """The first line starting with `prefix` (stamp, text); raises on timeout or a closed stream."""
        with self._cond:
            while True:
                hit = next(((t, line) for t, line in self.lines if line.startswith(prefix)), None)
                if hit:
                    return hit
                if self.closed:
                    raise InstanceError(f"{what} ended before printing {prefix}{self.tail()}")
                remaining = (deadline_ns - time.monotonic_ns()) / 1e9
                if remaining <= 0:
                    raise InstanceTimeout(f"{what} did not print {prefix} before the cell timeout"
                                          f"{self.tail()}")
                self._cond.wait(min(remaining, 1.0))

    def wait_closed(self, deadline_ns: int) -> bool:
        with self._cond:
            while not self.closed:
                remaining = (deadline_ns - time.monotonic_ns()) / 1e9
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 1.0))
            return True

    def text(self) -> list[str]:
        with self._cond:
            return [line for _, line in self.lines]

    def tail(self, count: int = 3) -> str:
        shown = [line for _, line in self.lines[-count:] if line.strip()]
        return f" (last output: {' | '.join(shown)[:300]})" if shown else ""


class Instance:
    """One running instance: its output, its boot phases, and the driver's own handle."""

    def __init__(self, name: str, requested_ns: int) -> None:
        self.name = name
        self.requested_ns = requested_ns
        self.output = StampedLines()
        self.marks: list[tuple[str, int]] = []
        self.handle: Any = None
        self.stopped = False
        self.stop_marks: list[tuple[str, int]] = []
        self.stop_span: tuple[int, int] | None = None  # (asked to stop, teardown returned)

    def mark_stop(self, phase: str) -> None:
        """The end of a teardown step (exit, remove, destroy), on the host clock."""
        self.stop_marks.append((phase, time.monotonic_ns()))

    def stop_phases(self) -> dict[str, float]:
        """Milliseconds per teardown step, plus `total` from the stop request to its end."""
        if self.stop_span is None:
            return {}
        phases, previous = {}, self.stop_span[0]
        for phase, stamp in self.stop_marks:
            phases[phase] = (stamp - previous) / 1e6
            previous = stamp
        phases["total"] = (self.stop_span[1] - self.stop_span[0]) / 1e6
        return phases

    def mark(self, phase: str, stamp: int | None = None) -> None:
        """The end of a boot phase; phases are the intervals between consecutive marks."""
        self.marks.append((phase, time.monotonic_ns() if stamp is None else stamp))

    def ready_ns(self) -> int:
        ready = [stamp for phase, stamp in self.marks if phase == "ready"]
        return ready[0] if ready else max(stamp for _, stamp in self.marks)

    def boot_total_ms(self) -> float:
        """From the request to the ready marker's arrival."""
        return (self.ready_ns() - self.requested_ns) / 1e6

    def boot_phases(self) -> dict[str, float]:
        """Milliseconds per phase, in time order, starting at the request; they add up to the total.

        A step that returns after the ready marker arrived (dockerd often answers the start
        request after the probe printed its first line) ends where the marker arrived: that
        wait belongs to the step, and `ready` is then ~0 ms.
        """
        ready = self.ready_ns()
        ordered = sorted((min(stamp, ready), phase == "ready", phase) for phase, stamp in self.marks)
        phases, previous = {}, self.requested_ns
        for stamp, _, phase in ordered:
            phases[phase] = (stamp - previous) / 1e6
            previous = stamp
        return phases


class Driver(ABC):
    """A runtime. Subclasses set `kind` and `Options`, and implement the abstract methods."""

    kind: ClassVar[str]
    Options: ClassVar[type[DriverOptions]] = DriverOptions
    # how long an instance gets to leave on its own after being told to stop
    grace_seconds: ClassVar[float] = 2.0

    def __init__(self, name: str, options: dict[str, Any], context: RunContext) -> None:
        self.name = name
        self.options = self.Options.model_validate(options)
        self.context = context
        self.serial = 0
        self._serial_lock = threading.Lock()  # density starts instances from several threads

    # --- what every driver implements -------------------------------------------------

    @classmethod
    def unavailable_reason(cls, options: DriverOptions | None = None) -> str | None:
        """None when the driver can run here, else a sentence saying why not and what to do.

        With options (a configured endpoint or URI), for those; without, for the defaults.
        """
        return None

    def prepare(self, probe: Path) -> None:  # noqa: B027  (optional hook)
        """Once per run, before any cell and outside every measurement: package the probe."""

    @abstractmethod
    def launch(self, instance: Instance, command: ProbeCommand) -> None:
        """Create and start the instance, feed its output to instance.output, mark phases."""

    @abstractmethod
    def memory(self, instance: Instance) -> MemoryReading:
        """What the idle instance costs the host now."""

    @abstractmethod
    def teardown(self, instance: Instance) -> None:
        """Ask the instance to leave, wait up to grace_seconds, then force it; free its resources."""

    def exit_cause(self, instance: Instance) -> str | None:
        """Why an instance ended early, if the driver can tell: "out-of-memory", "killed by
        signal SIGSEGV", "exited with status 3". Called before teardown."""
        return None

    def explain(self, instance: Instance, error: InstanceError) -> InstanceError:
        """The error with the instance's exit cause in front, e.g. "out-of-memory: ..."."""
        try:
            cause = self.exit_cause(instance)
        except (OSError, BenchError):
            cause = None
        if not cause or str(error).startswith(cause):
            return error
        explained = type(error)(f"{cause}: {error}")
        explained.__cause__ = error
        return explained

    def fingerprint(self) -> dict[str, Any]:
        """Versions and settings that decide this driver's numbers (recorded in the manifest)."""
        return {"driver": self.kind}

    def close(self) -> None:  # noqa: B027  (optional hook)
        """After the last cell: release connections and per-run resources."""

    @classmethod
    def clean(cls, run_id: str | None, dry_run: bool) -> list[str]:
        """Find (and unless dry_run remove) what runs left behind: all bench runs, or one.

        Returns one line per thing found, e.g. "container bench-1a2b-docker-3". Used by
        `bench clean` after a killed run, and by tests to prove nothing is left.
        """
        return []

    # --- what the base class does for all of them --------------------------------------

    def instance_name(self) -> str:
        with self._serial_lock:
            self.serial += 1
            return f"bench-{self.context.run_id}-{self.name}-{self.serial}"

    def start(self, command: ProbeCommand, deadline_ns: int) -> Instance:
        """Launch an instance and wait for its ready marker; the boot clock starts here."""
        instance = Instance(self.instance_name(), time.monotonic_ns())
        try:
            self.launch(instance, command)
            stamp, _ = instance.output.wait_for(READY, deadline_ns, f"{self.name} instance")
            instance.mark("ready", stamp)
        except InstanceError as error:
            explained = self.explain(instance, error)  # before teardown erases the evidence
            self.stop(instance)
            raise explained  # noqa: B904 (explain() chains the cause)
        except BaseException:
            self.stop(instance)
            raise
        return instance

    def stop(self, instance: Instance) -> None:
        """Idempotent: the first call tears down, later calls do nothing."""
        if instance.stopped:
            return
        instance.stopped = True
        asked = time.monotonic_ns()
        self.teardown(instance)
        instance.stop_span = (asked, time.monotonic_ns())
