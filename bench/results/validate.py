"""What a sample or cell record may hold: one set of rules, applied when a sample is written
and when it is read.

A results file is input: a negative time, an Infinity, a `true` or a string where a number
belongs, or a line written twice would otherwise become data (n doubles, a median moves,
`summary --json` prints Infinity, which is not JSON). The rules are record_problem's: the
writer (bench.results.writer) turns a sample that breaks one into a failed sample with the
reason, so its cell fails and the run goes on; a reader turns a line that breaks one into a
failed row with the reason and the line's number, so one bad line never costs the rest of
the directory (bench.results.records).

sample_problems runs the rules over columns first (every field pulled out in one pass, in
C; each field's distinct values checked once), so a million good records cost a fraction
of their parse, and calls record_problem only for the records a column check suspects.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from operator import itemgetter
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bench.results.units import FAMILIES, family_unit, known_unit, sign_of

STATUSES = frozenset({"ok", "failed"})
DIRECTIONS = frozenset({"lower", "higher"})
MAX_MAGNITUDE = 2.0**63  # no counter the kernel keeps goes past this; sums stay finite
MAX_NAME = 200
MAX_INDEX = 2**31 - 1  # cells and repetitions: far more than any plan (bench.config bounds it)
# the fields of a sample (bench.results.sample.Sample); one that is absent reads as null
FIELDS = frozenset({"runtime", "workload", "metric", "unit", "value", "repetition", "status",
                    "cell", "phase", "reason", "metadata", "direction"})
# a row that cannot say which runtime, workload or metric it was
UNREADABLE = "(unreadable)"
FAILED_METRIC = "cell"
Record = dict[str, Any]
Problems = dict[int, str]  # index of a record -> what is wrong with it


def printable(text: Any) -> bool:
    return isinstance(text, str) and text.isprintable() and 0 < len(text) <= MAX_NAME


def shown(value: Any) -> str:
    return "nothing" if value is None else repr(value)[:60]


def is_index(value: Any, low: int) -> bool:
    return type(value) is int and low <= value <= MAX_INDEX


def unit_problem(metric: str, unit: Any) -> str | None:
    expected = family_unit(metric)
    if unit == expected or (expected is None and isinstance(unit, str) and known_unit(unit)):
        return None
    wanted = repr(expected) if expected else "a known unit (docs/results-validation.md)"
    return f"unit of {metric} must be {wanted} (got {shown(unit)})"


def value_problem(metric: str, value: Any) -> str | None:
    """What is wrong with an ok sample's value: it must be a number (not a boolean), finite,
    of magnitude under 2**63, and of the sign bench.results.units.SIGNS gives the metric."""
    if type(value) not in (int, float):
        return f"{metric} must be a number (got {shown(value)})"
    number = float(value) if abs(value) < MAX_MAGNITUDE else math.inf
    if not math.isfinite(number):
        return f"{metric} must be a finite number of magnitude under 2**63 (got {shown(value)})"
    sign = sign_of(metric)
    if sign == "non-negative" and number < 0:
        return f"{metric} cannot be negative (got {shown(value)})"
    if sign == "positive" and number <= 0:
        return f"{metric} must be positive (got {shown(value)})"
    return None


def key_problem(runtime: Any, workload: Any, metric: Any, unit: Any, phase: Any, status: Any,
                direction: Any) -> str | None:
    """The fields that name a sample: printable names, a known status, a known unit."""
    for name, value in (("runtime", runtime), ("workload", workload), ("metric", metric)):
        if not printable(value):
            return f"{name} must be a printable name of at most {MAX_NAME} characters " \
                   f"(got {shown(value)})"
    if phase is not None and not printable(phase):
        return f"phase must be null or a printable name (got {shown(phase)})"
    if not isinstance(status, str) or status not in STATUSES:
        return f"status must be ok or failed (got {shown(status)})"
    if direction is not None and (not isinstance(direction, str) or direction not in DIRECTIONS):
        return f"direction must be lower or higher (got {shown(direction)})"
    return unit_problem(metric, unit)


def record_problem(record: Any) -> str | None:
    """The rules, for one record: None when it may be written and read as data."""
    if type(record) is not dict:
        return "not a JSON object"
    unknown = sorted(set(record) - FIELDS)
    if unknown:
        return f"unknown field {unknown[0][:40]!r}"
    get = record.get
    problem = key_problem(get("runtime"), get("workload"), get("metric"), get("unit"),
                          get("phase"), get("status"), get("direction"))
    if problem:
        return problem
    if not is_index(get("cell"), -1):
        return f"cell must be an integer from -1 to {MAX_INDEX} (got {shown(get('cell'))})"
    if not is_index(get("repetition"), -MAX_INDEX):
        return f"repetition must be an integer from {-MAX_INDEX} to {MAX_INDEX} " \
               f"(got {shown(get('repetition'))})"
    if type(get("metadata")) not in (dict, type(None)):
        return "metadata must be an object"
    if get("status") == "ok":
        return value_problem(str(get("metric")), get("value"))
    if get("value") is not None:
        return f"a failed sample has no value (got {shown(get('value'))})"
    if not isinstance(get("reason"), str):
        return "a failed sample needs its reason (a string)"
    return None


def sample_problems(records: Sequence[Any]) -> Problems:
    """Every record that breaks a rule, with the rule (record_problem), found over columns:
    the records a column check suspects are then checked one by one."""
    suspects = Suspects(records).found()
    found = {index: record_problem(records[index]) for index in sorted(suspects)}
    return {index: problem for index, problem in found.items() if problem is not None}


KEY_NAMES = ("runtime", "workload", "metric", "unit", "phase", "status", "direction")
COLUMNS = (*KEY_NAMES, "cell", "repetition", "value", "reason", "metadata")  # = FIELDS


class Suspects:
    """The column checks: which records may break a rule. Each check is cheap where every
    record passes it (a set, a min and a max, a numpy mask) and finds its rows only when
    some record fails it."""

    def __init__(self, records: Sequence[Any]) -> None:
        self.records = records
        self.rows: set[int] = set()
        self.cols: dict[str, Sequence[Any]] = {}

    def found(self) -> set[int]:
        records = self.records
        if not records:
            return set()
        if not all(type(record) is dict for record in records) or not self.fields_known():
            return set(range(len(records)))  # rare: check every record one by one
        self.keys()
        for name, low in (("cell", -1), ("repetition", -MAX_INDEX)):
            self.indexes(name, low)
        self.values()
        if not set(map(type, self.cols["metadata"])) <= {dict, type(None)}:
            self.rows.update(i for i, m in enumerate(self.cols["metadata"])
                             if type(m) not in (dict, type(None)))
        return self.rows

    def fields_known(self) -> bool:
        """No record has a field a sample has not; every field pulled out in one pass (in C)
        when every record has every field, as the store writes them."""
        try:
            rows = list(map(itemgetter(*COLUMNS), self.records))
        except KeyError:  # a field left out (an older or hand-made file): one pass per field
            self.cols = {name: [r.get(name) for r in self.records] for name in COLUMNS}
            return all(FIELDS.issuperset(order) for order in set(map(tuple, self.records)))
        self.cols = dict(zip(COLUMNS, zip(*rows, strict=True), strict=True))
        return set(map(len, self.records)) == {len(COLUMNS)}  # those fields and no others

    def keys(self) -> None:
        keys = list(zip(*(self.cols[name] for name in KEY_NAMES), strict=True))
        try:
            bad = {key for key in set(keys) if key_problem(*key) is not None}
        except TypeError:  # a field that is a list or an object
            self.rows.update(range(len(keys)))
            return
        if bad:
            self.rows.update(i for i, key in enumerate(keys) if key in bad)

    def indexes(self, name: str, low: int) -> None:
        values = self.cols[name]
        if set(map(type, values)) <= {int} and low <= min(values) and max(values) <= MAX_INDEX:
            return
        self.rows.update(i for i, value in enumerate(values) if not is_index(value, low))

    def values(self) -> None:
        """ok samples: finite numbers of sane magnitude and sign; failed ones: no value and a
        reason."""
        values, statuses = list(self.cols["value"]), self.cols["status"]
        if not set(map(type, values)) <= {int, float, type(None)}:
            self.rows.update(i for i, v in enumerate(values) if type(v) not in (int, float, type(None)))
            values = [v if type(v) in (int, float) else None for v in values]
        numbers = as_floats(values)
        ok: NDArray[np.bool_] = np.fromiter(map("ok".__eq__, statuses), dtype=bool,
                                            count=len(statuses))
        bad = (ok & ~(np.isfinite(numbers) & (np.abs(numbers) < MAX_MAGNITUDE))) | \
            (~ok & ~np.isnan(numbers))
        bad |= ok & wrong_sign(self.cols["metric"], numbers)
        self.rows.update(map(int, np.flatnonzero(bad)))
        reasons = self.cols["reason"]
        self.rows.update(i for i in map(int, np.flatnonzero(~ok)) if not isinstance(reasons[i], str))


def as_floats(values: list[Any]) -> NDArray[np.float64]:
    """The values as floats (null as NaN); an integer past any float is infinite."""
    try:
        return np.array(values, dtype=float)
    except OverflowError:  # the json module keeps a huge integer whole
        return np.array([v if v is None or abs(v) < MAX_MAGNITUDE else math.inf for v in values],
                        dtype=float)


def wrong_sign(metrics: Sequence[Any], numbers: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Rows whose value has a sign its metric does not allow (bench.results.units.SIGNS)."""
    negative, zero = numbers < 0, numbers == 0
    if not negative.any() and not zero.any():
        return negative
    signs: dict[str, str] = {}

    def sign(metric: Any) -> str:
        if not isinstance(metric, str):
            return "non-negative"
        return signs.setdefault(metric, sign_of(metric))

    found = [sign(m) for m in metrics]
    signed = np.fromiter((s == "signed" for s in found), dtype=bool, count=len(found))
    positive = np.fromiter((s == "positive" for s in found), dtype=bool, count=len(found))
    result: NDArray[np.bool_] = (negative & ~signed) | (positive & zero)
    return result


