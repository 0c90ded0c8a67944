"""What the HTML report says, computed once from one or more results directories.

Every number the page shows comes from here: medians with their 95 % intervals, ratios
to the run's own process baseline (samples from the same run, interleaved, so drift
cancels), boot phases in time order, and the change between two runs. The figures and
the tables only draw these.

A run can hold a million samples, so it is read grouped (bench.results.groups) and everything
after works on the groups' arrays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from bench.results.groups import load_groups
from bench.results.manifest import baseline_runtime, read_manifest
from bench.results.stats import BOOTSTRAP_LIMIT, ratio_ci, summarize

Values = NDArray[np.float64]
Key = tuple[str, str, str]  # (runtime or label, workload, metric)
Ratio = tuple[float, float, float]  # point, low, high
NO_RATIO = ("memory.overhead",)  # a difference from the baseline: its ratio means nothing


@dataclass(frozen=True)
class Run:
    """One results directory, grouped by (runtime, workload, metric)."""

    path: Path
    name: str
    manifest: dict[str, Any]
    detail: pd.DataFrame  # every row but ok syscall samples (bench.results.groups)
    baseline: str | None  # the runtime name of the process baseline, if the run has one
    prefix: str  # "" for a single run, else "name:" so every label is unique
    values: dict[Key, Values] = field(default_factory=dict)  # ok samples
    units: dict[str, str] = field(default_factory=dict)  # metric -> unit
    failed: dict[Key, int] = field(default_factory=dict)
    phases: dict[str, list[str]] = field(default_factory=dict)  # runtime -> phases in order
    density: pd.DataFrame = field(default_factory=pd.DataFrame)  # the ok density.* rows
    directions: dict[str, str] = field(default_factory=dict)  # metric -> "lower"/"higher" is better

    def label(self, runtime: str) -> str:
        return f"{self.prefix}{runtime}"


@dataclass(frozen=True)
class Stat:
    """One verdict-table row: a runtime's metric in one workload of one run."""

    run: str
    label: str
    runtime: str
    workload: str
    metric: str
    unit: str
    n: int
    failed: int
    median: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    ratio: Ratio | None = None  # against the run's baseline
    direction: str = ""  # which way is better, as the samples say ("" before they said)


@dataclass(frozen=True)
class Change:
    """The same runtime, workload and metric in a later run against the first run."""

    runtime: str
    workload: str
    metric: str
    unit: str
    before: float
    after: float
    ratio: Ratio
    against: str  # name of the later run


@dataclass
class Analysis:
    runs: list[Run]
    labels: list[str]  # every runtime label, lightest isolation first
    values: dict[Key, Values]  # keyed by label
    stats: list[Stat]
    phases: dict[str, list[str]] = field(default_factory=dict)  # label -> boot phases
    changes: list[Change] = field(default_factory=list)


def is_phase(metric: str) -> bool:
    return metric.startswith("boot.") and metric != "boot.total"


def is_headline(metric: str) -> bool:
    """Metrics the verdict table quotes with intervals and ratios."""
    teardown_step = metric.startswith("stop.") and metric != "stop.total"
    return not (is_phase(metric) or teardown_step or metric.startswith("density.") or metric == "cell")


def unique_names(paths: list[Path]) -> list[str]:
    names: list[str] = []
    for path in paths:
        name = path.resolve().name or str(path)
        candidate, number = name, 2
        while candidate in names:
            candidate, number = f"{name}#{number}", number + 1
        names.append(candidate)
    return names


def load_run(path: Path, name: str, prefix: str) -> Run:
    manifest = read_manifest(path)
    groups = load_groups(path)
    detail = groups.detail
    ok_rows = detail[detail["status"] == "ok"].astype({"runtime": object, "phase": object})
    metrics = ok_rows["metric"].astype(str)
    phases = phase_order(ok_rows[metrics.map(is_phase).astype(bool)])
    density = ok_rows[metrics.map(lambda m: m.startswith("density.")).astype(bool)]
    return Run(path, name, manifest, detail, baseline_runtime(manifest), prefix, groups.values,
               groups.units, groups.failed, phases, density, directions_of(detail))


def directions_of(detail: pd.DataFrame) -> dict[str, str]:
    """Each metric's direction, as its samples carry it (a workload metric's own)."""
    if "direction" not in detail:
        return {}
    known = detail[detail["direction"].isin(["lower", "higher"])]
    return {str(m): str(d) for m, d in zip(known["metric"], known["direction"], strict=True)}


def phase_order(phases: pd.DataFrame) -> dict[str, list[str]]:
    """Per runtime, its boot phases in time order: their mean position within each cell."""
    if phases.empty:
        return {}
    phases = phases[["runtime", "cell", "phase"]].copy()
    phases["position"] = phases.groupby(["runtime", "cell"]).cumcount()
    mean = phases.groupby(["runtime", "phase"])["position"].mean().reset_index()
    return {str(runtime): [str(p) for p in group.sort_values("position")["phase"]]
            for runtime, group in mean.groupby("runtime", sort=False)}


