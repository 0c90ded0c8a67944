"""Numbers for people: the one format every figure bench shows is written in.

The terminal summary, the report, the gate's tables and comments, `bench verify` and the
trend page all call these functions, so a figure reads the same wherever it appears
(docs/numbers.md):

- three significant digits, never scientific notation: 1.23 ms, 45.6 MiB, 3,560x;
- the unit scaled to the value: ns, µs, ms, s; B, KiB, MiB, GiB; B/s to GiB/s; bit/s to
  Gbit/s; k and M before a count per second (67.0 k req/s, 12.3 k IOPS);
- an interval in one unit, the larger end's: [0.990, 1.02] ms;
- a ratio with an x: 1.52x [1.48, 1.57]; a relative change in percent with one decimal:
  +1.2% [-0.5, +2.9]; a p-value with two significant digits, <0.0001 below that.

Only what people read goes through here: the summary's JSON, the results files and the
history store keep raw values. Charts use `display_scale` to draw in the same units.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

DASH = "\u2013"  # no value
DIGITS = 3
P_FLOOR = 1e-4

# unit as a metric carries it -> the dimension it belongs to and its size in the base unit
Scale = tuple[tuple[str, float], ...]  # (display unit, size in the base unit), ascending
TIME: Scale = (("ns", 1e-9), ("\u00b5s", 1e-6), ("ms", 1e-3), ("s", 1.0))
BYTES: Scale = (("B", 1.0), ("KiB", 1024.0), ("MiB", 1024.0**2), ("GiB", 1024.0**3),
                ("TiB", 1024.0**4))
BYTE_RATE: Scale = tuple((f"{name}/s", size) for name, size in BYTES)
BITS: Scale = (("bit/s", 1.0), ("kbit/s", 1e3), ("Mbit/s", 1e6), ("Gbit/s", 1e9))
SCALES: dict[str, tuple[Scale, float]] = {
    "ns": (TIME, 1e-9), "us": (TIME, 1e-6), "\u00b5s": (TIME, 1e-6), "ms": (TIME, 1e-3),
    "s": (TIME, 1.0),
    "B": (BYTES, 1.0), "bytes": (BYTES, 1.0), "KiB": (BYTES, 1024.0),
    "MiB": (BYTES, 1024.0**2), "GiB": (BYTES, 1024.0**3),
    "B/s": (BYTE_RATE, 1.0), "bytes/s": (BYTE_RATE, 1.0), "KiB/s": (BYTE_RATE, 1024.0),
    "MiB/s": (BYTE_RATE, 1024.0**2), "GiB/s": (BYTE_RATE, 1024.0**3),
    "bit/s": (BITS, 1.0), "bits/s": (BITS, 1.0), "Mbit/s": (BITS, 1e6), "Gbit/s": (BITS, 1e9),
}
COUNT_PREFIXES = (("", 1.0), ("k ", 1e3), ("M ", 1e6), ("G ", 1e9))
PLAIN_UNITS = frozenset({"", "ratio", "count", "cell"})  # a bare number (count: no k, M)
WHOLE_UNITS = frozenset({"count", "cell"})  # a whole number of them is written whole: 16 count


@dataclass(frozen=True)
class Display:
    """How a set of values is shown: divide by `divisor`, write `unit` after the number."""

    divisor: float
    unit: str

    def text(self, number: float) -> str:
        """A number already divided by the divisor, with the unit."""
        return f"{significant(number)} {self.unit}".rstrip()


def significant(value: float, digits: int = DIGITS) -> str:
    """VALUE to DIGITS significant digits in positional notation: 0.00123, 1.50, 12.3, 3,560."""
    if not math.isfinite(value):
        return "\u221e" if value > 0 else "-\u221e" if value < 0 else DASH
    if value == 0:
        return "0"
    rounded = float(f"{value:.{digits - 1}e}")  # rounding first: 999.7 becomes 1000
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(rounded))))
    return f"{rounded:,.{decimals}f}"


def rounds_below(value: float, limit: float) -> bool:
    """Whether |VALUE|, rounded to three significant digits, stays under LIMIT."""
    return value == 0 or abs(float(f"{value:.{DIGITS - 1}e}")) < limit


def scaled_units(unit: str) -> tuple[Scale, float] | None:
    """The unit's ladder (ns..s, B..TiB, ...) and its size on it; None for other units."""
    if unit in SCALES:
        return SCALES[unit]
    if is_count_rate(unit):
        return tuple((f"{prefix}{unit}", size) for prefix, size in COUNT_PREFIXES), 1.0
    return None


