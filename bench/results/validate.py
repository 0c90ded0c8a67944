"""What a sample or cell record may hold: every reader checks this before using a value.

A results file is input: a negative time, an Infinity, a `true` or a string where a
number belongs, or a line written twice would otherwise become data (n doubles, a median
moves, `summary --json` prints Infinity, which is not JSON). Each is refused as one
ResultsError naming the file and line. The checks run over columns (every field pulled
out in one pass, in C), and each field's distinct values are checked once, so a million
records cost a fraction of their parse.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from operator import itemgetter, methodcaller
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bench.results.units import FAMILIES, UNIT_SCALES, family
from foundation.errors import ResultsError

STATUSES = frozenset({"ok", "failed"})
# units a sample may carry besides the families' and the scales' (workload and density metrics)
OTHER_UNITS = frozenset({"count", "ratio", "percent", "%", "IOPS", "iops", "cell"})
RATE_SUFFIX = "/s"  # events/s, MiB/s, requests/s, bits/s: any word per second
# metrics that are differences, so a negative value is a reading, not corruption
SIGNED_METRICS = frozenset({"memory.overhead", "density.mem_available_per_instance",
                            "density.kernel_per_instance", "density.engine_pss_per_instance",
                            "density.host_per_instance"})
MAX_MAGNITUDE = 2.0**63  # no counter the kernel keeps goes past this; sums stay finite
MAX_NAME = 200
MAX_INDEX = 2**31 - 1  # cells and repetitions: far more than any plan (bench.config bounds it)
Records = list[dict[str, Any]]
Columns = dict[str, Sequence[Any]]



def fail(file: Path, index: int | None, problem: str, first_line: int = 1) -> ResultsError:
    where = f"line {first_line + index}: " if index is not None else ""
    return ResultsError(f"{file}: {where}{problem}")


def columns(records: Records, names: tuple[str, ...]) -> Columns:
    """Each field's values in record order (None where a record lacks it), in one pass when
    every record has every field."""
    try:
        rows = list(map(itemgetter(*names), records))
    except KeyError:  # a hand-made file without some field: one pass per field
        return {name: list(map(methodcaller("get", name), records)) for name in names}
    transposed = zip(*rows, strict=True)  # every row has len(names) fields
    return dict(zip(names, transposed, strict=True))


def first_index(values: Iterable[Any], bad: Callable[[Any], bool]) -> int:
    return next(i for i, value in enumerate(values) if bad(value))


def distinct(values: Sequence[Any]) -> Iterable[Any]:
    """The values once each, or all of them when some cannot be hashed (a list, an object)."""
    try:
        return set(values)
    except TypeError:
        return values


def printable(text: str) -> bool:
    return text.isprintable() and 0 < len(text) <= MAX_NAME


def known_unit(unit: str) -> bool:
    """A unit bench writes: a family's, a scale's, a count or ratio, or a rate (X/s)."""
    if unit in UNIT_SCALES or unit in OTHER_UNITS or any(unit == f[0] for f in FAMILIES.values()):
        return True
    word = unit.removesuffix(RATE_SUFFIX)
    return unit.endswith(RATE_SUFFIX) and 0 < len(word) <= 16 and word.isalpha()


class Checker:
    """The checks of one batch of records, over their columns; each raises the first problem."""

    def __init__(self, records: Records, file: Path, first_line: int, names: tuple[str, ...]):
        self.file = file
        self.first_line = first_line
        self.cols = columns(records, names)

    def fail(self, index: int, problem: str) -> ResultsError:
        return fail(self.file, index, problem, self.first_line)

    def strings(self, names: tuple[str, ...], optional: bool = False) -> None:
        """Each field a printable string of bounded length (when optional, null or absent too)."""
        def good(value: Any) -> bool:
            return (isinstance(value, str) and printable(value)) or (optional and value is None)

        for name in names:
            values = self.cols[name]
            if all(map(good, distinct(values))):
                continue
            index = first_index(values, lambda v: not good(v))
            shown = "nothing" if values[index] is None else repr(values[index])[:60]
            raise self.fail(index, f"{name} must be a printable name of at most {MAX_NAME} "
                            f"characters (got {shown})")

    def integers(self, name: str, low: int, high: int = MAX_INDEX) -> None:
        """The field an integer (not a boolean) from `low` to `high`."""
        values = self.cols[name]
        if set(map(type, values)) <= {int} and (not values or low <= min(values)
                                                and max(values) <= high):
            return
        index = first_index(values, lambda v: type(v) is not int or not low <= v <= high)
        raise self.fail(index, f"{name} must be an integer from {low} to {high} "
                        f"(got {values[index]!r})"[:120])

    def status(self) -> NDArray[np.bool_]:
        """Each status ok or failed; the mask of ok ones."""
        statuses = self.cols["status"]
        if not all(isinstance(s, str) and s in STATUSES for s in distinct(statuses)):
            index = first_index(statuses, lambda s: not isinstance(s, str) or s not in STATUSES)
            raise self.fail(index, f"status must be ok or failed (got {statuses[index]!r})"[:120])
        return np.fromiter(map("ok".__eq__, statuses), dtype=bool, count=len(statuses))

    def units(self) -> None:
        """A known unit, and the family's own unit for the families that have one."""
        pairs = list(zip(self.cols["metric"], self.cols["unit"], strict=True))
        for metric, unit in set(pairs):
            expected = FAMILIES.get(family(metric), (None,))[0]
            if unit == expected or (expected is None and known_unit(unit)):
                continue
            index = pairs.index((metric, unit))
            wanted = f"{expected!r}" if expected else "a known unit"
            raise self.fail(index, f"unit of {metric} must be {wanted} (got {unit!r})")

    def values(self) -> None:
        """ok samples carry a finite number (not a boolean) of sane magnitude, never negative
        where the metric is not a difference; failed samples carry none and say why."""
        values, metrics = self.cols["value"], self.cols["metric"]
        if not set(map(type, values)) <= {int, float, type(None)}:
            index = first_index(values, lambda v: type(v) not in (int, float, type(None)))
            raise self.fail(index, f"value must be a number or null (got {values[index]!r})"[:120])
        ok = self.status()
        try:
            numbers = np.array(values, dtype=float)  # null becomes NaN
        except OverflowError:  # an integer past any float: the json module keeps it whole
            numbers = np.array([v if v is None or abs(v) < MAX_MAGNITUDE else math.inf
                                for v in values], dtype=float)
        sane = np.isfinite(numbers) & (np.abs(numbers) < MAX_MAGNITUDE)
        bad = (ok & ~sane) | (~ok & ~np.isnan(numbers))
        for negative in np.flatnonzero(ok & sane & (numbers < 0)):
            bad[negative] = metrics[int(negative)] not in SIGNED_METRICS
        if bad.any():
            index = int(np.flatnonzero(bad)[0])
            problem = (f"{metrics[index]} needs a finite value of magnitude under 2**63"
                       f"{'' if metrics[index] in SIGNED_METRICS else ', not negative'}"
                       if ok[index] else "a failed sample has no value")
            raise self.fail(index, f"{problem} (got {values[index]!r})")
        reasons = self.cols["reason"]
        missing = [i for i in map(int, np.flatnonzero(~ok)) if not isinstance(reasons[i], str)]
        if missing:
            raise self.fail(int(missing[0]), "a failed sample needs its reason (a string)")

    def fields(self) -> None:
        """The fields that name and place a sample, record by record."""
        self.strings(("runtime", "workload", "metric", "unit"))
        self.strings(("phase",), optional=True)
        self.integers("cell", low=-1)
        self.integers("repetition", low=-MAX_INDEX)
        self.units()
        self.status()

    def metadata(self) -> None:
        metadata = self.cols["metadata"]
        if not set(map(type, metadata)) <= {dict, type(None)}:
            index = first_index(metadata, lambda m: type(m) not in (dict, type(None)))
            raise self.fail(index, "metadata must be an object")


