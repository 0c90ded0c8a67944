"""One thread that reads the output of every instance a launcher started, and stamps it.

A reader thread per instance costs its start on the boot's clock: Thread.start() waits until
the new thread has run, which on a busy host is a wait for a CPU, inside `boot.total`. Here
the driver's one pump waits on all its instances' pipes at once (epoll): a new instance is
one registration. The wait, the read and the stamp are one call into the launcher's library
(launcher_read, with Python's lock let go), so each chunk is stamped with the host's
monotonic clock the moment its read returns, whatever another thread of bench is doing, as
StampedLines expects (runtimes/instance.py).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import threading

from runtimes.base import log
from runtimes.instance import StampedLines

CHUNK = 65536


class Chunk(ctypes.Structure):
    """struct chunk of launcher.c."""

    _fields_ = [("fd", ctypes.c_int32), ("error", ctypes.c_int32), ("length", ctypes.c_int64),
                ("stamp", ctypes.c_uint64)]


class Stream:
    """A pipe the pump reads, and the lines its chunks go to: known only once the instance
    that will write to it is asked for (a pipe is made before, off every clock)."""

    def __init__(self, lines: StampedLines | None = None) -> None:
        self.lines = lines


class OutputPump:
    """Reads registered pipes until each ends; feeds each chunk to its stream's lines."""

    def __init__(self, name: str, library: ctypes.CDLL) -> None:
        self.name = name
        self._wait_read = library.launcher_read
        self._wait_read.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint64,
                                    ctypes.POINTER(Chunk)]
        self._wait_read.restype = ctypes.c_int
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
        buffer = ctypes.create_string_buffer(CHUNK)
        chunk = Chunk()
        while True:
            if self._wait_read(self._poller.fileno(), buffer, CHUNK, ctypes.byref(chunk)) != 0:
                return  # the epoll set is closed: the pump is done
            if chunk.fd == self._wake_read:
                return
            self._read(chunk.fd, ctypes.string_at(buffer, chunk.length), chunk.stamp,
                       chunk.error)

    def _read(self, fd: int, data: bytes, stamp: int, error: int) -> None:
        with self._lock:
            stream = self._streams.get(fd)
        if stream is None:
            return
        try:
            if data and stream.lines is not None:
                stream.lines.feed(data, stamp)
                return
        except (OSError, ValueError) as problem:  # its sink broke
            log.debug("%s: output %d ends: %s", self.name, fd, problem)
        if error:
            log.debug("%s: output %d ends: %s", self.name, fd, os.strerror(error))
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
