"""What the HTML report says, computed once from one or more results directories.

Every number the page shows comes from here, computed as the summary contract computes it
(bench.results.summary: the same functions on the same per-instance figures), so the page
shows what `bench summary --json` prints: medians over instances with the exact 95 %
interval of the median, ratios to the run's own baseline (interleaved, so drift cancels)
with their interval, boot phases in time order, and the change between two runs. Rows with
too few instances for an interval carry the reason instead. The figures and tables only
draw these.

Runs are read through the one results loader (bench.results.run.load_run), or handed over
already loaded (`bench run` loads the run it made once); a RunView is such a run as the
report views it, under its name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from bench.results import run as results
from bench.results.estimates import ratio_of_medians, summarize
from bench.results.manifest import Manifest
from bench.results.summary import NO_RATIO, caveat, density_summary, resolution
from bench.results.units import direction_of

Values = NDArray[np.float64]
Key = tuple[str, str, str]  # (runtime or label, workload, metric)
Ratio = tuple[float, float, float]  # point, low, high


@dataclass(frozen=True)
class DensityPoint:
    """One runtime's density metric at one N: median, interval (or why none), caveat."""

    runtime: str
    workload: str
    metric: str
    unit: str
    count: int
    n: int  # ladders
    samples: int  # readings
    median: float
    ci_low: float | None
    ci_high: float | None
    ci_note: str | None
    caveat: str | None  # below resolution: the host's noise, not a cost
    resolution: float | None = None  # below resolution: the ± X it cannot tell from zero


@dataclass(frozen=True)
class RunView:
    """A loaded run (bench.results.run.Run) as the report views it: under its name, grouped
    by (runtime, workload, metric), with its boot phases in order and its density points."""

    run: results.Run
    name: str
    prefix: str  # "" for a single run, else "name:" so every label is unique
    values: dict[Key, Values] = field(default_factory=dict)  # ok samples
    units: dict[str, str] = field(default_factory=dict)  # metric -> unit
    failed: dict[Key, int] = field(default_factory=dict)
    phases: dict[str, list[str]] = field(default_factory=dict)  # runtime -> phases in order
    instances: dict[Key, Values] = field(default_factory=dict)  # one figure per instance
    points: list[DensityPoint] = field(default_factory=list)  # density rows, per N
    directions: dict[str, str] = field(default_factory=dict)  # metric -> "lower"/"higher" is better

    @property
    def path(self) -> Path:
        return self.run.path

    @property
    def manifest(self) -> Manifest:
        return self.run.manifest

    @property
    def detail(self) -> pd.DataFrame:
        """Every row but ok syscall samples (bench.results.groups), as a frame."""
        return self.run.detail

    @property
    def baseline(self) -> str | None:
        """The runtime name of the process baseline, if the run has one."""
        return self.run.baseline

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
    n: int  # instances
    failed: int
    median: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    ratio: Ratio | None = None  # against the run's baseline, with its interval
    samples: int = 0  # inner samples behind the n instances
    ci_note: str | None = None  # why there is no interval of the median
    ratio_point: float | None = None  # the ratio, also when it has no interval
    ratio_note: str | None = None  # why the ratio has no interval
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
    ratio: Ratio | None  # None: too few instances for an interval (see note)
    against: str  # name of the later run
    point: float = 1.0  # after / before, medians over instances
    note: str | None = None


@dataclass
class Analysis:
    runs: list[RunView]
    labels: list[str]  # every runtime label, lightest isolation first
    values: dict[Key, Values]  # keyed by label
    stats: list[Stat]
    phases: dict[str, list[str]] = field(default_factory=dict)  # label -> boot phases
    changes: list[Change] = field(default_factory=list)
    instances: dict[Key, Values] = field(default_factory=dict)  # keyed by label, one per instance


def trend(ratio: Ratio, metric: str, direction: str = "") -> str:
    """The CSS class of a metric's ratio: same when its interval holds 1, else worse or better,
    by the direction its samples carry (else its family's)."""
    point, low, high = ratio
    if low <= 1 <= high:
        return "same"
    lower = (direction or direction_of(metric)) == "lower"
    return "worse" if (point > 1) == lower else "better"


def is_phase(metric: str) -> bool:
    return metric.startswith("boot.") and metric != "boot.total"


def is_headline(metric: str) -> bool:
    """Metrics the verdict table quotes with intervals and ratios."""
    teardown_step = metric.startswith("stop.") and metric != "stop.total"
    return not (is_phase(metric) or teardown_step or results.per_count(metric) or metric == "cell")


def unique_names(paths: Sequence[Path]) -> list[str]:
    names: list[str] = []
    for path in paths:
        name = path.resolve().name or str(path)
        candidate, number = name, 2
        while candidate in names:
            candidate, number = f"{name}#{number}", number + 1
        names.append(candidate)
    return names


def view_of(loaded: results.Run, name: str, prefix: str) -> RunView:
    detail = loaded.detail
    ok_rows = detail[detail["status"] == "ok"].astype({"runtime": object, "phase": object})
    metrics = ok_rows["metric"].astype(str)
    phases = phase_order(ok_rows[metrics.map(is_phase).astype(bool)])
    values = {k: s.values for k, s in loaded.series.items() if s.values.size}
    instances = {k: s.instances for k, s in loaded.series.items() if s.instances.size}
    failed = {k: s.failed for k, s in loaded.series.items() if s.failed}
    units = {k[2]: s.unit for k, s in loaded.series.items()}
    directions = {k[2]: s.direction for k, s in loaded.series.items()}
    return RunView(loaded, name, prefix, values, units, failed, phases, instances,
                   density_points(loaded), directions)


