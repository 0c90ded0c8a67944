"""The trend page: medians over commits or time from the history store, as one offline HTML
page (the command line of `bench trend` is bench/commands/trend.py).

One chart per metric, runtime and workload; each host fingerprint is its own series, with
its 95 % intervals as a band and its change points marked (bench.history.changes). The
page is the report's kind: one file, plotly inlined, a Content-Security-Policy that forbids
every network load (reports.page_assets), every string escaped by Jinja2's autoescaping.
Figures are built as plain dicts, not plotly objects: a thousand runs draw in a second.
Every string from the store that reaches plotly (axis titles, tick labels, trace names,
hover text) goes through `text`, since plotly renders a few HTML tags of its own, <a href>
among them: a metric named like a link shows as text.

Runs are in the order the store received them, and the time axis is that time (the store's
clock): what a run says of its own start is shown, never trusted to place it.
"""

from __future__ import annotations

import datetime
import functools
import html
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.history.times import shown_time as shown_any_time
from bench.results.numbers import Display, display_scale, format_interval, format_percent, format_value
from bench.results.units import FAMILIES, direction_of, family

if TYPE_CHECKING:  # SQLAlchemy loads only when `bench trend` runs
    from bench.history import StoreChoice
    from bench.history.queries import Filters, Point

OUTPUT = "bench-trend.html"
PALETTE = ("#2456a6", "#d1495b", "#2a9d8f", "#e9a03b", "#6a4c93", "#5b6474", "#00798c",
           "#8f2d56")
CHART_HEIGHT = 360
PHASE_FAMILIES = ("boot.", "stop.")


def trend_of_store(choice: StoreChoice, filters: Filters, by: str, output: Path | None) -> int:
    """The page of the store's runs that match (`by`: time or commit), written to `output`
    (default ./bench-trend.html); without a metric filter, boot and teardown phases are left
    out (their totals kept). 2 when the store holds a run it could not read."""
    from bench.history.actions import said_skipped
    from bench.history.queries import trend_points
    from bench.history.reading import CorruptRun
    from foundation.errors import HistoryError

    skipped: list[CorruptRun] = []
    with choice.open() as store:
        points = trend_points(store, filters, skipped)
    problems = said_skipped(skipped)
    if filters.metric is None:
        points = [p for p in points if not is_phase(p.metric)]
    if not points:
        raise HistoryError(store.name, "no run with a successful row matches these filters")
    output = output or Path.cwd() / OUTPUT
    write_trend(build_trend(points, by, store.name), output)
    print(f"trend written to {output}", file=sys.stderr)
    return problems


@functools.lru_cache(maxsize=1 << 14)
def shown_time(epoch: float) -> str:
    """A run's time as the page shows it (a run's times appear on every one of its points)."""
    return shown_any_time(epoch)


def is_phase(metric: str) -> bool:
    return metric.startswith(PHASE_FAMILIES) and not metric.endswith(".total")


@dataclass(frozen=True)
class RunRef:
    """A run as the page names it: id, time, commit, and its anchor in the runs table."""

    anchor: int
    run_id: str
    when: str  # received by the store
    started: str  # what the run says of its start
    host: str
    commit: str
    branch: str
    path: str
    report: str | None


@dataclass(frozen=True)
class Change:
    metric: str
    runtime: str
    workload: str
    host: str
    before: RunRef
    after: RunRef
    level_before: str
    level_after: str
    percent: str
    better: bool | None  # None: the metric's direction is not known here


@dataclass(frozen=True)
class Chart:
    caption: str
    figure: dict[str, Any]
    height: int = CHART_HEIGHT


@dataclass
class Trend:
    title: str
    store: str
    by_text: str
    written: str
    charts: list[Chart] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    runs: list[RunRef] = field(default_factory=list)

    @property
    def run_count(self) -> int:
        return len(self.runs)


def host_labels(points: list[Point]) -> dict[str, str]:
    """Each host fingerprint as its names (runners of one machine type share one) and hash."""
    names: dict[str, set[str]] = defaultdict(set)
    for point in points:
        names[point.host_hash].add(point.hostname)
    return {key: f"{', '.join(sorted(found)[:3])}{' …' if len(found) > 3 else ''} · {key[:8]}"
            for key, found in names.items()}


