"""Plotly figures for the HTML report, drawn from an Analysis (reports.analysis).

Everything is aggregated before it is plotted: medians, intervals and at most
MAX_POINTS quantiles per trace, so a run with a million samples gives figures of a few
kilobytes. Every label that reaches plotly is escaped for plotly's own pseudo-HTML
(it renders <b>, <a href> and entities in names and tick labels) with html.escape, so a
hostile runtime name shows as text.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass, replace

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from bench.results.numbers import (
    display_scale,
    format_interval,
    format_percent,
    format_ratio_interval,
    format_value,
)
from reports.analysis import Analysis, DensityPoint, Values

# the parts of memory.host_pss a driver declares (bench/collectors.py writes them)
HOST_PART = "memory.host_pss."

MAX_POINTS = 200
MAX_DENSITY = 7  # one chart per density metric bench.density records
MIB = float(1 << 20)
SYSCALL_ORDER = ("getppid", "clock_gettime", "read", "write", "open_close", "stat")
# memory first, what is charged to the instances before what is read from the whole host
DENSITY_ORDER = ("density.pss_per_instance", "density.cgroup_per_instance",
                 "density.host_per_instance", "density.kernel_per_instance",
                 "density.engine_pss_per_instance", "density.mem_available_per_instance",
                 "density.boot_total")
RUNTIME_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b",
                  "#e377c2", "#7f7f7f", "#bcbd22")
PHASE_COLORS = ("#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#eeca3b",
                "#9d755d", "#bab0ac", "#ff9da6")
LEGEND_ROW_PX, LEGEND_ENTRY_PX, LEGEND_CHAR_PX = 600, 45, 7  # to guess how the legend wraps
MODEBAR = 46  # px kept free at the top for plotly's tool buttons
COMPARABLE = 20.0  # totals within this factor share one axis; beyond it, log axes or facets
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"


GRID = "#e3e8ef"
# ticks in plain digits with thousands separators: never 1e+6, never 2.4M for bytes
AXIS = {"gridcolor": GRID, "zerolinecolor": "#c5cdd8", "linecolor": "#c5cdd8",
        "automargin": True, "title": {"standoff": 8}, "exponentformat": "none",
        "separatethousands": True}
# plotly's own templates are deep-copied into every figure (a tenth of a second each)
LIGHT = go.layout.Template(layout={
    "paper_bgcolor": "white", "plot_bgcolor": "white", "colorway": list(RUNTIME_COLORS),
    "xaxis": AXIS, "yaxis": AXIS, "hovermode": "closest"})


@dataclass(frozen=True)
class Chart:
    """A figure and its caption (plain text: the page escapes it and shows it above)."""

    caption: str
    figure: go.Figure

    @property
    def height(self) -> int:
        """Pixels the page keeps for the chart before plotly draws it (no jump when it does)."""
        return int(self.figure.layout.height or 400)


def new_figure(*traces: go.Bar | go.Scatter) -> go.Figure:
    return go.Figure(list(traces), layout={"template": LIGHT})


def plot_text(text: str) -> str:
    """Text for plotly's pseudo-HTML: it decodes &amp; &lt; &gt; but not &quot;, so quotes stay."""
    return html.escape(text, quote=False)


def color_of(analysis: Analysis, label: str) -> str:
    """One colour per runtime label, the same in every chart."""
    return RUNTIME_COLORS[label_rank(analysis, label) % len(RUNTIME_COLORS)]


def styled(figure: go.Figure, height: int, caption: str) -> Chart:
    """One look for every chart; the legend sits in the top margin, sized to its rows."""
    names = [str(trace.name) for trace in figure.data
             if trace.showlegend is not False and trace.name]
    width = sum(LEGEND_ENTRY_PX + LEGEND_CHAR_PX * len(name) for name in names)
    legend_rows = -(-width // LEGEND_ROW_PX) if len(names) > 1 else 0
    top = MODEBAR + 26 * legend_rows
    figure.update_layout(
        height=height + top, margin={"l": 10, "r": 20, "t": top, "b": 40},
        font={"family": FONT, "size": 12}, showlegend=legend_rows > 0,
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 0},
        hoverlabel={"namelength": -1})
    return Chart(caption, figure)


