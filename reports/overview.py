"""The report's first screen: what the run measured, before the long tables.

Which runtimes and workloads ran and how many instances each, the answer to the config's
question, and the warnings. A run of command workloads is about what its programs measure:
each workload's main figures, a sentence each (the process's median, every other runtime's
ratio to it with its interval) and one chart of the ratios. A run of the probe's own modes is
about boot, memory and syscalls: their headline figures with their ratios to the baseline.
A reader who stops here knows what was compared, what it found and how far to trust it.
Computed from an Analysis; templates/sections/summary.html.j2 lays it out.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from bench.results.manifest import RunConfig
from bench.results.numbers import format_interval, format_ratio, format_ratio_interval, format_value
from bench.results.summary import short_note
from reports.analysis import Analysis, Ratio, RunView, Stat, trend
from reports.notes import RunWarning, run_warnings, uses_tcg
from reports.workload_figures import metric_name, shown_label
from reports.workloads import Cell, command_workloads, rows_of

# each headline column: the first of these metrics the run has
HEADLINE: tuple[tuple[str, ...], ...] = (
    ("boot.total",), ("memory.overhead", "memory.host_pss"), ("syscall.getppid",))
# a density ladder's headline: each metric at the largest N a runtime reached
DENSITY_HEADLINE = ("density.mem_available_per_instance", "density.pss_per_instance")


@dataclass(frozen=True)
class RunLine:
    """One run in a sentence: when, where, how long, with how many repetitions."""

    name: str
    description: str
    status: str
    started: str | None
    took: str | None
    host: str
    repetitions: str
    baseline: str | None


@dataclass(frozen=True)
class Column:
    metric: str
    workload: str
    detail: str  # under the metric's name: its workload, or where on a density ladder


@dataclass(frozen=True)
class Headline:
    """A headline figure: the median as text, and its ratio to the baseline when it has one."""

    value: str
    ratio: Ratio | None = None
    baseline: bool = False


@dataclass(frozen=True)
class Instances:
    measured: int  # repetitions with a successful measurement (one instance each)
    failed: int  # repetitions that failed
    peak: int | None = None  # a density ladder: the most instances running at once


@dataclass(frozen=True)
class Row:
    label: str
    driver: str
    instances: list[tuple[str, Instances]]  # per workload this runtime ran
    headlines: list[Headline | None]  # one per column


@dataclass(frozen=True)
class Versus:
    """One runtime against the process in a finding: its name, ratio text and CSS class."""

    label: str
    text: str
    trend: str  # same, worse or better; "" without an interval


@dataclass(frozen=True)
class Finding:
    """One workload's main figure in a sentence: the process's median, the others' ratios."""

    workload: str
    metric: str
    direction: str
    baseline: str | None  # the process's median and interval, as text
    versus: list[Versus]


@dataclass(frozen=True)
class Overview:
    runs: list[RunLine]
    columns: list[Column]
    rows: list[Row]
    warnings: list[RunWarning]
    measured: bool  # at least one successful measurement
    legend: list[str]  # how to read the table, only what applies to it
    findings: list[Finding]  # the command workloads' main figures, one sentence each


def overview(analysis: Analysis) -> Overview:
    workloads = workload_order(analysis)
    probe = [w for w in workloads if not any(w in command_workloads(run) for run in analysis.runs)]
    columns = headline_columns(analysis, probe) + density_columns(analysis)
    counts = {(run.label(r), w): n for run in analysis.runs
              for (r, w), n in instance_counts(run).items()}
    rows = [Row(label, driver_of(analysis, label),
                [(w, counts[(label, w)]) for w in workloads if (label, w) in counts],
                [headline(analysis, label, column) for column in columns])
            for label in analysis.labels]
    return Overview([run_line(run) for run in analysis.runs], columns, rows,
                    run_warnings(analysis),
                    any(s.n for s in analysis.stats) or any(run.points for run in analysis.runs),
                    legend(columns, rows), findings(analysis))


def findings(analysis: Analysis) -> list[Finding]:
    """Per command workload and main figure: the sentence the first screen says."""
    tcg, found = uses_tcg(analysis), []
    for row in (row for row in rows_of(analysis) if row.main):
        base = next((c for c in row.cells if is_baseline_label(analysis, c.label)), None)
        found.append(Finding(row.workload, metric_name(row.metric), row.direction,
                             None if base is None else baseline_text(base, row.unit),
                             [versus(c, row.metric, row.direction, tcg) for c in row.cells
                              if c is not base]))
    return found


def is_baseline_label(analysis: Analysis, label: str) -> bool:
    return any(run.baseline is not None and run.label(run.baseline) == label
               for run in analysis.runs)


def baseline_text(cell: Cell, unit: str) -> str:
    median = f"{cell.label} {format_value(cell.median, unit)}"
    if cell.median is None:
        return f"{cell.label} failed ({cell.failed})"
    if cell.ci_low is None:
        return f"{median} (no interval: {short_note(cell.ci_note)})"
    return f"{median} {format_interval(cell.ci_low, cell.ci_high, unit)}"


def versus(cell: Cell, metric: str, direction: str, tcg: list[str]) -> Versus:
    label = shown_label(cell.label, tcg)
    if cell.ratio is not None:
        return Versus(label, format_ratio_interval(*cell.ratio), trend(cell.ratio, metric, direction))
    if cell.ratio_point is not None:
        return Versus(label, f"{format_ratio(cell.ratio_point)} (no interval: "
                             f"{short_note(cell.ratio_note)})", "")
    return Versus(label, f"failed ({cell.failed})" if cell.median is None else "no ratio", "")