KEY_FIELDS = ("runtime", "workload", "metric", "unit", "phase", "status", "cell", "repetition")
SAMPLE_FIELDS = (*KEY_FIELDS, "value", "reason", "metadata")


def good_key(key: tuple[Any, ...]) -> bool:
    """Whether one distinct (runtime, workload, metric, unit, phase, status, cell, repetition)
    passes every check of Checker.fields."""
    runtime, workload, metric, unit, phase, status, cell, repetition = key
    names = (runtime, workload, metric, unit)
    if not all(isinstance(n, str) and printable(n) for n in names):
        return False
    expected = FAMILIES.get(family(metric), (None,))[0]
    return ((phase is None or (isinstance(phase, str) and printable(phase)))
            and isinstance(status, str) and status in STATUSES
            and type(cell) is int and -1 <= cell <= MAX_INDEX
            and type(repetition) is int and -MAX_INDEX <= repetition <= MAX_INDEX
            and (unit == expected or (expected is None and known_unit(unit))))


def check_samples(records: Records, file: Path, first_line: int = 1) -> None:
    """Every field of every sample record, or one ResultsError naming the first bad line.

    One pass pulls every field out of the records; the fields that repeat (names, unit,
    status, cell, repetition) are then checked once per distinct combination, and column by
    column only when one fails (to name its line); values and types are checked row by row.
    """
    if not records:
        return
    checker = Checker(records, file, first_line, SAMPLE_FIELDS)
    cols = checker.cols
    try:
        keys = set(zip(*(cols[name] for name in KEY_FIELDS), strict=True))
    except TypeError:  # a field that is a list or an object
        keys = set()
    if not keys or not all(map(good_key, keys)):
        checker.fields()
    checker.integers("cell", low=-1)  # 1, 1.0 and true are one key in a set: check each row
    checker.integers("repetition", low=-MAX_INDEX)
    checker.values()
    checker.metadata()


def check_cells(records: Records, file: Path) -> None:
    """The cell records --resume reads: an index, a key, a status and, when failed, a reason."""
    if not records:
        return
    checker = Checker(records, file, 1, ("cell", "key", "status"))
    checker.integers("cell", low=0)
    checker.strings(("key",))
    checker.status()


def refuse_duplicate_lines(data: bytes, file: Path) -> None:
    """A line written twice would count twice (n doubles): refused, naming the second copy.

    A real run never writes two identical lines (batches carry their index, phases and
    metrics differ), so an exact copy is corruption or a bad merge. Blank lines are the
    parser's to refuse.
    """
    lines = data.split(b"\n")
    if b"\r" in data:
        lines = [line.rstrip(b"\r") for line in lines]
    if len(set(lines)) + max(lines.count(b"") - 1, 0) == len(lines):
        return  # no line twice (blank ones aside): the common case, in C
    seen: dict[bytes, int] = {}
    for number, line in enumerate(lines, 1):
        if line.strip() and line in seen:
            raise ResultsError(f"{file}: line {number} repeats line {seen[line]}: a sample "
                               "recorded twice would count twice; remove the copy")
        seen.setdefault(line, number)