def pooled(analysis: Analysis, label: str, metric: str, per_instance: bool = False) -> Values:
    """A runtime's samples of a metric over every workload (boot does not depend on it); with
    PER_INSTANCE, one figure per instance instead (what every median the report quotes is of:
    pooled batches would weigh an instance by how many batches it ran)."""
    source = analysis.instances if per_instance else analysis.values
    parts = [v for (lab, _, met), v in source.items() if lab == label and met == metric]
    return np.concatenate(parts) if parts else np.empty(0)


def series(analysis: Analysis, metric: str) -> list[tuple[str, str, str]]:
    """(name, label, workload) for each runtime and workload with this metric, in label order."""
    keys = [(lab, wl) for (lab, wl, met) in analysis.values if met == metric]
    several = len({wl for _, wl in keys}) > 1
    ordered = sorted(keys, key=lambda k: (label_rank(analysis, k[0]), k[1]))
    return [(f"{lab} / {wl}" if several else lab, lab, wl) for lab, wl in ordered]


def label_rank(analysis: Analysis, label: str) -> int:
    return analysis.labels.index(label) if label in analysis.labels else len(analysis.labels)


def spread(values: Iterable[float]) -> float:
    positive = [v for v in values if v > 0]
    return max(positive) / min(positive) if positive else 1.0


def boot_phases(analysis: Analysis) -> Chart | None:
    """Stacked medians of the named phases; one panel per runtime when totals differ a lot."""
    return phase_chart(analysis, [lab for lab in analysis.labels if analysis.phases.get(lab)],
                       "Boot phases, in time order")


def phase_chart(analysis: Analysis, labels: list[str], caption: str) -> Chart | None:
    """The named boot phases of these runtimes, stacked in time order, medians."""
    labels = [lab for lab in labels if analysis.phases.get(lab)]
    if not labels:
        return None
    totals = {lab: float(np.median(pooled(analysis, lab, "boot.total")))
              for lab in labels if len(pooled(analysis, lab, "boot.total"))}
    shared = spread(totals.values()) <= COMPARABLE
    rows = 1 if shared else len(labels)
    figure = make_subplots(rows=rows, cols=1, figure=new_figure(),
                           vertical_spacing=0.35 / rows if rows > 1 else 0.0)
    phase_colors: dict[str, str] = {}
    for index, label in enumerate(labels):
        tick = f"{label}  (total {format_ms(totals.get(label))})"
        for phase in analysis.phases[label]:
            values = pooled(analysis, label, f"boot.{phase}")
            if not len(values):
                continue
            first = phase not in phase_colors
            color = phase_colors.setdefault(phase, PHASE_COLORS[len(phase_colors) %
                                                                len(PHASE_COLORS)])
            median = float(np.median(values))
            figure.add_trace(go.Bar(
                y=[plot_text(tick)], x=[median], name=plot_text(phase),
                orientation="h", legendgroup=plot_text(phase), showlegend=first,
                marker_color=color, hoverinfo="text",
                hovertext=[plot_text(f"{phase}: {format_value(median, 'ms')}")]),
                row=1 if shared else index + 1, col=1)
    figure.update_layout(barmode="stack", bargap=0.35)
    figure.update_xaxes(title_text="milliseconds (median of each phase)", row=rows, col=1)
    figure.update_yaxes(autorange="reversed")
    height = 60 + (45 * len(labels) if shared else 80 * len(labels))
    scale = "one axis" if shared else "each runtime on its own axis"
    return styled(figure, height, f"{caption} ({scale})")


def format_ms(value: float | None) -> str:
    return "n/a" if value is None else format_value(value, "ms")


def quantile_points(values: Values) -> tuple[Values, Values]:
    """An ECDF drawn from at most MAX_POINTS quantiles (the exact steps for small samples)."""
    data = np.sort(values)
    if data.size <= MAX_POINTS:
        return data, np.arange(1, data.size + 1) / data.size
    probabilities = np.linspace(0, 1, MAX_POINTS)
    return np.quantile(data, probabilities), probabilities