def run_refs(points: list[Point], hosts: dict[str, str]) -> dict[str, RunRef]:
    refs: dict[str, RunRef] = {}
    for point in points:
        if point.run_id not in refs:
            report = Path(point.path) / "report.html"
            refs[point.run_id] = RunRef(
                len(refs) + 1, point.run_id, shown_time(point.received),
                shown_time(point.created), hosts[point.host_hash],
                (point.commit or "-")[:12], point.branch or "-", point.path,
                report.as_uri() if report.is_absolute() else None)
    return refs


def build_trend(points: list[Point], by: str, store: str) -> Trend:
    """Charts, change points and the runs table from the points (oldest run first)."""
    hosts = host_labels(points)
    refs = run_refs(points, hosts)
    runs = {p.run_id for p in points}
    title = (f"{len(runs)} run(s) on {len(hosts)} host(s), "
             f"received {shown_time(points[0].received)} to {shown_time(points[-1].received)} UTC")
    trend = Trend(title, store, "over commits (in run order)" if by == "commit" else "over time",
                  shown_time(datetime.datetime.now(tz=datetime.UTC).timestamp()) + " UTC",
                  runs=sorted(refs.values(), key=lambda r: -r.anchor))
    axis = commit_axis(points) if by == "commit" else None
    groups: dict[tuple[str, str, str], list[Point]] = defaultdict(list)
    for point in points:
        groups[(point.metric, point.runtime, point.workload)].append(point)
    for key in sorted(groups):
        chart, changes = chart_of(key, groups[key], hosts, refs, axis)
        trend.charts.append(chart)
        trend.changes += changes
    return trend


def commit_axis(points: list[Point]) -> list[str]:
    """Commits in order of their first run."""
    return list(dict.fromkeys(x_of(point, True) for point in points))


def x_of(point: Point, by_commit: bool) -> str:
    """Where a point sits: its commit (a category: escaped, plotly renders tick labels), or
    when the store received its run."""
    if by_commit:
        return text((point.commit or "no commit")[:12])
    return shown_time(point.received)


def chart_of(key: tuple[str, str, str], points: list[Point], hosts: dict[str, str],
             refs: dict[str, RunRef], axis: list[str] | None) -> tuple[Chart, list[Change]]:
    from bench.history.changes import change_points

    metric, runtime, workload = key
    unit = points[0].unit
    series: dict[str, list[Point]] = defaultdict(list)
    for point in points:
        series[point.host_hash].append(point)
    data: list[dict[str, Any]] = []
    shapes: list[dict[str, Any]] = []
    changes: list[Change] = []
    scale = display_scale([p.median for p in points], unit)
    for index, (host, found) in enumerate(sorted(series.items())):
        color = PALETTE[index % len(PALETTE)]
        cuts = change_points([p.median for p in found])
        data += series_traces(found, hosts[host], color, axis is not None, scale)
        for cut in cuts:
            change = change_of(key, found, cut, hosts[host], refs)
            changes.append(change)
            x = x_of(found[cut], axis is not None)
            shapes.append({"type": "line", "xref": "x", "yref": "paper", "x0": x, "x1": x,
                           "y0": 0, "y1": 1, "line": {"color": "#a32020", "dash": "dot",
                                                      "width": 1}})
        if cuts:
            data.append(change_trace(found, cuts, axis is not None, changes[-len(cuts):], scale))
    caption = f"{metric} · {runtime} · {workload} ({unit or 'no unit'})"
    better = known_direction(metric)
    layout: dict[str, Any] = {
        "height": CHART_HEIGHT, "margin": {"l": 70, "r": 20, "t": 10, "b": 60},
        "hovermode": "closest", "shapes": shapes,
        "legend": {"orientation": "h", "y": -0.25},
        "yaxis": {"title": {"text": axis_title(metric, scale, better)},
                  "exponentformat": "none", "separatethousands": True},
        "xaxis": ({"type": "category", "categoryorder": "array", "categoryarray": axis,
                   "title": {"text": "commit (in the order the store received the runs)"}}
                  if axis is not None else
                  {"type": "date", "title": {"text": "received by the store (UTC)"}})}
    return Chart(caption, {"data": data, "layout": layout}), changes


def text(value: str) -> str:
    """A string for plotly's hover and legend text, which reads a few HTML tags: escaped."""
    return html.escape(value, quote=False)


def known_direction(metric: str) -> str | None:
    """Which way is better, where the metric's family says (boot, memory, syscalls: lower); a
    workload metric carries its own in the store's JSON, which a trend point does not hold."""
    return direction_of(metric) if family(metric) in FAMILIES else None


