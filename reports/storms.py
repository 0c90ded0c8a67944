"""The Start storms section: how start latency and throughput change as N instances of a
runtime are asked for at once (bench/storm.py writes the storm.* rows).

Every figure here is the summary contract's storm row (bench.results.summary): per runtime,
workload and N, the median over storms with its exact 95 % interval over storms. The
distribution chart draws every instance's start-to-ready (storm.ready) at each N as a box
from its quantiles (min, quartiles, max: nothing cut off), so a slow start shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from bench.results.numbers import format_value
from bench.results.run import STORM, count_series
from bench.results.summary import summary_of
from reports.analysis import Analysis, RunView
from reports.figures import (
    Chart,
    color_of,
    interval_bars,
    label_rank,
    new_figure,
    plot_text,
    spread,
    styled,
)

NOTES = [
    "A storm asks for N instances of one runtime at once: N threads wait at a barrier, and "
    "its release is the storm's start. Each instance's start-to-ready runs from the moment "
    "bench asked the driver for it to the host seeing its ready line (boot.total's clock and "
    "end point), so at N=1 it is an ordinary boot.",
    "p50 and p99 are of one storm's instances; the storm is the unit, so the median and its "
    "95 % interval are over storms (repetitions). With fewer than 100 instances a p99 lies "
    "between the two slowest. Throughput is the instances that became ready over the time "
    "from the storm's start to the last of them. A failed start is counted, with its reason, "
    "never given a time.",
    "Where throughput stops growing with N, the host (or the engine) has reached how many "
    "starts per second it sustains; where p99 climbs faster than p50, starts queue behind "
    "each other.",
]


@dataclass(frozen=True)
class StormPoint:
    """One storm row: a runtime's metric at one N, over its storms."""

    label: str
    workload: str
    metric: str
    unit: str
    count: int
    storms: int  # repetitions (the unit of the statistics)
    samples: int  # instances behind storm.ready, else one per storm
    median: float
    ci_low: float | None
    ci_high: float | None
    ci_note: str | None
    failed: int
    values: Sequence[float] = ()  # every ok sample (storm.ready: every instance)


def storm_points(run: RunView) -> list[StormPoint]:
    detail = run.detail[run.detail["metric"].astype(str).str.startswith(STORM)]
    records = [{str(key): value for key, value in row.items()}
               for row in detail.to_dict("records")]
    found = count_series(records, run.units, STORM)
    points = []
    for (runtime, workload, metric, count), series in sorted(found.items()):
        summary = summary_of(series)
        if summary is not None:
            points.append(StormPoint(run.label(runtime), workload, metric, series.unit, count,
                                     summary.n, summary.samples, summary.median, summary.ci_low,
                                     summary.ci_high, summary.ci_note, series.failed,
                                     tuple(series.values.tolist())))
    return points


def curves(points: list[StormPoint], metric: str) -> dict[tuple[str, str], list[StormPoint]]:
    """Per (runtime label, workload), this metric's points in ascending N."""
    found: dict[tuple[str, str], list[StormPoint]] = {}
    for point in sorted(points, key=lambda p: p.count):
        if point.metric == metric:
            found.setdefault((point.label, point.workload), []).append(point)
    return found


def name_of(label: str, workload: str, several: bool) -> str:
    return plot_text(f"{label} / {workload}" if several else label)


def line_chart(analysis: Analysis, lines: list[tuple[str, str, str, list[StormPoint]]],
               unit: str, what: str) -> go.Figure:
    """One line per (name, runtime label, dash, points) against N, each point the median over
    storms with its interval; log axes where the lines differ by orders of magnitude."""
    figure = new_figure()
    for name, label, dash, curve in lines:
        figure.add_trace(go.Scatter(
            x=[p.count for p in curve], y=[p.median for p in curve], mode="lines+markers",
            name=name, line={"color": color_of(analysis, label), "dash": dash},
            error_y=interval_bars([(p.median, p.ci_low, p.ci_high) for p in curve]),
            hoverinfo="text", hovertext=[f"{name}, N={p.count}: {format_value(p.median, p.unit)}"
                                         for p in curve]))
    log = spread([p.median for *_, curve in lines for p in curve]) > 10
    figure.update_xaxes(type="log", title_text="instances asked for at once (N, log)")
    figure.update_yaxes(type="log" if log else "linear", title_text=f"{what} (median over "
                        f"storms, 95 % interval{'; log' if log else ''})")
    return figure