def boot_distribution(analysis: Analysis) -> Chart | None:
    figure = new_figure()
    medians = []
    for label in analysis.labels:
        values = pooled(analysis, label, "boot.total")
        if not len(values):
            continue
        medians.append(float(np.median(values)))
        x, y = quantile_points(values)
        figure.add_trace(go.Scatter(
            x=x, y=y, name=plot_text(label), mode="lines+markers", line_shape="hv",
            marker={"size": 4}, line_color=color_of(analysis, label), hoverinfo="text",
            hovertext=[plot_text(f"{label}: {format_percent(float(p), False)} of boots within "
                                 f"{format_value(float(v), 'ms')}") for v, p in zip(x, y, strict=True)]))
    if not medians:
        return None
    log = spread(medians) > 10
    figure.update_xaxes(type="log" if log else "linear",
                        title_text="boot.total, milliseconds" + (" (log scale)" if log else ""))
    figure.update_yaxes(title_text="fraction of boots", tickformat=".0%", range=[0, 1.05])
    return styled(figure, 380, "How boot times are spread (cumulative distribution)")


def pss_part(metric: str) -> str | None:
    """The part of host PSS a metric names (memory.host_pss.<part>), or None.

    The one place that knows how parts are named: drivers declare them and
    bench/collectors.py writes each as memory.host_pss.<part>.
    """
    return metric.removeprefix(HOST_PART) if metric.startswith(HOST_PART) else None


def memory_parts(analysis: Analysis, label: str, workload: str) -> list[tuple[str, float]]:
    """host PSS split into the named parts a driver reported, then guest RAM: all additive."""
    def median(metric: str) -> float | None:
        values = analysis.values.get((label, workload, metric))
        return float(np.median(values)) if values is not None and len(values) else None

    host = median("memory.host_pss") or 0.0
    named = sorted((part, value) for (lab, wl, met) in analysis.values
                   if lab == label and wl == workload and (part := pss_part(met)) is not None
                   and (value := median(met)) is not None)
    parts: list[tuple[str, float]] = []
    if named and sum(v for _, v in named) <= host * 1.02:
        parts = [(f"host: {name} PSS", value) for name, value in named]
        rest = host - sum(v for _, v in named)
        if rest > host * 0.01:
            parts.append(("host: other processes PSS", rest))
    elif host:
        parts = [("host processes PSS", host)]
    guest = median("memory.guest_ram")
    return parts + ([("guest RAM (resident)", guest)] if guest else [])


def memory_breakdown(analysis: Analysis) -> Chart | None:
    rows = series(analysis, "memory.host_pss")
    if not rows:
        return None
    figure, colors = new_figure(), dict[str, str]()
    names = [plot_text(name) for name, _, _ in rows]
    for (_, label, workload), name in zip(rows, names, strict=True):
        for part, value in memory_parts(analysis, label, workload):
            first = part not in colors
            colors.setdefault(part, PHASE_COLORS[len(colors) % len(PHASE_COLORS)])
            figure.add_trace(go.Bar(
                y=[name], x=[value / MIB], name=plot_text(part), orientation="h",
                legendgroup=plot_text(part), showlegend=first, marker_color=colors[part],
                hoverinfo="text", hovertext=[plot_text(f"{part}: {format_value(value, 'bytes')}")]))
    add_totals(figure, analysis, rows, names)
    add_cgroup_marks(figure, analysis, rows, names)
    figure.update_layout(barmode="stack", bargap=0.35)
    figure.update_xaxes(title_text="MiB (medians)")
    figure.update_yaxes(autorange="reversed", categoryorder="array", categoryarray=names)
    return styled(figure, 90 + 45 * len(rows), "What one idle instance costs the host")


def add_totals(figure: go.Figure, analysis: Analysis, rows: list[tuple[str, str, str]],
               names: list[str]) -> None:
    """The total at the end of each bar, so small instances still show a number."""
    totals = [sum(v for _, v in memory_parts(analysis, lab, wl)) for _, lab, wl in rows]
    figure.add_trace(go.Scatter(
        y=names, x=[t / MIB for t in totals], mode="text", textposition="middle right",
        text=[f" {format_value(t, 'bytes')}" for t in totals], showlegend=False, hoverinfo="skip"))
    figure.update_xaxes(range=[0, max(totals, default=0) / MIB * 1.15 or 1])


