"""What the tests of the VM drivers (libvirt, qemu) share: an idle guest read as the runner
reads one, and the check that its boot phases come in order and add up to its boot.total."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from runtimes.base import Driver, MemoryReading, ProbeCommand
from runtimes.instance import Instance
from runtimes.protocol import IDLE


def deadline(seconds: float) -> int:
    return time.monotonic_ns() + int(seconds * 1e9)


@contextmanager
def idle_guest(driver: Driver[Any, Any], boot_timeout_s: float) -> Iterator[
        tuple[Instance[Any], MemoryReading]]:
    """A guest booted to idle, settled as the runner settles one, and its memory; stopped after."""
    instance = driver.start(ProbeCommand("ready", ("idle=300",)), deadline(boot_timeout_s))
    try:
        instance.output.wait_for(IDLE, deadline(30), f"{driver.kind} guest")
        time.sleep(1.0)  # settle, as the runner does
        yield instance, driver.memory(instance)
    finally:
        driver.stop(instance)


def check_phases(instance: Instance[Any], names: list[str]) -> None:
    """The phases are these, in time order, none negative, adding up to boot.total, and the
    kernel's dominates the first console byte's."""
    phases = instance.boot_phases()
    assert list(phases) == names
    assert all(value >= 0 for value in phases.values())
    assert sum(phases.values()) == pytest.approx(instance.boot_total_ms())
    assert phases["kernel_to_init"] > phases["first_byte"]  # the kernel's boot dominates