def distinct(values: Sequence[Any]) -> Iterable[Any]:
    """The values once each, or all of them when some cannot be hashed (a list, an object)."""
    try:
        return set(values)
    except TypeError:
        return values


def failed_record(record: Any, reason: str) -> Record:
    """A record that breaks a rule, as the failed row it becomes: its runtime, workload and
    metric where they are readable (else UNREADABLE, and the metric `cell`), no value, the
    reason, and its direction where it had a valid one. It passes every rule itself."""
    fields: dict[str, Any] = record if type(record) is dict else {}
    runtime, workload, metric = (str(fields[name]) if printable(fields.get(name)) else UNREADABLE
                                 for name in ("runtime", "workload", "metric"))
    unit = fields.get("unit")
    if metric == UNREADABLE or unit_problem(metric, unit) is not None:
        unit = family_unit(metric) if metric != UNREADABLE else None
        metric, unit = (metric, unit) if unit else (FAILED_METRIC, FAMILIES[FAILED_METRIC][0])
    cell, repetition = fields.get("cell"), fields.get("repetition")
    row: Record = {"runtime": runtime, "workload": workload, "metric": metric, "value": None,
                   "repetition": repetition if is_index(repetition, -MAX_INDEX) else -1,
                   "unit": unit, "phase": None, "status": "failed", "reason": reason,
                   "cell": cell if is_index(cell, -1) else -1, "metadata": {}}
    direction = fields.get("direction")
    if metric == fields.get("metric") and isinstance(direction, str) and direction in DIRECTIONS:
        row["direction"] = direction  # which way the metric is better, as its writer said
    return row