def add_cgroup_marks(figure: go.Figure, analysis: Analysis, rows: list[tuple[str, str, str]],
                     names: list[str]) -> None:
    """The cgroup charge overlaps the PSS bars (same pages, counted differently): a marker."""
    points = [(name, float(np.median(v))) for (_, lab, wl), name in zip(rows, names, strict=True)
              if (v := analysis.values.get((lab, wl, "memory.cgroup"))) is not None and len(v)]
    if points:
        figure.add_trace(go.Scatter(
            y=[n for n, _ in points], x=[v / MIB for _, v in points], mode="markers",
            name="cgroup charge (overlaps the bars)",
            marker={"symbol": "diamond", "size": 11, "color": "black"},
            hoverinfo="text",
            hovertext=[f"cgroup charge: {format_value(v, 'bytes')}" for _, v in points]))


def memory_overhead(analysis: Analysis) -> Chart | None:
    stats = {(s.label, s.workload): s for s in analysis.stats
             if s.metric == "memory.overhead" and s.median is not None}
    rows = [row for row in series(analysis, "memory.overhead") if (row[1], row[2]) in stats]
    if not rows:
        return None
    points = [stats[(lab, wl)] for _, lab, wl in rows]
    medians = [s.median or 0.0 for s in points]
    figure = new_figure(go.Bar(
        y=[plot_text(name) for name, _, _ in rows], x=[m / MIB for m in medians],
        orientation="h", marker_color=[color_of(analysis, lab) for _, lab, _ in rows],
        error_x=interval_bars([(mib(s.median), mib(s.ci_low), mib(s.ci_high)) for s in points]),
        hoverinfo="text", showlegend=False,
        hovertext=[f"{format_value(s.median, 'bytes')}, 95 % interval "
                   f"{format_interval(s.ci_low, s.ci_high, 'bytes')}" for s in points]))
    figure.update_xaxes(title_text="MiB above the plain process (median, 95 % interval)")
    figure.update_yaxes(autorange="reversed")
    return styled(figure, 90 + 40 * len(rows), "memory.overhead: the price of isolation")


def mib(value: float | None) -> float | None:
    return None if value is None else value / MIB


def syscall_names(analysis: Analysis) -> list[str]:
    found = {met.removeprefix("syscall.") for (_, _, met) in analysis.values
             if met.startswith("syscall.")}
    return [n for n in SYSCALL_ORDER if n in found] + sorted(found - set(SYSCALL_ORDER))


def syscall_latency(analysis: Analysis) -> Chart | None:
    names = syscall_names(analysis)
    if not names:
        return None
    figure = new_figure()
    for name, label, workload in series(analysis, f"syscall.{names[0]}"):
        stats = {s.metric: s for s in analysis.stats if s.label == label
                 and s.workload == workload and s.median is not None}
        present = [n for n in names if f"syscall.{n}" in stats]
        rows = [stats[f"syscall.{n}"] for n in present]
        figure.add_trace(go.Scatter(
            x=[plot_text(n) for n in present], y=[s.median for s in rows],
            name=plot_text(name), mode="markers",
            marker={"size": 9, "color": color_of(analysis, label)},
            error_y=interval_bars([(s.median, s.ci_low, s.ci_high) for s in rows]),
            hoverinfo="text",
            hovertext=[plot_text(f"{name} / {n}: {format_value(s.median, 'ns')}") for n, s
                       in zip(present, rows, strict=True)]))
    figure.update_layout(scattermode="group")
    figure.update_yaxes(type="log", title_text="ns per call (median, 95 % interval; log)")
    figure.update_xaxes(title_text="system call")
    return styled(figure, 420, "Syscall latency inside each runtime")


def interval_bars(points: list[tuple[float | None, float | None, float | None]]
                  ) -> dict[str, object] | None:
    """Error bars from (median, low, high); none for a point without an interval (plotly draws
    a missing one as zero: so without caps, where some points have none, it draws nothing)."""
    bounded = [None not in point for point in points]
    if not any(bounded):
        return None
    bars: dict[str, object] = {
        "type": "data", "symmetric": False,
        "array": [high - mid if mid is not None and high is not None and low is not None
                  else 0.0 for mid, low, high in points],
        "arrayminus": [mid - low if mid is not None and high is not None and low is not None
                       else 0.0 for mid, low, high in points]}
    return bars if all(bounded) else {**bars, "width": 0}


