"""QEMU's control channel (QMP) through QEMU's own client library, qemu.qmp.

qemu.qmp is asyncio; the driver is not. One daemon thread runs an event loop for the
whole process, and each call from a driver thread (the runner's, or one of density's) is
handed to it and waited for with a timeout, so monitors of many guests can be used from
many threads at once. bench listens on the socket and QEMU connects to it as it starts
(`-qmp unix:PATH`, QEMU the client): no polling for a socket QEMU has yet to create, and
the moment QEMU's monitor answers is a phase of the boot.

The library is imported when a monitor is made, so the driver's module imports (and says
the driver is unavailable) without it.
"""

from __future__ import annotations

import asyncio
import importlib
import threading
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

from foundation.errors import InstanceError, RuntimeUnavailable
from runtimes.base import log as runtimes_log

INSTALL = "pip install 'bench[qemu]'"
POLL_S = 0.05  # how often a wait looks whether QEMU is still there
log = runtimes_log.getChild("qemu")
T = TypeVar("T")

_loop_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def import_qmp() -> ModuleType:
    try:
        return importlib.import_module("qemu.qmp")
    except ImportError as error:
        raise RuntimeUnavailable(f"QEMU's QMP library (qemu.qmp) is not installed: {INSTALL}") from error


def event_loop() -> asyncio.AbstractEventLoop:
    """The process's QMP event loop, running in a daemon thread (started on first use)."""
    global _loop
    with _loop_lock:
        if _loop is None:
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="qmp-events", daemon=True).start()
            _loop = loop
        return _loop


class Monitor:
    """One guest's QMP monitor: listening before QEMU starts, then connected, then closed."""

    def __init__(self, name: str, socket: Path) -> None:
        self.qmp = import_qmp()
        self.name = name
        self.socket = socket
        self.client: Any = None

    def _call(self, make: Callable[[], Coroutine[Any, Any, T]], timeout_s: float, what: str,
              alive: Callable[[], bool] = lambda: True) -> T:
        """Run a coroutine on the QMP loop; give up after timeout_s or once `alive` says no."""
        future = asyncio.run_coroutine_threadsafe(make(), event_loop())
        waited = 0.0
        try:
            while True:
                try:
                    return future.result(timeout=min(POLL_S, max(timeout_s - waited, 0.001)))
                except FutureTimeout:
                    waited += POLL_S
                    if not alive():
                        raise InstanceError(f"QEMU of {self.name} exited before {what}") from None
                    if waited >= timeout_s:
                        raise InstanceError(f"QEMU of {self.name}: no {what} within "
                                            f"{timeout_s:.0f} s") from None
        except (self.qmp.QMPError, EOFError, OSError) as error:  # the library's, or the socket's
            raise InstanceError(f"QMP of {self.name}: {what} failed: {error}") from error
        finally:
            future.cancel()

    def listen(self) -> None:
        """Listen on the socket QEMU will connect to (before QEMU starts)."""
        async def start() -> None:
            self.client = self.qmp.QMPClient(self.name)
            await self.client.start_server(str(self.socket))
        self._call(start, 10.0, "listening for QMP")

    def accept(self, timeout_s: float, alive: Callable[[], bool]) -> None:
        """Wait for QEMU to connect and negotiate capabilities: its monitor answers."""
        self._call(lambda: self._client().accept(), timeout_s, "QMP connection", alive)

    def execute(self, command: str, timeout_s: float, **arguments: object) -> Any:
        log.info("qmp %s: %s %s", self.name, command, arguments or "")
        return self._call(lambda: self._client().execute(command, arguments or None), timeout_s,
                          f"QMP {command}")

    def close(self) -> None:
        """Disconnect (idempotent); the listening socket goes with it."""
        if self.client is None:
            return
        client, self.client = self.client, None
        try:
            self._call(lambda: _awaited(client.disconnect()), 5.0, "QMP disconnect")
        except InstanceError as problem:
            log.debug("%s: %s", self.name, problem)
        self.socket.unlink(missing_ok=True)

    def _client(self) -> Any:
        if self.client is None:
            raise InstanceError(f"QMP of {self.name} is closed")
        return self.client


async def _awaited(awaitable: Awaitable[T]) -> T:
    return await awaitable
