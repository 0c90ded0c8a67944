"""A libvirtd restart mid-run: the driver notices its connection died and opens another, so the
run's later guest cells do not all fail with "client socket is closed"."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import runtimes.libvirt.driver as driver_module
from runtimes.base import RunContext
from runtimes.guest.accel import AccelChoice
from runtimes.libvirt.driver import LibvirtDriver, LibvirtOptions


class FakeError(Exception):
    pass


class Connection:
    def __init__(self, alive: bool | None = True) -> None:
        self.alive = alive  # None: the check itself fails, as on a broken socket

    def isAlive(self) -> int:  # noqa: N802  (libvirt's name)
        if self.alive is None:
            raise FakeError("client socket is closed")
        return int(self.alive)


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[Connection]:
    made: list[Connection] = []

    def open_connection(libvirt: Any, uri: str) -> Connection:
        made.append(Connection())
        return made[-1]

    monkeypatch.setattr(driver_module, "import_libvirt", lambda: SimpleNamespace(libvirtError=FakeError))
    monkeypatch.setattr(driver_module, "open_connection", open_connection)
    monkeypatch.setattr(LibvirtDriver, "_choose_accel", lambda self: AccelChoice("tcg", "test"))
    return made


@pytest.mark.parametrize("dead", [False, None])
def test_a_dead_connection_is_replaced_and_a_live_one_kept(opened: list[Connection],
                                                            tmp_path: Path, dead: bool | None) -> None:
    driver = LibvirtDriver("libvirt", LibvirtOptions(), RunContext("r1", tmp_path, tmp_path))
    first = driver._connect()
    assert driver._connect() is first and len(opened) == 1  # alive: kept
    first.alive = dead  # libvirtd restarted
    second = driver._connect()
    assert second is not first and len(opened) == 2 and second.alive
