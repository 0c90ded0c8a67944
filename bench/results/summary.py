"""The summary contract (DESIGN.md): one row per runtime, workload and metric, as scripts,
reports, the gate and the history store read it.

Every figure is over instances (bench.results.run): `n` counts instances, `samples` the
inner samples behind them; `median`, `p90`, `p99` and `mean` are of the per-instance
figures; `ci_low`/`ci_high` is the exact 95 % interval of the median over instances, or null
with `ci_note` saying why; `ratio`/`ratio_low`/`ratio_high` is the row's median over the
run's baseline runtime's (same workload, metric and N), or null with `ratio_note`.

Density rows (one per N, `count`) are ladders: n counts ladders, samples the memory readings
taken at that N. With fewer than six ladders the interval is over the readings, and
`ci_note` says that it shows the host's noise while N ran, not ladder-to-ladder variation.
A memory row whose interval (or, without one, a reading) reaches zero or below cannot be
told from the host's own movement: it is below resolution. It says so instead of giving a
number: `resolved` false, `resolution` the ± X (bytes per instance) it cannot resolve (the
interval's end farthest from zero), median, p90, p99, mean and the interval null, and
`caveat` and `ci_note` "below resolution (± X)". Other density memory rows are `resolved`
true with `resolution` null; rows of other units have both null.

Storm rows (one per N, `count`; bench/storm.py) are over storms: n counts storms (one per
repetition), samples the instances (storm.ready) or the storms; storm.p99's interval is the
interval of the median of the storms' p99s, always over storms.
"""

from __future__ import annotations

import math
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.table import Table

from bench.results.estimates import Ratio, Summary, min_instances, ratio_of_medians, summarize
from bench.results.numbers import format_interval, format_ratio, format_ratio_interval, format_value
from bench.results.run import STORM, DensityKey, Key, Run, Series, load_run, per_count
from bench.results.text import visible

# a difference from the baseline already: a ratio of it means nothing
NO_RATIO = frozenset({"memory.overhead"})
EMPTY_SUMMARY = {"n": 0, "samples": 0, "median": None, "p90": None, "p99": None, "mean": None,
                 "ci_low": None, "ci_high": None, "ci_note": "no successful instance"}


def summary_of(series: Series) -> Summary | None:
    if not series.instances.size:
        return None
    return summarize(series.instances, series.samples)


def density_summary(series: Series) -> Summary | None:
    """Over ladders when there are enough of them, else over the readings, saying so."""
    ladders, readings = series.instances.size, series.values.size
    if ladders >= min_instances() or not ladders:
        return summary_of(series)
    if readings < min_instances():
        over_ladders = summarize(series.instances, readings)
        return replace(over_ladders, ci_note=f"{ladders} ladder(s) of {readings} reading(s): a "
                       f"95 % interval needs {min_instances()} of either")
    over_readings = summarize(series.values)
    return replace(over_readings, n=ladders, ci_note=(
        f"over the {readings} readings of {ladders} ladder(s): the host's noise while N ran, "
        f"not the variation between ladders ({min_instances()} ladders give that)"))


def resolution(series: Series, summary: Summary | None) -> float | None:
    """The ± X a density memory figure cannot tell from zero, when its interval (or, without
    one, a reading) reaches zero or below; None when it is resolved (or not memory)."""
    if summary is None or series.unit != "bytes":
        return None
    low = summary.ci_low if summary.ci_low is not None else float(series.values.min())
    if low > 0:
        return None
    high = summary.ci_high if summary.ci_high is not None else float(series.values.max())
    return max(abs(low), abs(high))


def caveat(series: Series, summary: Summary | None) -> str | None:
    """A memory figure below resolution measured the host, not the instances: what it says."""
    found = resolution(series, summary)
    if found is None:
        return None
    return (f"below resolution (\u00b1 {format_value(found, series.unit)}): the host's own memory "
            "moved as much as the instances cost, so this N cannot say what one instance costs")


UNRESOLVED = {"median": None, "p90": None, "p99": None, "mean": None, "ci_low": None,
              "ci_high": None, "ratio": None, "ratio_low": None, "ratio_high": None,
              "ratio_note": "below resolution"}


def resolution_fields(series: Series, summary: Summary | None) -> dict[str, Any]:
    """A density row's `resolved`, `resolution` and `caveat`; below resolution, no figures."""
    if summary is None or series.unit != "bytes":
        return {"resolved": None, "resolution": None, "caveat": None}
    found, said = resolution(series, summary), caveat(series, summary)
    if found is None:
        return {"resolved": True, "resolution": None, "caveat": None}
    return {**UNRESOLVED, "resolved": False, "resolution": found, "caveat": said, "ci_note": said}


def ratio_to(series: Series, reference: Series | None) -> Ratio | None:
    if reference is None or not series.instances.size or not reference.instances.size:
        return None
    return ratio_of_medians(series.instances, reference.instances)


