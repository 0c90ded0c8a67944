"""A run's samples grouped by (runtime, workload, metric): how the report reads big runs.

Every reader (the summary, the gate, the history store, export and the report) wants, for
each runtime, workload and metric, the array of its ok values, plus the few rows whose other
columns matter (boot phases, memory, density, failures), not one frame of every sample.
This reads samples.jsonl in slices of a few MB (bench.results.records), keeps from each
slice only those arrays and rows, and drops the parsed dicts before the next: a million
samples never become a million live dicts (1.5 GB, most of the time spent faulting in fresh
memory). It needs numpy only, not pandas (`bench gate` answers in well under a second). The
derived memory.overhead rows come from bench.results.derived.overhead_records.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from dataclasses import dataclass, field, replace
from operator import itemgetter, methodcaller
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bench.results.derived import COLUMNS, overhead_records
from bench.results.records import gc_paused, sample_slices

Values = NDArray[np.float64]
Key = tuple[str, str, str]  # (runtime, workload, metric)
Record = dict[str, Any]
BULK = "syscall."  # the metric family whose rows only matter as values
KEY = itemgetter("runtime", "workload", "metric")
RUNTIME, WORKLOAD, METRIC = (methodcaller("get", c) for c in ("runtime", "workload", "metric"))
VALUE, STATUS = methodcaller("get", "value"), methodcaller("get", "status")
CELL, REPETITION = methodcaller("get", "cell", -1), methodcaller("get", "repetition", -1)


@dataclass(frozen=True)
class Groups:
    values: dict[Key, Values]  # the ok samples of each key, in file order
    instances: dict[Key, Values]  # one figure per instance: the median of its ok samples
    failed: dict[Key, int]  # failed samples per key
    units: dict[str, str]  # metric -> unit
    detail: list[Record]  # every row but ok syscall samples (COLUMNS, value a float), in file
    #                       order, then derived rows
    invalid: list[str] = field(default_factory=list)  # the lines that became failed rows, why


@dataclass
class Table:
    """Columns accumulated slice by slice: row keys as small integers, values, status."""

    # a new key gets the next code the first time it is looked up: one hash per row
    index: defaultdict[tuple[Any, Any, Any], int] = field(
        default_factory=lambda: defaultdict(itertools.count().__next__))
    units: dict[int, str] = field(default_factory=dict)
    codes: list[NDArray[np.intp]] = field(default_factory=list)
    values: list[Values] = field(default_factory=list)
    ok: list[NDArray[np.bool_]] = field(default_factory=list)
    instances: list[NDArray[np.int64]] = field(default_factory=list)  # (cell, repetition)
    detail: list[Record] = field(default_factory=list)

    def add(self, records: list[Record]) -> None:
        codes = self.encode(records)
        ok: NDArray[np.bool_] = np.array(list(map(STATUS, records)), dtype=object) == "ok"
        self.codes.append(codes)
        self.values.append(np.array(list(map(VALUE, records)), dtype=float))
        self.ok.append(ok)
        self.instances.append(instance_ids(records))
        bulk = np.array([key[2] is not None and str(key[2]).startswith(BULK)
                         for key in self.index], dtype=bool)
        self.detail += [records[i] for i in np.flatnonzero(~bulk[codes] | ~ok)]
        for code, first in zip(*np.unique(codes, return_index=True), strict=True):
            self.units.setdefault(int(code), str(records[first].get("unit") or ""))

    def encode(self, records: list[Record]) -> NDArray[np.intp]:
        """Each row's key as a small integer; every loop runs in C."""
        try:
            rows = list(map(KEY, records))
        except KeyError:  # a hand-made file without some column: slower, keeps the row
            rows = list(zip(map(RUNTIME, records), map(WORKLOAD, records), map(METRIC, records),
                            strict=True))
        return np.fromiter(map(self.index.__getitem__, rows), dtype=np.intp, count=len(rows))

    def groups(self) -> Groups:
        codes: NDArray[np.intp] = np.concatenate([np.empty(0, np.intp), *self.codes])
        values: Values = np.concatenate([np.empty(0, float), *self.values])
        ok: NDArray[np.bool_] = np.concatenate([np.empty(0, bool), *self.ok])
        ids = np.concatenate([np.empty((0, 2), np.int64), *self.instances])
        per_instance = instance_medians(codes, ids, values, ok)
        order = np.argsort(codes, kind="stable")
        ends = np.cumsum(np.bincount(codes, minlength=len(self.index)))
        grouped: dict[Key, Values] = {}
        medians: dict[Key, Values] = {}
        failed: dict[Key, int] = {}
        units: dict[str, str] = {}
        for code, row in enumerate(self.index):
            if None in row:
                continue  # a key column is missing: dropped, as pandas' groupby does
            key = (str(row[0]), str(row[1]), str(row[2]))
            rows = order[ends[code - 1] if code else 0:ends[code]]
            good = values[rows[ok[rows]]]
            good = good[~np.isnan(good)]
            if len(good):
                grouped[key] = good
                medians[key] = per_instance[code]
            if len(good) < len(rows):
                failed[key] = int((~ok[rows]).sum())
            units.setdefault(key[2], self.units[code])
        return Groups(grouped, medians, failed, units, [detail_row(r) for r in self.detail])


