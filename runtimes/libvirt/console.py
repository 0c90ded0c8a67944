"""A guest's serial console read through a non-blocking libvirt stream and libvirt's event loop.

Blocking reads would be simpler, but a thread blocked in virStreamRecv can stall other
calls on the same connection (seen here: openConsole waited for another guest's stream
to end). So streams are non-blocking, and one daemon thread runs libvirt's default event
loop for the whole process; each readable event drains the stream and stamps the chunk
with the host's monotonic clock the moment it is read.
"""

from __future__ import annotations

import contextlib
import threading
import time
from types import ModuleType
from typing import Any

from runtimes.guest.serial import ConsoleText
from runtimes.instance import StampedLines

CHUNK = 65536
_loop_lock = threading.Lock()
_loop_started = False


def ensure_event_loop(libvirt: ModuleType) -> None:
    """Register libvirt's default event loop and run it in a daemon thread (once per process).

    Must happen before the connection that carries the streams is opened.
    """
    global _loop_started
    with _loop_lock:
        if _loop_started:
            return
        libvirt.virEventRegisterDefaultImpl()
        thread = threading.Thread(target=_run_loop, args=(libvirt,), name="libvirt-events",
                                  daemon=True)
        thread.start()
        _loop_started = True


def _run_loop(libvirt: ModuleType) -> None:
    while True:
        libvirt.virEventRunDefaultImpl()


class ConsoleStream:
    """Feeds one guest's console stream into `output` until the stream ends or is closed."""

    def __init__(self, libvirt: ModuleType, stream: Any, output: StampedLines) -> None:
        self.libvirt = libvirt
        self.stream = stream
        self.output = output
        self._lock = threading.Lock()
        self._ended = False
        self._text = ConsoleText()

    def attach(self) -> None:
        lv = self.libvirt
        events = lv.VIR_STREAM_EVENT_READABLE | lv.VIR_STREAM_EVENT_ERROR | lv.VIR_STREAM_EVENT_HANGUP
        self.stream.eventAddCallback(events, self._on_event, None)

    def _on_event(self, stream: Any, events: int, opaque: object) -> None:
        while not self._ended:
            try:
                chunk = stream.recv(CHUNK)
            except self.libvirt.libvirtError:
                self._end(abort=True)  # the guest (or libvirtd) went away
                return
            if chunk == -2:  # drained for now
                break
            if not chunk:
                self._end(abort=False)
                return
            stamp = time.monotonic_ns()
            self.output.feed(self._text(chunk), stamp)
        if events & (self.libvirt.VIR_STREAM_EVENT_ERROR | self.libvirt.VIR_STREAM_EVENT_HANGUP):
            self._end(abort=True)

    def close(self) -> None:
        """Detach and abort the stream (idempotent); waiters on `output` see it closed."""
        self._end(abort=True)

    def _end(self, abort: bool) -> None:
        with self._lock:
            if self._ended:
                return
            self._ended = True
        for step in ("eventRemoveCallback", "abort" if abort else "finish"):
            with contextlib.suppress(self.libvirt.libvirtError):  # gone with the guest already
                getattr(self.stream, step)()
        self.output.close()