def runtime_order(run: Run) -> list[str]:
    """The baseline first, then by median boot time: lightest isolation to heaviest."""
    configured = [str(r) for r in (run.manifest.get("config", {}).get("runtimes") or {})]
    seen = list(dict.fromkeys(k[0] for k in [*run.values, *run.failed]))
    names = [r for r in configured if r in seen] + [r for r in seen if r not in configured]
    boots = {r: float(np.median(np.concatenate(v))) for r in names
             if (v := [a for k, a in run.values.items() if k[0] == r and k[2] == "boot.total"])}
    return sorted(names, key=lambda r: (r != run.baseline, r not in boots, boots.get(r, 0.0),
                                        names.index(r)))


def run_stats(run: Run) -> dict[Key, Stat]:
    stats: dict[Key, Stat] = {}
    for key in dict.fromkeys([*run.values, *run.failed]):
        runtime, workload, metric = key
        if metric == "cell":
            continue
        data = run.values.get(key, np.empty(0))
        stat = Stat(run.name, run.label(runtime), runtime, workload, metric,
                    run.units.get(metric, ""), len(data), run.failed.get(key, 0),
                    direction=run.directions.get(metric, ""))
        if len(data) and is_headline(metric):
            summary = summarize(data)
            stat = replace(stat, median=summary.median, ci_low=summary.ci_low,
                           ci_high=summary.ci_high)
        elif len(data):
            stat = replace(stat, median=float(np.median(data)))
        stats[key] = stat
    return with_ratios(run, stats)


def with_ratios(run: Run, stats: dict[Key, Stat]) -> dict[Key, Stat]:
    if run.baseline is None:
        return stats
    for key, stat in stats.items():
        runtime, workload, metric = key
        base_key = (run.baseline, workload, metric)
        if runtime == run.baseline or not is_headline(metric) or metric in NO_RATIO:
            continue
        if base_key in run.values and key in run.values:
            ratio = ratio_interval(run.values[key], run.values[base_key], stat, stats[base_key])
            stats[key] = replace(stat, ratio=ratio)
    return stats


def ratio_interval(candidate: Values, baseline: Values, candidate_stat: Stat,
                   baseline_stat: Stat) -> Ratio | None:
    """bench.results.stats.ratio_ci, or for large samples the log-scale sum of both medians' intervals.

    ratio_ci resamples 2000 x min(n, 5000) values per side: seconds per call for big
    groups, and no tighter than for 5000 samples. Above BOOTSTRAP_LIMIT each median's
    order-statistic interval (bench.results.stats.median_ci) is distribution-free and tight, so
    the ratio's interval combines the two on the log scale (the delta method).
    """
    if not len(candidate) or not len(baseline) or not baseline_stat.median:
        return None
    if max(len(candidate), len(baseline)) <= BOOTSTRAP_LIMIT:
        return ratio_ci(candidate, baseline)
    widths = [log_half_width(candidate_stat), log_half_width(baseline_stat)]
    if candidate_stat.median is None or None in widths:
        return ratio_ci(candidate, baseline)
    point = candidate_stat.median / baseline_stat.median
    spread = math.hypot(*[w or 0.0 for w in widths])
    return point, point * math.exp(-spread), point * math.exp(spread)


def log_half_width(stat: Stat) -> float | None:
    if stat.ci_low is None or stat.ci_high is None or stat.ci_low <= 0:
        return None
    return (math.log(stat.ci_high) - math.log(stat.ci_low)) / 2


def run_changes(first: Run, later: Run, first_stats: dict[Key, Stat],
                later_stats: dict[Key, Stat]) -> list[Change]:
    changes = []
    for key, after in later.values.items():
        before = first.values.get(key)
        if before is None or not is_headline(key[2]) or key[2] in NO_RATIO:
            continue
        ratio = ratio_interval(after, before, later_stats[key], first_stats[key])
        if ratio is not None:
            changes.append(Change(*key, later.units.get(key[2], ""), float(np.median(before)),
                                  float(np.median(after)), ratio, later.name))
    return changes


def analyse(paths: list[Path]) -> Analysis:
    names = unique_names(paths)
    runs = [load_run(path, name, f"{name}:" if len(paths) > 1 else "")
            for path, name in zip(paths, names, strict=True)]
    per_run = [run_stats(run) for run in runs]
    labels = [run.label(r) for run in runs for r in runtime_order(run)]
    rank = {label: index for index, label in enumerate(labels)}
    stats = sorted((s for table in per_run for s in table.values()),
                   key=lambda s: rank.get(s.label, len(rank)))
    values = {(run.label(k[0]), k[1], k[2]): v for run in runs for k, v in run.values.items()}
    phases = {run.label(r): order for run in runs for r, order in run.phases.items()}
    changes = [c for index in range(1, len(runs))
               for c in run_changes(runs[0], runs[index], per_run[0], per_run[index])]
    return Analysis(runs, labels, values, stats, phases, changes)
