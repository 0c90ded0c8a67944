"""One instance as the harness sees it: its output stamped on the host clock, its boot and
teardown phases, and the driver's own handle.

A driver feeds the instance's output into `Instance.output` (a reader thread pulls raw
chunks; every line is stamped with the host's monotonic clock on arrival, so nothing in the
instance ever timestamps an interval) and marks the end of each step it takes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

from foundation.errors import InstanceError, InstanceTimeout

HandleT = TypeVar("HandleT")


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
                    raise InstanceError(f"{what} ended before printing {prefix}",
                                        tail=self.tail())
                remaining = (deadline_ns - time.monotonic_ns()) / 1e9
                if remaining <= 0:
                    raise InstanceTimeout(f"{what} did not print {prefix} before the cell "
                                          "timeout", tail=self.tail())
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

    def tail(self, count: int = 3) -> tuple[str, ...]:
        """The last lines of output, for an error to carry."""
        with self._cond:
            return tuple(line for _, line in self.lines[-count:])


class Instance(Generic[HandleT]):
    """One running instance: its output, its boot phases, and the driver's own handle."""

    def __init__(self, name: str, requested_ns: int) -> None:
        self.name = name
        self.requested_ns = requested_ns
        self.output = StampedLines()
        self.marks: list[tuple[str, int]] = []
        self.handle: HandleT | None = None
        self.stopped = False
        self.stop_marks: list[tuple[str, int]] = []
        self.stop_span: tuple[int, int] | None = None  # (asked to stop, teardown returned)
        # durations a guest measured with its own kernel clock (ms), beside the host's phases and
        # never among them: they share no clock with boot.total
        self.guest_phases: dict[str, float] = {}

    def held(self) -> HandleT:
        """The driver's handle; an InstanceError when launch never got that far."""
        if self.handle is None:
            raise InstanceError(f"{self.name} has no handle: it was never launched")
        return self.handle

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