def cell_problems(records: Sequence[Any]) -> Problems:
    """The cell records --resume and the noise notes read: an object with an index, a key,
    a status."""
    problems: Problems = {}
    for index, record in enumerate(records):
        if type(record) is not dict:
            problems[index] = "not a JSON object"
        elif not is_index(record.get("cell"), 0):
            problems[index] = f"cell must be an integer from 0 (got {shown(record.get('cell'))})"
        elif not printable(record.get("key")):
            problems[index] = f"key must be a printable name (got {shown(record.get('key'))})"
        elif record.get("status") not in STATUSES:
            problems[index] = f"status must be ok or failed (got {shown(record.get('status'))})"
    return problems


def repeated_lines(data: bytes) -> dict[int, int]:
    """Lines (0-based) that repeat an earlier line, with the earlier one's number (1-based).

    A real run never writes two identical lines (batches carry their index, phases and
    metrics differ), so an exact copy is corruption or a bad merge, and would count twice.
    Blank lines are no copies.
    """
    lines = data.split(b"\n")
    if b"\r" in data:
        lines = [line.rstrip(b"\r") for line in lines]
    if len(set(lines)) + max(lines.count(b"") - 1, 0) == len(lines):
        return {}  # no line twice (blank ones aside): the common case, in C
    seen: dict[bytes, int] = {}
    copies: dict[int, int] = {}
    for index, line in enumerate(lines):
        if line.strip() and line in seen:
            copies[index] = seen[line]
        seen.setdefault(line, index + 1)
    return copies
