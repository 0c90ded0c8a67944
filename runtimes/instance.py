"""One instance as the harness sees it: its output stamped on the host clock, its boot and
teardown phases, and the driver's own handle.

A driver feeds the instance's output into `Instance.output` (a reader thread pulls raw
chunks; every line is stamped with the host's monotonic clock on arrival, so nothing in the
instance ever timestamps an interval) and marks the end of each step it takes.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO, Generic, TypeVar

from foundation.errors import InstanceError, InstanceTimeout

HandleT = TypeVar("HandleT")


# the probe's prefixes for a command's forwarded lines (runtimes/protocol.py): with a sink,
# they go to its file as they come, never into memory
FORWARDED = (b"BENCH-OUT", b"BENCH-ERR", b"BENCH-BG")
# a stream that never ends a line (a console gone wrong) is cut into lines of this size
LONGEST_LINE = 1 << 20
TAIL_BYTES = 64 << 10


class StampedLines:
    """Lines from an instance's output, each stamped with the host's monotonic clock on arrival.

    A reader thread pulls raw chunks from the driver's stream; nothing in the instance
    ever timestamps an interval. With a `sink`, the command's own output (the probe's
    BENCH-OUT, BENCH-ERR and BENCH-BG lines) is appended to that file as it comes, one write
    per chunk, and only the probe's protocol stays in memory: the harness's memory stays
    flat and its time linear however much a command prints, so it never slows the probe.
    """

    def __init__(self, sink: Path | None = None) -> None:
        self.lines: list[tuple[int, str]] = []
        self.first_byte_ns: int | None = None
        self.closed = False
        self.sink = sink
        self.forwarded = 0  # the command's lines written to the sink
        self._file: BinaryIO | None = None
        self._recent: deque[str] = deque(maxlen=8)  # of every line, for an error's tail
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
        data = self._partial + chunk
        if self._only_output(data):
            return
        *complete, partial = data.split(b"\n")
        if len(partial) > LONGEST_LINE:
            complete.append(partial)
            partial = b""
        self._partial = partial
        kept = self._divert(complete)
        with self._cond:
            if self.first_byte_ns is None:
                self.first_byte_ns = stamp
            for raw in kept:
                line = raw.decode(errors="replace").rstrip("\r")
                self.lines.append((stamp, line))
                self._recent.append(line)
            self._cond.notify_all()

    def _only_output(self, data: bytes) -> bool:
        """The fast path of a chunk whose complete lines are all the command's (most of a
        noisy command's chunks): counted and written whole, in C, never split into lines in
        Python, so that the reader keeps up with the probe. False (nothing done) otherwise."""
        end = data.rfind(b"\n") + 1
        if self.sink is None or end == 0 or not data.startswith(FORWARDED):
            return False
        block = data[:end]
        lines = block.count(b"\n")
        starts = b"\n" + block[:-1]
        if sum(starts.count(b"\n" + prefix) for prefix in FORWARDED) != lines:
            return False
        with self._cond:
            self._write(block, lines, block[block.rfind(b"\n", 0, end - 1) + 1:end - 1])
            self._partial = data[end:]
            if self.first_byte_ns is None:
                self.first_byte_ns = time.monotonic_ns()
        return True

    def _write(self, block: bytes, lines: int, last: bytes) -> None:
        """Command lines (`block`, newline-terminated) appended to the sink."""
        if self._file is None:
            if self.sink is None:
                raise InstanceError("a command's output has no file to go to")
            self.sink.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.sink, "wb", buffering=0)  # noqa: SIM115 (closed in close())
        self._file.write(block)
        self.forwarded += lines
        self._recent.append(last.decode(errors="replace").rstrip("\r"))

    def _divert(self, complete: list[bytes]) -> list[bytes]:
        """The command's lines written to the sink (one write for the chunk); the rest,
        which stays in memory."""
        if self.sink is None:
            return complete
        output = [raw for raw in complete if raw.startswith(FORWARDED)]
        if not output:
            return complete
        self._write(b"\n".join(output) + b"\n", len(output), output[-1])
        return [raw for raw in complete if not raw.startswith(FORWARDED)] \
            if len(output) < len(complete) else []

    def close(self) -> None:
        with self._cond:
            if self._partial:
                self._divert_last()
            if self._file is not None:
                self._file.close()
                self._file = None
            self.closed = True
            self._cond.notify_all()

    def _divert_last(self) -> None:
        kept = self._divert([self._partial])
        self._partial = b""
        for raw in kept:
            self.lines.append((time.monotonic_ns(), raw.decode(errors="replace")))

    def find(self, prefix: str) -> tuple[int, str] | None:
        with self._cond:
            return next(((t, line) for t, line in self.lines if line.startswith(prefix)), None)

    def wait_for(self, prefix: str, deadline_ns: int, what: str) -> tuple[int, str]:
        """The first line starting with `prefix` (stamp, text); raises on timeout or a closed
        stream. Each line is looked at once, however often the waiter wakes."""
        seen = 0
        with self._cond:
            while True:
                hit = next(((t, line) for t, line in self.lines[seen:] if line.startswith(prefix)),
                           None)
                if hit:
                    return hit
                seen = len(self.lines)
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
        """Every line kept in memory: all of them without a sink, the protocol's with one."""
        with self._cond:
            return [line for _, line in self.lines]

    def tail(self, count: int = 3) -> tuple[str, ...]:
        """The last lines of output (the command's too), for an error to carry."""
        with self._cond:
            return tuple(self._recent)[-count:]

    def output(self, prefix: str) -> Iterator[str]:
        """The command's lines of one stream (prefix "BENCH-OUT ", "BENCH-ERR "), without the
        prefix, in order: read back from the sink (streamed, not held), or from memory."""
        if self.sink is None:
            yield from (text for line in self.text() if (text := unprefixed(line, prefix)) is not None)
            return
        if not self.sink.exists():
            return
        with open(self.sink, "rb") as lines:
            for raw in lines:
                text = unprefixed(raw.decode(errors="replace"), prefix)
                if text is not None:
                    yield text

    def output_tail(self, prefixes: tuple[str, ...], count: int) -> list[str]:
        """The last `count` lines of these streams, read from the sink's end (or memory)."""
        if self.sink is None or not self.sink.exists():
            lines = self.text()
        else:
            with open(self.sink, "rb") as file:
                file.seek(max(0, self.sink.stat().st_size - TAIL_BYTES))
                lines = file.read().decode(errors="replace").splitlines()
        found = [text for line in lines for prefix in prefixes
                 if (text := unprefixed(line, prefix)) is not None]
        return found[-count:]


def unprefixed(line: str, prefix: str) -> str | None:
    """A forwarded line's text without its prefix ("BENCH-OUT " or, for an empty line that
    lost its trailing space, "BENCH-OUT"), or None if the line is not of that stream."""
    line = line.rstrip("\r\n")
    if line.startswith(prefix):
        return line[len(prefix):]
    return "" if line == prefix.rstrip() else None


class Instance(Generic[HandleT]):
    """One running instance: its output, its boot phases, and the driver's own handle."""

    def __init__(self, name: str, requested_ns: int, sink: Path | None = None) -> None:
        self.name = name
        self.requested_ns = requested_ns
        self.output = StampedLines(sink)
        self.marks: list[tuple[str, int]] = []
        self.handle: HandleT | None = None
        self.stopped = False
        self.stop_marks: list[tuple[str, int]] = []
        self.stop_span: tuple[int, int] | None = None  # (asked to stop, teardown returned)
        self.pull_phases: dict[str, float] = {}  # ms per step of pulling its image first (cold)
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