def is_count_rate(unit: str) -> bool:
    """Events, requests or operations per second, IOPS: they take k and M."""
    return unit not in PLAIN_UNITS and (unit.endswith("/s") or unit == "IOPS")


def display(magnitude: float, unit: str) -> Display:
    """The display unit for values of about MAGNITUDE (in UNIT): the largest step of the
    unit's ladder the value reaches, one step up when rounding makes it 1000 of that step."""
    found = scaled_units(unit)
    if found is None:
        return Display(1.0, "" if unit in {"", "ratio"} else unit)
    ladder, size = found
    base = abs(magnitude) * size
    if base == 0:  # zero in the unit's own step: 0 ms, 0 B
        return Display(1.0, next((name for name, step in ladder if step == size), ladder[0][0]))
    index = max([0] + [i for i, (_, step) in enumerate(ladder) if base >= step])
    if index + 1 < len(ladder) and not rounds_below(base / ladder[index][1], 1000):
        index += 1
    name, step = ladder[index]
    return Display(step / size, name)


def display_scale(values: list[float], unit: str) -> Display:
    """One display unit for a chart's values: the one their largest magnitude takes."""
    finite = [abs(v) for v in values if math.isfinite(v)]
    return display(max(finite, default=0.0), unit)


def format_value(value: float | None, unit: str) -> str:
    """A value for people: 1.23 ms, 3.40 µs, 56.0 MiB, 23.2 MiB/s, 67.0 k req/s; a dash for
    no value."""
    if value is None or math.isnan(value):
        return DASH
    if unit in WHOLE_UNITS and float(value).is_integer():
        return f"{int(value):,} {unit}"
    shown = display(value, unit)
    return shown.text(value / shown.divisor)


def format_interval(low: float | None, high: float | None, unit: str) -> str:
    """An interval in one unit, the larger end's: [0.990, 1.02] ms; a dash without one."""
    if low is None or high is None or math.isnan(low) or math.isnan(high):
        return DASH
    shown = display(max(abs(low), abs(high)), unit)
    bounds = f"[{significant(low / shown.divisor)}, {significant(high / shown.divisor)}]"
    return f"{bounds} {shown.unit}".rstrip()


def format_ratio(point: float | None) -> str:
    """A ratio: 1.52x, 0.990x, 3,560x."""
    return DASH if point is None or math.isnan(point) else f"{significant(point)}x"


def format_ratio_interval(point: float, low: float | None, high: float | None) -> str:
    """A ratio and its interval: 1.52x [1.48, 1.57]; the ratio alone without one."""
    if low is None or high is None:
        return format_ratio(point)
    return f"{format_ratio(point)} [{significant(low)}, {significant(high)}]"


def format_percent(fraction: float, signed: bool = True) -> str:
    """A relative figure in percent with one decimal: 0.012 is +1.2% (50% without a sign)."""
    if math.isnan(fraction):
        return DASH
    number = f"{100 * fraction:{'+' if signed else ''},.1f}"
    return f"{'+0.0' if signed and number == '-0.0' else number}%"


def format_change(point: float, low: float | None, high: float | None) -> str:
    """A relative change and its interval: +1.2% [-0.5, +2.9] (0.012 is +1.2 %)."""
    if low is None or high is None:
        return format_percent(point)
    return (f"{format_percent(point)} [{format_percent(low).rstrip('%')}, "
            f"{format_percent(high).rstrip('%')}]")


def format_p(p_value: float | None) -> str:
    """A p-value: two significant digits, <0.0001 below that; a dash for none."""
    if p_value is None or math.isnan(p_value):
        return "-"
    if p_value < P_FLOOR:
        return f"<{significant(P_FLOOR, 1)}"
    return significant(p_value, 2)