def legend(columns: list[Column], rows: list[Row]) -> list[str]:
    metrics = {c.metric for c in columns}
    lines = ["Medians."]
    if any(f and f.ratio for row in rows for f in row.headlines):
        lines.append("Under each, its ratio to the baseline runtime measured in the same run, "
                     "with its 95 % interval: grey when the interval holds 1 (no difference "
                     "the samples show), red when worse, green when better.")
    if "memory.overhead" in metrics:
        lines.append("memory.overhead is an instance's host memory minus the baseline's: "
                     "already a difference, so it has no ratio.")
    if any(m.startswith("density.") for m in metrics):
        lines.append("A density figure is the median at the largest number of instances "
                     "running at once (N) that the runtime reached.")
    return lines


def workload_order(analysis: Analysis) -> list[str]:
    """Workloads as the configs list them, then any other the results hold."""
    configured = [w for run in analysis.runs for w in run.manifest.config.workloads]
    seen = [s.workload for s in analysis.stats] + [
        str(w) for run in analysis.runs for _, w, _ in run.failed]
    return list(dict.fromkeys(w for w in [*configured, *seen] if w in seen))


def headline_columns(analysis: Analysis, workloads: list[str]) -> list[Column]:
    """Per headline metric, the first workload (in config order) that measured it."""
    measured = {(s.workload, s.metric) for s in analysis.stats if s.median is not None}
    found = [next(((m, w) for m in choices for w in workloads if (w, m) in measured), None)
             for choices in HEADLINE]
    return [Column(metric, workload, workload) for metric, workload in filter(None, found)]


def density_columns(analysis: Analysis) -> list[Column]:
    """Per density headline metric, each workload that has a density row for it."""
    found = {(p.metric, p.workload) for run in analysis.runs for p in run.points}
    return [Column(metric, workload, "at the largest N")
            for metric in DENSITY_HEADLINE for workload in sorted({w for m, w in found
                                                                   if m == metric})]


def headline(analysis: Analysis, label: str, column: Column) -> Headline | None:
    if column.metric.startswith("density."):
        return density_headline(analysis, label, column)
    stat = next((s for s in analysis.stats if s.label == label and s.workload == column.workload
                 and s.metric == column.metric and s.median is not None), None)
    if stat is None:
        return None
    return Headline(format_value(stat.median, stat.unit), stat.ratio, is_baseline(analysis, stat))


def is_baseline(analysis: Analysis, stat: Stat) -> bool:
    return any(run.name == stat.run and run.baseline == stat.runtime for run in analysis.runs)


def density_headline(analysis: Analysis, label: str, column: Column) -> Headline | None:
    """The median of a density metric at the largest instance count this runtime reached
    (the summary contract's density row, as the density section draws it)."""
    for run in analysis.runs:
        points = [p for p in run.points if p.metric == column.metric
                  and p.workload == column.workload and run.label(p.runtime) == label]
        if points:
            top = max(points, key=lambda p: p.count)
            if top.resolution is not None:  # no number: the host moved as much as they cost
                return Headline(f"below resolution (\u00b1 {format_value(top.resolution, top.unit)})"
                                f" (N={top.count})")
            return Headline(f"{format_value(top.median, top.unit)} (N={top.count})")
    return None


def instance_counts(run: RunView) -> dict[tuple[str, str], Instances]:
    """Per runtime and workload: instances measured and failed (a cell is one repetition)."""
    detail, keys = run.detail, ["runtime", "workload"]
    ok = detail["status"] == "ok"
    measured = detail[ok].groupby(keys, sort=False)["repetition"].nunique()
    failed = detail[~ok & (detail["metric"] == "cell")].groupby(keys)["repetition"].nunique()
    ladder = detail[ok & detail["metric"].str.startswith("density.")]
    peaks = pd.to_numeric(ladder["phase"], errors="coerce").groupby(
        [ladder["runtime"], ladder["workload"]]).max()
    return {(str(r), str(w)): Instances(int(measured.get((r, w), 0)), int(failed.get((r, w), 0)),
                                        peak(peaks.get((r, w))))
            for r, w in dict.fromkeys([*measured.index, *failed.index])}


def peak(count: Any) -> int | None:
    return None if count is None or math.isnan(count) else int(count)


def driver_of(analysis: Analysis, label: str) -> str:
    for run in analysis.runs:
        for name in run.manifest.config.runtimes:
            if run.label(name) == label:
                return run.manifest.config.driver_of(name) or "?"
    return "?"


def run_line(run: RunView) -> RunLine:
    manifest = run.manifest
    return RunLine(run.name, manifest.config.description, manifest.status,
                   when(manifest.created), took(manifest.created, manifest.ended),
                   host_line(manifest.host), repetitions(manifest.config), run.baseline)


def repetitions(config: RunConfig) -> str:
    count = "?" if config.repetitions is None else config.repetitions
    return f"{count} repetition{'' if count == 1 else 's'} (+{config.warmup} warm-up)"


def when(epoch: Any) -> str | None:
    if not isinstance(epoch, int | float):
        return None
    moment = datetime.datetime.fromtimestamp(epoch, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def took(created: Any, ended: Any) -> str | None:
    if not isinstance(created, int | float) or not isinstance(ended, int | float):
        return None
    seconds = ended - created
    return f"{seconds / 60:.1f} min" if seconds >= 120 else f"{seconds:.0f} s"


def host_line(host: Mapping[str, Any]) -> str:
    parts = [host.get("cpu_model"), f"{host['cores']} cores" if host.get("cores") else None,
             f"kernel {host['kernel']}" if host.get("kernel") else None,
             f"cgroup {host['cgroup_version']}" if host.get("cgroup_version") else None]
    return ", ".join(str(p) for p in parts if p) or "host not recorded"
