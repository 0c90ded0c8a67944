"""A pause that ends at a random phase of the kernel's tick.

The kernel does some of its work on its periodic tick (every 4 ms at HZ=250): an RCU grace
period, for one, advances at ticks. A start that waits for such work is slower or faster by
where in the tick it falls. lxc-start's first write to cgroup.procs waits for a grace period,
and on the build host its starts made 0 to 0.5 ms after a tick waited for a second grace period
in 1 of 15, those made 1 to 2.5 ms after in 9 to 11 of 15 (docs/methodology.md, "A start's
phase in the tick").

A harness's own sleeps and waits can hold its starts at one phase: a pause of a fixed length
after a teardown that ended on a tick starts the next instance at the same phase every time.
bench's ordinary cells started lxc at one phase and its storms at another, and the same start
read 13 ms in one and 26 ms in the other. So every pause before a timed start ends a random
part of one tick later, uniform over the tick: whatever came before, the start's phase is
uniform, as for a start made at an arbitrary moment. The extra is before the clock.
"""

from __future__ import annotations

import random
import time

CLOCK_MONOTONIC_COARSE = 6  # Linux's clock that steps once per tick (Python's time has no name for it)
SLOWEST_TICK_S = 0.01  # HZ=100, the slowest tick Linux builds with: where the coarse clock is unknown


def tick_seconds() -> float:
    """The kernel's tick: the resolution of its coarse monotonic clock (1/HZ)."""
    try:
        return time.clock_getres(CLOCK_MONOTONIC_COARSE)
    except OSError:
        return SLOWEST_TICK_S


TICK_S = tick_seconds()
_draws = random.Random()


def part() -> float:
    """A random part of one tick, in seconds, drawn uniformly."""
    return _draws.uniform(0.0, TICK_S)


def pause(seconds: float) -> float:
    """Sleep `seconds` and then a random part of one tick; returns that part."""
    extra = part()
    time.sleep(seconds + extra)
    return extra
