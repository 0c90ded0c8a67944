"""One thread that reads the output of every instance a launcher started, and stamps it.

A reader thread per instance costs its start on the boot's clock: Thread.start() waits until
the new thread has run, which on a busy host is a wait for a CPU, inside `boot.total`. Here
the driver's one pump waits on all its instances' pipes at once (epoll): a new instance is
one registration, and each chunk is stamped with the host's monotonic clock the moment the
pump reads it, as StampedLines expects (runtimes/instance.py).
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time

from runtimes.base import log
from runtimes.instance import StampedLines

CHUNK = 65536


class Stream:
    """A pipe the pump reads, and the lines its chunks go to: known only once the instance
    that will write to it is asked for (a pipe is made before, off every clock)."""

    def __init__(self, lines: StampedLines | None = None) -> None:
        self.lines = lines


class OutputPump:
    """Reads registered pipes until each ends; feeds each chunk to its stream's lines."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._poller = select.epoll()
        self._streams: dict[int, Stream] = {}
        self._lock = threading.Lock()
        self._wake_read, self._wake_write = os.pipe2(os.O_CLOEXEC)
        self._poller.register(self._wake_read, select.EPOLLIN)
        self._thread = threading.Thread(target=self._run, name=f"{name}-output", daemon=True)
        self._thread.start()

    def follow(self, fd: int, stream: Stream) -> None:
        """Read `fd` (the pump owns it from now on and closes it at its end) into the
        stream's lines, once it has them."""
        with self._lock:
            self._streams[fd] = stream
        try:
            self._poller.register(fd, select.EPOLLIN)
        except (OSError, ValueError):
            with self._lock:
                self._streams.pop(fd, None)
            os.close(fd)
            raise

    def _run(self) -> None:
        while True:
            try:
                events = self._poller.poll()
            except (OSError, ValueError):  # closed under us: the pump is done
                return
            for fd, _ in events:
                if fd == self._wake_read:
                    return
                self._read(fd)

    def _read(self, fd: int) -> None:
        with self._lock:
            stream = self._streams.get(fd)
        if stream is None:
            return
        try:
            data = os.read(fd, CHUNK)
            stamp = time.monotonic_ns()
            if data and stream.lines is not None:
                stream.lines.feed(data, stamp)
                return
        except (OSError, ValueError) as error:  # the stream broke, or its sink did
            log.debug("%s: output %d ends: %s", self.name, fd, error)
        self._end(fd, stream)

    def _end(self, fd: int, stream: Stream) -> None:
        with self._lock:
            self._streams.pop(fd, None)
        with contextlib.suppress(OSError, ValueError):
            self._poller.unregister(fd)
        os.close(fd)
        if stream.lines is not None:
            stream.lines.close()

    def close(self) -> None:
        """Stop reading; every stream still open is closed (its waiters see it end)."""
        with contextlib.suppress(OSError):
            os.write(self._wake_write, b"x")
        self._thread.join(timeout=5)
        with self._lock:
            left = list(self._streams.items())
        for fd, stream in left:
            self._end(fd, stream)
        self._poller.close()
        os.close(self._wake_read)
        os.close(self._wake_write)