def latency_chart(analysis: Analysis, points: list[StormPoint]) -> Chart | None:
    """p50 (solid) and p99 (dotted) of start-to-ready against N, per runtime."""
    p50, p99 = curves(points, "storm.p50"), curves(points, "storm.p99")
    several = len({w for _, w in p50}) > 1
    lines = [(f"{name_of(label, workload, several)} {shown}", label, dash, curve)
             for (label, workload) in p50
             for shown, dash, curve in (("p50", "solid", p50[(label, workload)]),
                                        ("p99", "dot", p99.get((label, workload), [])))]
    return styled(line_chart(analysis, lines, "ms", "start to ready, ms"), 380,
                  "Start latency as N grows: each storm's p50 and p99") if lines else None


def throughput_chart(analysis: Analysis, points: list[StormPoint]) -> Chart | None:
    found = curves(points, "storm.throughput")
    several = len({w for _, w in found}) > 1
    lines = [(name_of(label, workload, several), label, "solid", curve)
             for (label, workload), curve in found.items()]
    return styled(line_chart(analysis, lines, "starts/s", "instances ready per second"), 340,
                  "Throughput: instances ready per second of the storm") if lines else None


def distribution_chart(analysis: Analysis, points: list[StormPoint], workload: str) -> Chart | None:
    """Every instance's start-to-ready at each N of one workload, as boxes drawn from its
    quantiles."""
    found = curves([p for p in points if p.workload == workload], "storm.ready")
    if not found:
        return None
    figure, everything = new_figure(), []
    for (label, _), curve in found.items():
        quantiles = [np.percentile(p.values, [0, 25, 50, 75, 100]) for p in curve]
        everything += [float(q[0]) for q in quantiles]
        figure.add_trace(go.Box(
            x=[f"N={p.count}" for p in curve], name=plot_text(label),
            lowerfence=[q[0] for q in quantiles], q1=[q[1] for q in quantiles],
            median=[q[2] for q in quantiles], q3=[q[3] for q in quantiles],
            upperfence=[q[4] for q in quantiles], marker_color=color_of(analysis, label),
            boxpoints=False))
    log = spread(everything) > 10
    figure.update_layout(boxmode="group")
    figure.update_xaxes(title_text="storm size")
    figure.update_yaxes(type="log" if log else "linear", title_text="start to ready, ms (every "
                        f"instance: min, quartiles, max{'; log' if log else ''})")
    return styled(figure, 380, f"Start-to-ready of every instance at each N: {workload}")


def table_rows(analysis: Analysis, points: list[StormPoint]) -> list[dict[str, object]]:
    """Per runtime (lightest first), workload and N: the p50, p99, max and throughput rows
    and the failed starts."""
    by_key: dict[tuple[str, str, int], dict[str, StormPoint]] = {}
    ordered = sorted(points, key=lambda p: (label_rank(analysis, p.label), p.workload, p.count))
    for point in ordered:
        by_key.setdefault((point.label, point.workload, point.count), {})[point.metric] = point
    return [{"label": label, "workload": workload, "count": count,
             "storms": found["storm.p50"].storms if "storm.p50" in found else 0,
             "instances": found["storm.ready"].samples if "storm.ready" in found else 0,
             "failed": found["storm.ready"].failed if "storm.ready" in found else 0,
             "p50": found.get("storm.p50"), "p99": found.get("storm.p99"),
             "max": found.get("storm.max"), "throughput": found.get("storm.throughput")}
            for (label, workload, count), found in by_key.items()]


@dataclass(frozen=True)
class StormSection:
    """What the section shows (reports.sections.storms makes the card of it)."""

    charts: list[Chart]
    rows: list[dict[str, object]]
    notes: Sequence[str] = tuple(NOTES)


def ladders(points: list[StormPoint]) -> list[StormPoint]:
    """The points of workloads with several sizes N (bursts): the ones drawn against N; a
    steady rate has one N, and shows in its distribution and the table."""
    sizes: dict[str, set[int]] = {}
    for point in points:
        sizes.setdefault(point.workload, set()).add(point.count)
    return [p for p in points if len(sizes[p.workload]) > 1]


def storm_section(analysis: Analysis) -> StormSection | None:
    points = [p for run in analysis.runs for p in storm_points(run)]
    if not points:
        return None
    workloads = list(dict.fromkeys(p.workload for p in points))
    made = [latency_chart(analysis, ladders(points)),
            *(distribution_chart(analysis, points, workload) for workload in workloads),
            throughput_chart(analysis, ladders(points))]
    return StormSection([chart for chart in made if chart is not None],
                        table_rows(analysis, points))
