"""What a sample or cell record may hold: every reader checks this before using a value.

A results file is input: a negative time, an Infinity, a `true` or a string where a
number belongs, or a line written twice would otherwise become data (n doubles, a median
moves, `summary --json` prints Infinity, which is not JSON). Each is refused as one
ResultsError naming the file and line. The checks run over columns of a million records
in a fraction of a second: each field's distinct values are checked once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from operator import methodcaller
from pathlib import Path
from typing import Any

import numpy as np

from bench.errors import ResultsError
from bench.results.units import FAMILIES, UNIT_SCALES, family

STATUSES = frozenset({"ok", "failed"})
# units a sample may carry besides the families' and the scales' (workload and density metrics)
OTHER_UNITS = frozenset({"count", "ratio", "percent", "%", "IOPS", "iops", "cell"})
RATE_SUFFIX = "/s"  # events/s, MiB/s, requests/s, bits/s: any word per second
# metrics that are differences, so a negative value is a reading, not corruption
SIGNED_METRICS = frozenset({"memory.overhead", "density.mem_available_per_instance"})
MAX_MAGNITUDE = 2.0**63  # no counter the kernel keeps goes past this; sums stay finite
MAX_NAME = 200
MAX_INDEX = 2**31 - 1  # cells and repetitions: far more than any plan (bench.config bounds it)
Records = list[dict[str, Any]]


def fail(file: Path, index: int | None, problem: str, first_line: int = 1) -> ResultsError:
    where = f"line {first_line + index}: " if index is not None else ""
    return ResultsError(f"{file}: {where}{problem}")


def column(records: Records, name: str) -> list[Any]:
    return list(map(methodcaller("get", name), records))


def first_index(values: Iterable[Any], bad: Callable[[Any], bool]) -> int:
    return next(i for i, value in enumerate(values) if bad(value))


def distinct(values: list[Any]) -> Iterable[Any]:
    """The values once each, or all of them when some cannot be hashed (a list, an object)."""
    try:
        return set(values)
    except TypeError:
        return values


def check_status(records: Records, file: Path, first_line: int) -> list[Any]:
    statuses = column(records, "status")
    if not all(isinstance(s, str) and s in STATUSES for s in distinct(statuses)):
        index = first_index(statuses, lambda s: not isinstance(s, str) or s not in STATUSES)
        raise fail(file, index, f"status must be ok or failed (got {statuses[index]!r})"[:120],
                   first_line)
    return statuses


def printable(text: str) -> bool:
    return text.isprintable() and 0 < len(text) <= MAX_NAME


def known_unit(unit: str) -> bool:
    """A unit bench writes: a family's, a scale's, a count or ratio, or a rate (X/s)."""
    if unit in UNIT_SCALES or unit in OTHER_UNITS or any(unit == f[0] for f in FAMILIES.values()):
        return True
    word = unit.removesuffix(RATE_SUFFIX)
    return unit.endswith(RATE_SUFFIX) and 0 < len(word) <= 16 and word.isalpha()


def check_strings(records: Records, file: Path, first_line: int, names: tuple[str, ...],
                  optional: bool = False) -> None:
    """Each field a printable string of bounded length (when optional, null or absent too)."""
    def good(value: Any) -> bool:
        return (isinstance(value, str) and printable(value)) or (optional and value is None)

    for name in names:
        values = column(records, name)
        if all(map(good, distinct(values))):
            continue
        index = first_index(values, lambda v: not good(v))
        shown = "nothing" if values[index] is None else repr(values[index])[:60]
        raise fail(file, index, f"{name} must be a printable name of at most {MAX_NAME} "
                   f"characters (got {shown})", first_line)


def check_integers(records: Records, file: Path, first_line: int, names: tuple[str, ...],
                   low: int, high: int = MAX_INDEX) -> None:
    """Each field an integer (not a boolean) from `low` to `high`."""
    for name in names:
        values = column(records, name)
        if {type(v) for v in values} <= {int} and (not values or low <= min(values)
                                                   and max(values) <= high):
            continue
        index = first_index(values, lambda v: type(v) is not int or not low <= v <= high)
        raise fail(file, index, f"{name} must be an integer from {low} to {high} "
                   f"(got {values[index]!r})"[:120], first_line)


def check_units(records: Records, file: Path, first_line: int) -> None:
    """A known unit, and the family's own unit for the families that have one."""
    metrics, units = column(records, "metric"), column(records, "unit")
    for metric, unit in set(zip(metrics, units, strict=True)):
        expected = FAMILIES.get(family(metric), (None,))[0]
        if (expected is None and isinstance(unit, str) and known_unit(unit)) or unit == expected:
            continue
        index = first_index(zip(metrics, units, strict=True),
                            lambda pair, key=(metric, unit): pair == key)  # type: ignore[misc]
        wanted = f"{expected!r}" if expected else "a known unit"
        raise fail(file, index, f"unit of {metric} must be {wanted} (got {unit!r})", first_line)


