"""Times in the history store: which a run may claim, and how any stored one is shown.

A results directory says when its run started (`created`), ended and was resumed; `bench
history import` takes those as claims. A time before 2000 or more than a day ahead of the
store's clock (hosts' clocks drift; a day is generous) is no time bench ran at: the run is
refused in one line. The store keeps its own clock besides (`received`, revision 0003), and
orders by that, so a claim inside the bounds still cannot make a run "newest".

A store written by an older bench may hold any number, or text, where a time should be:
`shown_time` prints whatever it finds, never raising.
"""

from __future__ import annotations

import datetime
import math
from typing import Any, TypeGuard

EARLIEST = 946_684_800.0  # 2000-01-01T00:00:00Z: before any bench
AHEAD_S = 86_400.0  # how far past the store's clock a host's clock may run
FORMAT = "%Y-%m-%d %H:%M:%S"


def is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def time_problem(value: Any, now: float) -> str | None:
    """Why `value` is not a time a run could claim (None when it is one)."""
    if not is_number(value) or not math.isfinite(value):
        return f"{shown_value(value)} is not a number of seconds since 1970"
    if value < EARLIEST:
        return f"{shown_value(value)} is before 2000"
    if value > now + AHEAD_S:
        when = shown_time(value)
        claim = f"{when} UTC" if when[:1].isdigit() else shown_value(value)
        return f"{claim} is more than a day after the store's clock ({shown_time(now)} UTC)"
    return None


def shown_time(value: Any) -> str:
    """A stored epoch as UTC date and time, or what it is instead (never an exception)."""
    if not is_number(value) or not math.isfinite(value):
        return f"not a time ({shown_value(value)})"
    try:
        return datetime.datetime.fromtimestamp(value, tz=datetime.UTC).strftime(FORMAT)
    except (OverflowError, OSError, ValueError):
        return f"out of range ({shown_value(value)})"


def shown_value(value: Any) -> str:
    """A stored value in a message: short, one line, no control characters."""
    text = f"{value:g}" if is_number(value) and isinstance(value, float) else repr(value)
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text if len(text) <= 40 else text[:37] + "..."
