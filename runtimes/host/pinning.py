"""Pinning instances to chosen CPUs: the option every driver shares, and how host processes
get it.

On a small host the harness, the instance and everything else share a few CPUs; pinning the
instance (and with it the probe) to CPUs of its own keeps the harness's own work off the
CPU being timed. Each driver applies the option its own way (sched_setaffinity for host
processes, a cpuset for containers, vcpupin and emulatorpin for guests) and records it in
its fingerprint.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from typing import Annotated

from pydantic import AfterValidator, Field

CPU_LIST = re.compile(r"\d+(-\d+)?(,\d+(-\d+)?)*")


def parse_cpus(text: str) -> frozenset[int]:
    """A CPU list as the kernel writes one ("0-2,5") as a set of CPU numbers."""
    if not CPU_LIST.fullmatch(text):
        raise ValueError(f"{text!r} is not a CPU list such as 1 or 0-2,5")
    cpus: set[int] = set()
    for part in text.split(","):
        low, _, high = part.partition("-")
        first, last = int(low), int(high or low)
        if last < first:
            raise ValueError(f"{part!r}: a range runs upwards, e.g. 2-3")
        cpus.update(range(first, last + 1))
    return frozenset(cpus)


def _check(text: str) -> str:
    cpus = parse_cpus(text)
    present = os.sched_getaffinity(0) | set(range(os.cpu_count() or 1))
    missing = sorted(cpus - present)
    if missing:
        raise ValueError(f"CPU {', '.join(map(str, missing))} does not exist here "
                         f"(this host has {os.cpu_count()})")
    return text


CpuList = Annotated[str, AfterValidator(_check), Field(
    description="pin the instance to these CPUs (a list such as 1 or 0-2,5); default: unpinned")]


@contextlib.contextmanager
def thread_pinned(cpus: str | None) -> Iterator[None]:
    """The calling thread pinned to `cpus` for the block, then restored.

    A child process inherits the affinity of the thread that starts it, so a process
    started inside the block is pinned from its first instruction (no race with a later
    sched_setaffinity on its pid), and the harness's other threads are untouched.
    """
    if cpus is None:
        yield
        return
    previous = os.sched_getaffinity(0)
    os.sched_setaffinity(0, parse_cpus(cpus))
    try:
        yield
    finally:
        os.sched_setaffinity(0, previous)