def axis_title(metric: str, scale: Display, better: str | None) -> str:
    """The y axis: the metric, the unit its values are drawn in, and which way is better."""
    unit = f" ({scale.unit})" if scale.unit else ""
    return text(f"{metric}{unit}") + (f"<br>{better} is better" if better else "")


def scaled(value: float | None, scale: Display) -> float | None:
    return None if value is None else value / scale.divisor


def series_traces(points: list[Point], label: str, color: str, by_commit: bool,
                  scale: Display) -> list[dict[str, Any]]:
    """The interval band (lower edge, upper edge filled to it) and the medians, drawn in the
    scale's unit."""
    xs = [x_of(p, by_commit) for p in points]
    group = f"{label}"
    hover = [text(f"run {p.run_id} · received {shown_time(p.received)} UTC, started "
                  f"{shown_time(p.created)} UTC · commit {(p.commit or '-')[:12]} · "
                  f"{p.branch or '-'}") + "<br>" + text(
                  f"median {format_value(p.median, p.unit)}"
                  + (f" {format_interval(p.ci_low, p.ci_high, p.unit)}"
                     if p.ci_low is not None and p.ci_high is not None else "") + f" · n={p.n}")
             for p in points]
    band = {"type": "scatter", "mode": "lines", "x": xs, "hoverinfo": "skip",
            "legendgroup": group, "showlegend": False, "line": {"width": 0, "color": color}}
    return [
        {**band, "y": [scaled(p.ci_low, scale) for p in points]},
        {**band, "y": [scaled(p.ci_high, scale) for p in points], "fill": "tonexty",
         "fillcolor": rgba(color, 0.18), "connectgaps": False},
        {"type": "scatter", "mode": "lines+markers", "x": xs,
         "y": [scaled(p.median, scale) for p in points],
         "name": text(label), "legendgroup": group, "line": {"color": color, "width": 1.5},
         "marker": {"size": 5}, "text": hover, "hovertemplate": "%{text}<extra></extra>"},
    ]


def change_trace(points: list[Point], cuts: list[int], by_commit: bool,
                 changes: list[Change], scale: Display) -> dict[str, Any]:
    return {"type": "scatter", "mode": "markers", "name": "change point", "showlegend": False,
            "x": [x_of(points[cut], by_commit) for cut in cuts],
            "y": [scaled(points[cut].median, scale) for cut in cuts],
            "marker": {"symbol": "diamond", "size": 11, "color": "#a32020"},
            "text": [text(f"change point: {c.percent} between run {c.before.run_id} and run "
                          f"{c.after.run_id}") for c in changes],
            "hovertemplate": "%{text}<extra></extra>"}


def rgba(color: str, alpha: float) -> str:
    red, green, blue = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red},{green},{blue},{alpha})"


def change_of(key: tuple[str, str, str], points: list[Point], cut: int, host: str,
              refs: dict[str, RunRef]) -> Change:
    """The change at `cut`: the medians of the segments on its sides, and the two runs."""
    import numpy as np

    metric, runtime, workload = key
    before = float(np.median([p.median for p in points[:cut]]))
    after = float(np.median([p.median for p in points[cut:]]))
    unit = points[cut].unit
    percent = format_percent(after / before - 1) if before > 0 else "–"
    better = known_direction(metric)
    return Change(metric, runtime, workload, host, refs[points[cut - 1].run_id],
                  refs[points[cut].run_id], format_value(before, unit), format_value(after, unit),
                  percent, None if better is None else (after < before) == (better == "lower"))


def render(trend: Trend) -> str:
    """The page, from templates/trend.html.j2 on the report's skeleton (page.html.j2)."""
    import jinja2

    from bench.history.changes import METHOD
    from reports.page_assets import CSP, bench_version, packed_plotlyjs

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("reports", "templates"), autoescape=True,
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return environment.get_template("trend.html.j2").render(
        title=f"bench trend: {trend.title}", subtitle=trend.title, trend=trend, csp=CSP,
        method=METHOD, plotlyjs=packed_plotlyjs(), version=bench_version())


def write_trend(trend: Trend, output: Path) -> Path:
    """The page, written atomically (a partial file never has the final name)."""
    from reports.page_assets import write_page

    return write_page(render(trend), output, "trend page")