def syscall_ratio(analysis: Analysis) -> Chart | None:
    names = syscall_names(analysis)
    figure, ratios = new_figure(), []
    for name, label, workload in series(analysis, f"syscall.{names[0]}") if names else []:
        rows = {s.metric: s.ratio for s in analysis.stats if s.label == label
                and s.workload == workload and s.ratio is not None}
        present = [n for n in names if f"syscall.{n}" in rows]
        if not present:
            continue
        points = [rows[f"syscall.{n}"] for n in present]
        ratios += [p[0] for p in points if p]
        figure.add_trace(go.Scatter(
            x=[plot_text(n) for n in present], y=[p[0] for p in points if p],
            name=plot_text(name), mode="markers",
            marker={"size": 9, "color": color_of(analysis, label)},
            error_y=interval_bars([p for p in points if p]),
            hoverinfo="text",
            hovertext=[plot_text(f"{name} / {n}: {format_ratio_interval(*p)} the baseline")
                       for n, p in zip(present, points, strict=True) if p]))
    if not ratios:
        return None
    figure.add_hline(y=1, line_dash="dash", line_color="#555")
    figure.update_layout(scattermode="group")
    log = spread(ratios + [1.0]) > 8
    figure.update_yaxes(type="log" if log else "linear",
                        title_text="times the process baseline" + (" (log)" if log else ""))
    return styled(figure, 380, "Syscall latency relative to the plain process")


def resolved(point: DensityPoint) -> DensityPoint:
    """A point as drawn: below resolution, at zero with its interval up to the resolution."""
    if point.resolution is None:
        return point
    return replace(point, median=0.0, ci_low=0.0, ci_high=point.resolution)


def density_charts(analysis: Analysis) -> list[Chart]:
    """Metrics named density.*: per instance count N, the median with its interval (the
    summary contract's density rows); a point below resolution has no median: it is drawn
    hollow at zero with a bar up to its resolution (the cost lies somewhere in there)."""
    found = {p.metric for run in analysis.runs for p in run.points}
    metrics = [m for m in DENSITY_ORDER if m in found] + sorted(found - set(DENSITY_ORDER))
    return [density_chart(analysis, metric) for metric in metrics[:MAX_DENSITY]]


def density_chart(analysis: Analysis, metric: str) -> Chart:
    """One density metric: a curve per runtime, drawn in the unit its largest median takes."""
    curves = [(run.label(runtime), [p for p in run.points if p.metric == metric
                                    and p.runtime == runtime])
              for run in analysis.runs
              for runtime in dict.fromkeys(p.runtime for p in run.points if p.metric == metric)]
    unit = curves[0][1][0].unit
    scale = display_scale([p.median for _, curve in curves for p in map(resolved, curve)], unit)
    figure, lows = new_figure(), []
    for label, found in curves:
        curve = [resolved(p) for p in found]
        lows += [p.median if p.ci_low is None else p.ci_low for p in curve]
        figure.add_trace(go.Scatter(
            x=[p.count for p in curve], y=[p.median / scale.divisor for p in curve],
            name=plot_text(label), mode="lines+markers", line_color=color_of(analysis, label),
            marker={"symbol": ["circle-open" if p.caveat else "circle" for p in curve]},
            error_y=interval_bars([(p.median / scale.divisor,
                                    None if p.ci_low is None else p.ci_low / scale.divisor,
                                    None if p.ci_high is None else p.ci_high / scale.divisor)
                                   for p in curve]),
            hoverinfo="text", hovertext=[plot_text(f"{label} at N={p.count}: {density_text(p)}")
                                         for p in found]))
    # runtimes differ by orders of magnitude (a guest's RAM against a namespace's KiB);
    # a log axis keeps every curve readable where every interval stays positive
    log = bool(lows) and min(lows) > 0 and spread(lows) > 10
    figure.update_xaxes(title_text="instances running at once (N)")
    figure.update_yaxes(type="log" if log else "linear", title_text=plot_text(
        f"{metric} ({scale.unit or 'no unit'}, median, 95 % interval{'; log' if log else ''})"))
    return styled(figure, 320, f"{metric} as instances are added")


def density_text(point: DensityPoint) -> str:
    """A density point's hover text: its median and interval, or its resolution."""
    if point.resolution is not None:
        return f"below resolution (\u00b1 {format_value(point.resolution, point.unit)})"
    return (f"{format_value(point.median, point.unit)}, 95 % interval "
            f"{format_interval(point.ci_low, point.ci_high, point.unit)}")