def density_points(loaded: results.Run) -> list[DensityPoint]:
    """Per runtime, metric and N, the summary contract's density figures."""
    points = []
    for (runtime, workload, metric, count), series in sorted(loaded.density.items()):
        summary = density_summary(series)
        if summary is not None:
            points.append(DensityPoint(runtime, workload, metric, series.unit, count, summary.n,
                                       summary.samples, summary.median, summary.ci_low,
                                       summary.ci_high, summary.ci_note, caveat(series, summary),
                                       resolution(series, summary)))
    return points


def phase_order(phases: pd.DataFrame) -> dict[str, list[str]]:
    """Per runtime, its boot phases in time order: their mean position within each cell."""
    if phases.empty:
        return {}
    phases = phases[["runtime", "cell", "phase"]].copy()
    phases["position"] = phases.groupby(["runtime", "cell"]).cumcount()
    mean = phases.groupby(["runtime", "phase"])["position"].mean().reset_index()
    return {str(runtime): [str(p) for p in group.sort_values("position")["phase"]]
            for runtime, group in mean.groupby("runtime", sort=False)}


def runtime_order(run: RunView) -> list[str]:
    """The baseline first, then by median boot time: lightest isolation to heaviest."""
    configured = list(run.manifest.config.runtimes)
    seen = list(dict.fromkeys(k[0] for k in [*run.values, *run.failed]))
    names = [r for r in configured if r in seen] + [r for r in seen if r not in configured]
    boots = {r: float(np.median(np.concatenate(v))) for r in names
             if (v := [a for k, a in run.instances.items() if k[0] == r and k[2] == "boot.total"])}
    return sorted(names, key=lambda r: (r != run.baseline, r not in boots, boots.get(r, 0.0),
                                        names.index(r)))


def run_stats(run: RunView) -> dict[Key, Stat]:
    """Per row, bench.results.estimates.summarize of its per-instance figures (as the summary)."""
    stats: dict[Key, Stat] = {}
    for key in dict.fromkeys([*run.values, *run.failed]):
        runtime, workload, metric = key
        if metric == "cell" or results.per_count(metric):
            continue  # density and storm rows are per N: their own sections draw them
        data = run.instances.get(key, np.empty(0))
        stat = Stat(run.name, run.label(runtime), runtime, workload, metric,
                    run.units.get(metric, ""), len(data), run.failed.get(key, 0),
                    samples=len(run.values.get(key, ())),
                    direction=run.directions.get(metric, ""))
        if len(data):
            summary = summarize(data, stat.samples)
            stat = replace(stat, median=summary.median, ci_low=summary.ci_low,
                           ci_high=summary.ci_high, ci_note=summary.ci_note)
        stats[key] = stat
    return with_ratios(run, stats)


def with_ratios(run: RunView, stats: dict[Key, Stat]) -> dict[Key, Stat]:
    """Each headline row's ratio to the baseline runtime's same row (as the summary's)."""
    if run.baseline is None:
        return stats
    for key, stat in stats.items():
        runtime, workload, metric = key
        base_key = (run.baseline, workload, metric)
        if runtime == run.baseline or not is_headline(metric) or metric in NO_RATIO:
            continue
        if base_key in run.instances and key in run.instances:
            ratio = ratio_of_medians(run.instances[key], run.instances[base_key])
            if ratio is not None:
                stats[key] = replace(stat, ratio=ratio.bounds(), ratio_point=ratio.point,
                                     ratio_note=ratio.note)
    return stats


def run_changes(first: RunView, later: RunView) -> list[Change]:
    """Per row in both runs, the later run's median over the first's, with its interval."""
    changes = []
    for key, after in later.instances.items():
        before = first.instances.get(key)
        if before is None or not is_headline(key[2]) or key[2] in NO_RATIO:
            continue
        ratio = ratio_of_medians(after, before)
        if ratio is not None:
            changes.append(Change(*key, later.units.get(key[2], ""), float(np.median(before)),
                                  float(np.median(after)), ratio.bounds(), later.name,
                                  ratio.point, ratio.note))
    return changes


def analyse(sources: Sequence[Path | results.Run]) -> Analysis:
    """What the report says of these results directories (or runs already loaded)."""
    loaded = [results.loaded(source) for source in sources]
    names = unique_names([run.path for run in loaded])
    runs = [view_of(run, name, f"{name}:" if len(loaded) > 1 else "")
            for run, name in zip(loaded, names, strict=True)]
    per_run = [run_stats(run) for run in runs]
    labels = [run.label(r) for run in runs for r in runtime_order(run)]
    rank = {label: index for index, label in enumerate(labels)}
    stats = sorted((s for table in per_run for s in table.values()),
                   key=lambda s: rank.get(s.label, len(rank)))
    values = {(run.label(k[0]), k[1], k[2]): v for run in runs for k, v in run.values.items()}
    instances = {(run.label(k[0]), k[1], k[2]): v for run in runs
                 for k, v in run.instances.items()}
    phases = {run.label(r): order for run in runs for r, order in run.phases.items()}
    changes = [c for index in range(1, len(runs)) for c in run_changes(runs[0], runs[index])]
    return Analysis(runs, labels, values, stats, phases, changes, instances)
