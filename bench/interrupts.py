"""The signals that stop a run (SIGINT, SIGTERM, SIGHUP), handled one way: stop, clean up, exit.

The first signal raises Interruption (a KeyboardInterrupt carrying the signal) in the
main thread, wherever it is: the compile, a cell, the report. From then on the run is
stopping: later signals are noted and ignored, so a second Ctrl-C cannot cut a teardown
in half, print a traceback or leave a temporary directory. Code that must finish once it
has started (a teardown, the manifest's last word, the report) runs `shielded()`: a signal
that arrives meanwhile is raised when the block is done. The command then exits 128+N.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interruption(KeyboardInterrupt):
    """A signal asked the run to stop; `signum` says which."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def signal_of(stop: BaseException) -> int:
    """The signal behind an interruption (a plain KeyboardInterrupt is a Ctrl-C)."""
    return stop.signum if isinstance(stop, Interruption) else signal.SIGINT


class SignalGuard:
    """What the installed handlers share: the first signal, whether it was raised, and how
    deep the code now running is shielded."""

    def __init__(self) -> None:
        self.received: int | None = None
        self.raised = False
        self.depth = 0

    def handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is None:
            self.received = signum
        elif self.raised:
            say(f"bench: {signal.Signals(signum).name} again: already stopping, tearing down "
                "what was started")
        if self.raised or self.depth:
            return
        self.raised = True
        raise Interruption(signum)

    @contextmanager
    def shielded(self) -> Iterator[None]:
        """Run the block to its end; a signal that came meanwhile is raised after it."""
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1
        if not self.depth and self.received is not None and not self.raised:
            self.raised = True
            raise Interruption(self.received)


_active: SignalGuard | None = None


@contextmanager
def handling_signals() -> Iterator[SignalGuard]:
    """Install the handlers for the block (the one guard of an outer block, if any)."""
    global _active
    if _active is not None or threading.current_thread() is not threading.main_thread():
        yield _active or SignalGuard()  # handlers can only be installed from the main thread
        return
    guard = _active = SignalGuard()
    previous = {signum: signal.signal(signum, guard.handle) for signum in HANDLED}
    try:
        yield guard
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        _active = None


def shielded() -> contextlib.AbstractContextManager[None]:
    """The active guard's shield, or nothing when no handler is installed."""
    return _active.shielded() if _active is not None else contextlib.nullcontext()


def say(line: str) -> None:
    """One line on stderr from a handler, without the console's locks."""
    with contextlib.suppress(OSError):
        os.write(2, (line + "\n").encode())