def ratio_fields(run: Run, key: Key | DensityKey, series: Series,
                 reference: Series | None) -> dict[str, Any]:
    """The ratio to the baseline runtime's same row, or nulls and the reason."""
    runtime, metric = key[0], key[2]
    note = None
    ratio = None
    if run.baseline is None:
        note = "the run has no baseline runtime"
    elif runtime == run.baseline:
        note = "the baseline itself"
    elif metric in NO_RATIO:
        note = f"{metric} is already a difference from the baseline"
    else:
        ratio = ratio_to(series, reference)
        if ratio is None:
            note = "no baseline figure to divide by (absent, failed, or not positive)"
    if ratio is None:
        return {"ratio": None, "ratio_low": None, "ratio_high": None, "ratio_note": note}
    return {"ratio": ratio.point, "ratio_low": ratio.low, "ratio_high": ratio.high,
            "ratio_note": ratio.note}


def contract_row(run: Run, key: Key | DensityKey, series: Series,
                 reference: Series | None) -> dict[str, Any]:
    runtime, workload, metric = key[:3]
    row: dict[str, Any] = {"runtime": runtime, "workload": workload, "metric": metric,
                           "unit": series.unit, "direction": series.direction}
    per_n = len(key) == 4 and not key[2].startswith(STORM)  # a storm's unit is the storm
    summary = density_summary(series) if per_n else summary_of(series)
    row.update(EMPTY_SUMMARY if summary is None else asdict(summary))
    row.update(ratio_fields(run, key, series, reference))
    row["failed"] = series.failed
    if len(key) == 4:
        row["count"] = key[3]
        row.update(resolution_fields(series, summary))
    return row


def summary_rows(run: Run) -> list[dict[str, Any]]:
    """The summary contract (DESIGN.md): one row per runtime, workload and metric.

    Density metrics get one row per instance count, with the count in a `count` field.
    """
    base = run.baseline or ""
    rows = [contract_row(run, key, series, run.series.get((base, key[1], key[2])))
            for key, series in run.series.items() if not per_count(key[2])]
    rows += [contract_row(run, key, series, table.get((base, *key[1:])))
             for table in (run.density, run.storms) for key, series in table.items()]
    return sorted(rows, key=lambda r: (r["runtime"], r["workload"], r["metric"],
                                       r.get("count", 0)))


def invalid_note(run: Run, shown: int = 3) -> str | None:
    """What a reader says of the lines of samples.jsonl that broke bench's rules (each is a
    failed sample of its row, with the reason): how many, and the first few."""
    if not run.invalid:
        return None
    more = len(run.invalid) - shown
    listed = "; ".join(run.invalid[:shown]) + (f"; and {more} more" if more > 0 else "")
    return (f"{run.path}: {len(run.invalid)} line(s) broke bench's rules and count as failed "
            f"samples (the summary's failed column): {listed}")


def summary_json(path: Path) -> list[dict[str, Any]]:
    """The contract rows of a results directory, NaN written as null (JSON has no NaN)."""
    return run_summary_json(load_run(path))


def run_summary_json(run: Run) -> list[dict[str, Any]]:
    """summary_json of a run already loaded (the history store reads each run once)."""
    return [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
            for row in summary_rows(run)]


def short_note(note: str | None) -> str:
    """A note's first clause ("3 instances", "over the 6 readings of 1 ladder(s)"): the
    terminal's column stays narrow; JSON and the report carry the whole sentence."""
    return (note or "").split(":")[0]


def interval_text(row: dict[str, Any]) -> str:
    """The median's interval, or that there is none and why, in brief."""
    if row["ci_low"] is None or row["ci_high"] is None:
        return f"none ({short_note(row['ci_note'])})" if row["ci_note"] else "-"
    text = format_interval(row["ci_low"], row["ci_high"], row["unit"])
    return f"{text} ({short_note(row['ci_note'])})" if row["ci_note"] else text


def ratio_text(row: dict[str, Any]) -> str:
    if row["ratio"] is None:
        return "-"
    if row["ratio_low"] is None or row["ratio_high"] is None:
        return f"{format_ratio(row['ratio'])} (no interval)"
    return format_ratio_interval(row["ratio"], row["ratio_low"], row["ratio_high"])


def summary_table(rows: list[dict[str, Any]], title: str) -> Table:
    """The headline rows as a terminal table (boot phases are left to the report)."""
    table = Table(title=title, title_justify="left")
    for column in ("runtime", "workload", "metric", "n", "samples", "median",
                   "95% CI of median", "x baseline [95%]", "failed"):
        names = column in {"runtime", "workload", "metric"}  # one line each, cut with an ellipsis
        table.add_column(column, justify="right" if column in {"n", "samples", "failed"}
                         else "left", no_wrap=names, overflow="ellipsis" if names else "fold")
    for row in rows:
        if row["metric"].startswith("boot.") and row["metric"] != "boot.total":
            continue
        metric = f"{row['metric']} @N={row['count']}" if "count" in row else row["metric"]
        unresolved = row.get("resolved") is False
        median = (f"below resolution (\u00b1 {format_value(row['resolution'], row['unit'])})"
                  if unresolved else format_value(row["median"], row["unit"]))
        cells = [row["runtime"], row["workload"], metric, str(row["n"]), str(row["samples"]),
                 median, "-" if unresolved else interval_text(row), ratio_text(row),
                 str(row["failed"])]
        table.add_row(*(escape(visible(cell)) for cell in cells))  # names come from files
    return table
