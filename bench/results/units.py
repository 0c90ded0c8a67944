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

# metric family -> (unit, direction); workload.*, density.* and storm.* carry their own unit,
# and a workload metric or storm.throughput its direction too (higher is better)
FAMILIES: dict[str, tuple[str, Direction]] = {
    "boot": ("ms", "lower"), "stop": ("ms", "lower"), "memory": ("bytes", "lower"),
    "syscall": ("ns", "lower"), "cell": ("cell", "lower"), "cpu": ("ratio", "lower"),
    "start": ("ms", "lower"), "pull": ("ms", "lower"),
}

# unit -> (dimension, factor to the dimension's base unit)
UNIT_SCALES: dict[str, tuple[str, float]] = {
    "ns": ("time", 1e-9), "us": ("time", 1e-6), "µs": ("time", 1e-6), "ms": ("time", 1e-3),
    "s": ("time", 1.0), "B": ("bytes", 1.0), "bytes": ("bytes", 1.0), "KiB": ("bytes", 1024.0),
    "MiB": ("bytes", 1024.0**2), "GiB": ("bytes", 1024.0**3), "kB": ("bytes", 1e3),
    "MB": ("bytes", 1e6), "GB": ("bytes", 1e9)}
QUANTITY = re.compile(r"^\s*([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([A-Za-zµ]*)\s*$")

# Every unit a sample may carry besides the families' and the scales': what the parsers
# give (bench.workload.parsers), what density and the runner give, and what a declared
# metric may say. Any word per second (ops/s, bogo-ops/s: letters and hyphens) is a rate.
OTHER_UNITS: dict[str, str] = {
    "count": "a number of things", "ratio": "one quantity over another", "percent": "%",
    "%": "percent", "cell": "a failed cell's row", "IOPS": "I/O operations per second (fio)",
    "iops": "I/O operations per second", "B/s": "bytes per second (fio)",
    "MiB/s": "mebibytes per second (sysbench memory)", "events/s": "sysbench cpu's events",
    "bogo-ops/s": "stress-ng's bogo operations per second", "bit/s": "bits per second (iperf3)",
    "req/s": "requests per second (redis-benchmark)"}
RATE = re.compile(r"[A-Za-z][A-Za-z-]{0,15}/s")

# Which values a metric may take: every value is a finite number of magnitude under 2**63,
# and not negative, except where this table says otherwise: a difference may be negative;
# a duration of something that certainly takes time must be positive.
Sign = Literal["signed", "non-negative", "positive"]
SIGNS: dict[str, Sign] = {
    "memory.overhead": "signed",  # an instance's cost minus the baseline's: may be below it
    "density.mem_available_per_instance": "signed",  # the host's own use moves too
    "density.kernel_per_instance": "signed", "density.engine_pss_per_instance": "signed",
    "density.host_per_instance": "signed",  # read from the host against references: may fall
    "boot.total": "positive", "start.total": "positive", "workload.duration": "positive",
}


def family(metric: str) -> str:
    return metric.split(".", 1)[0]


def family_unit(metric: str) -> str | None:
    """The unit a metric's family fixes; None for a family whose samples carry their own."""
    known = FAMILIES.get(family(metric))
    return known[0] if known else None


def direction_of(metric: str, default: Direction = "lower") -> Direction:
    known = FAMILIES.get(family(metric))
    return known[1] if known else default


def known_unit(unit: str) -> bool:
    """A unit bench writes or a declared metric may carry: a family's, a scale's, one of
    OTHER_UNITS, or any word per second."""
    return (unit in UNIT_SCALES or unit in OTHER_UNITS or RATE.fullmatch(unit) is not None
            or any(unit == known[0] for known in FAMILIES.values()))


def sign_of(metric: str) -> Sign:
    return SIGNS.get(metric, "non-negative")


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