def instance_ids(records: list[Record]) -> NDArray[np.int64]:
    """Each row's instance as (cell, repetition); a hand-made file without cells has -1s."""
    cells = [-1 if c is None else c for c in map(CELL, records)]
    repetitions = [-1 if r is None else r for r in map(REPETITION, records)]
    return np.array([cells, repetitions], dtype=np.int64).T.reshape(-1, 2)


def detail_row(record: Record) -> Record:
    """A record with every column, its value a float (NaN where it has none)."""
    row = {column: record.get(column) for column in COLUMNS}
    row["value"] = math.nan if row["value"] is None else float(row["value"])
    return row


def instance_medians(codes: NDArray[np.intp], ids: NDArray[np.int64], values: Values,
                     ok: NDArray[np.bool_]) -> dict[int, Values]:
    """Per key code, the median of each instance's ok, non-NaN samples, in instance order.
    One sort by (code, cell, repetition, value); each instance's median is then read from
    the middle of its run (the mean of the two middle values when it has an even count)."""
    good = ok & ~np.isnan(values)
    codes, cells, reps, values = codes[good], ids[good, 0], ids[good, 1], values[good]
    if not len(values):
        return {}
    order = np.lexsort((values, reps, cells, codes))
    codes, cells, reps, values = codes[order], cells[order], reps[order], values[order]
    new = np.ones(len(values), dtype=bool)
    new[1:] = (codes[1:] != codes[:-1]) | (cells[1:] != cells[:-1]) | (reps[1:] != reps[:-1])
    starts = np.flatnonzero(new)
    sizes = np.diff(np.append(starts, len(values)))
    medians = (values[starts + (sizes - 1) // 2] + values[starts + sizes // 2]) / 2
    owners = codes[starts]
    bounds = np.flatnonzero(np.r_[True, owners[1:] != owners[:-1]])
    return {int(owners[start]): part for start, part in
            zip(bounds, np.split(medians, bounds[1:]), strict=True)}


def load_groups(path: Path, baseline: str | None) -> Groups:
    """The samples of a results directory, grouped, with memory.overhead derived against the
    baseline runtime (the manifest's, which the caller has read: bench.results.run). A line
    that breaks a rule is one failed row of its own (bench.results.records)."""
    table = Table()
    invalid: list[str] = []
    with gc_paused():  # each slice's dicts die young, unwalked by the collector
        for part in sample_slices(path):
            table.add(part.records)
            invalid += part.invalid
    return replace(with_overhead(table.groups(), baseline), invalid=invalid)


def with_overhead(groups: Groups, baseline: str | None) -> Groups:
    """memory.overhead rows derived from the memory rows: one value per instance already."""
    derived = overhead_records(groups.detail, baseline)
    if not derived:
        return groups
    values, instances = dict(groups.values), dict(groups.instances)
    by_row: dict[tuple[str, str], list[Record]] = {}
    for row in derived:  # in (runtime, workload, cell, repetition) order
        by_row.setdefault((str(row["runtime"]), str(row["workload"])), []).append(row)
    for (runtime, workload), rows in by_row.items():
        key = (runtime, workload, "memory.overhead")
        values[key] = instances[key] = np.array([row["value"] for row in rows], dtype=float)
    return Groups(values, instances, groups.failed, {**groups.units, "memory.overhead": "bytes"},
                  [*groups.detail, *derived], groups.invalid)