def check_values(records: Records, file: Path, first_line: int) -> None:
    """ok samples carry a finite number (not a boolean) of sane magnitude, never negative
    where the metric is not a difference; failed samples carry none and say why."""
    values = column(records, "value")
    if not {type(v) for v in values} <= {int, float, type(None)}:
        index = first_index(values, lambda v: type(v) not in (int, float, type(None)))
        raise fail(file, index, f"value must be a number or null (got {values[index]!r})"[:120],
                   first_line)
    statuses = check_status(records, file, first_line)
    ok = np.array(statuses, dtype=object) == "ok"
    try:
        numbers = np.array([math.nan if v is None else v for v in values], dtype=float)
    except OverflowError:  # an integer past any float: the json module keeps it whole
        numbers = np.array([math.nan if v is None else float(v) if abs(v) < MAX_MAGNITUDE
                            else math.inf for v in values], dtype=float)
    sane = np.isfinite(numbers) & (np.abs(numbers) < MAX_MAGNITUDE)
    bad = (ok & ~sane) | (~ok & ~np.isnan(numbers))
    metrics = column(records, "metric")
    for negative in np.flatnonzero(ok & sane & (numbers < 0)):
        bad[negative] = metrics[negative] not in SIGNED_METRICS
    if bad.any():
        index = int(np.flatnonzero(bad)[0])
        problem = (f"{metrics[index]} needs a finite value of magnitude under 2**63"
                   f"{'' if metrics[index] in SIGNED_METRICS else ', not negative'}"
                   if ok[index] else "a failed sample has no value")
        raise fail(file, index, f"{problem} (got {values[index]!r})", first_line)
    reasons = column(records, "reason")
    missing = [i for i in np.flatnonzero(~ok) if not isinstance(reasons[i], str)]
    if missing:
        raise fail(file, int(missing[0]), "a failed sample needs its reason (a string)", first_line)


def check_samples(records: Records, file: Path, first_line: int = 1) -> None:
    """Every field of every sample record, or one ResultsError naming the first bad line."""
    if not records:
        return
    check_strings(records, file, first_line, ("runtime", "workload", "metric", "unit"))
    check_strings(records, file, first_line, ("phase",), optional=True)
    check_integers(records, file, first_line, ("cell",), low=-1)
    check_integers(records, file, first_line, ("repetition",), low=-MAX_INDEX)
    check_units(records, file, first_line)
    check_values(records, file, first_line)
    metadata = column(records, "metadata")
    if not {type(m) for m in metadata} <= {dict, type(None)}:
        index = first_index(metadata, lambda m: type(m) not in (dict, type(None)))
        raise fail(file, index, "metadata must be an object", first_line)


def check_cells(records: Records, file: Path) -> None:
    """The cell records --resume reads: an index, a key, a status and, when failed, a reason."""
    if not records:
        return
    check_integers(records, file, 1, ("cell",), low=0)
    check_strings(records, file, 1, ("key",))
    check_status(records, file, 1)


def refuse_duplicate_lines(data: bytes, file: Path) -> None:
    """A line written twice would count twice (n doubles): refused, naming the second copy.

    A real run never writes two identical lines (batches carry their index, phases and
    metrics differ), so an exact copy is corruption or a bad merge.
    """
    lines = [line.rstrip(b"\r") for line in data.split(b"\n") if line.strip()]
    if len(set(lines)) == len(lines):
        return
    seen: set[bytes] = set()
    for number, line in enumerate(lines, 1):
        if line in seen:
            first = lines.index(line) + 1
            raise ResultsError(f"{file}: line {number} repeats line {first}: a sample recorded "
                               "twice would count twice; remove the copy")
        seen.add(line)
