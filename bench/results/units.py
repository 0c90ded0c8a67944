"""Units and directions: the one table every reader and writer of results uses.

A metric's family (the part before the first dot) decides its unit and which way is
better; a workload metric carries both with its sample. A quantity a user writes ("0.5 ms",
"1 MiB") is converted to a metric's unit here; values are written for people by
bench.results.numbers.
"""

from __future__ import annotations

import re
from typing import Literal

Direction = Literal["lower", "higher"]

# metric family -> (unit, direction); workload.* and density.* carry their own unit, and a
# workload metric its direction too (a throughput: higher is better)
FAMILIES: dict[str, tuple[str, Direction]] = {
    "boot": ("ms", "lower"), "stop": ("ms", "lower"), "memory": ("bytes", "lower"),
    "syscall": ("ns", "lower"), "cell": ("cell", "lower"), "cpu": ("ratio", "lower"),
    "start": ("ms", "lower"),
}

# unit -> (dimension, factor to the dimension's base unit)
UNIT_SCALES: dict[str, tuple[str, float]] = {
    "ns": ("time", 1e-9), "us": ("time", 1e-6), "µs": ("time", 1e-6), "ms": ("time", 1e-3),
    "s": ("time", 1.0), "B": ("bytes", 1.0), "bytes": ("bytes", 1.0), "KiB": ("bytes", 1024.0),
    "MiB": ("bytes", 1024.0**2), "GiB": ("bytes", 1024.0**3), "kB": ("bytes", 1e3),
    "MB": ("bytes", 1e6), "GB": ("bytes", 1e9)}
QUANTITY = re.compile(r"^\s*([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([A-Za-zµ]*)\s*$")


def family(metric: str) -> str:
    return metric.split(".", 1)[0]


def unit_of(metric: str) -> str:
    """The unit of a metric family; KeyError for a family that carries its own."""
    return FAMILIES[family(metric)][0]


def direction_of(metric: str, default: Direction = "lower") -> Direction:
    known = FAMILIES.get(family(metric))
    return known[1] if known else default


def seconds_per(unit: str) -> float | None:
    """How many seconds one unit of time is; None for a unit that is not a time."""
    scale = UNIT_SCALES.get(unit)
    return scale[1] if scale and scale[0] == "time" else None


def parse_quantity(value: float | str, unit: str) -> float:
    """A quantity in the metric's unit; a number is taken as that unit. ValueError says why."""
    if isinstance(value, int | float):
        return float(value)
    match = QUANTITY.match(value)
    if not match:
        raise ValueError(f"{value!r} is not a number with an optional unit (e.g. '0.5 ms')")
    number, given = float(match.group(1)), match.group(2)
    if not given or given == unit:
        return number
    if given not in UNIT_SCALES:
        raise ValueError(f"unknown unit {given!r} in {value!r} (known: {', '.join(UNIT_SCALES)})")
    if unit not in UNIT_SCALES or UNIT_SCALES[given][0] != UNIT_SCALES[unit][0]:
        raise ValueError(f"{value!r} cannot be converted to {unit}")
    return number * UNIT_SCALES[given][1] / UNIT_SCALES[unit][1]


def is_quantity(value: str) -> bool:
    """Whether a string is a number, or a number and a known unit."""
    match = QUANTITY.match(value)
    return match is not None and (not match.group(2) or match.group(2) in UNIT_SCALES)
