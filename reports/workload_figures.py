"""The command workloads' charts: one per workload in the Workloads section, and on the first
screen one chart of every workload's main figures as ratios to the plain process.

A workload's chart draws each main figure (reports.workloads.main_metrics) per runtime: the
median as a bar in the unit people read (bench.results.numbers), its 95 % interval as an error
bar, and which way is better on the axis. A TCG guest is marked in its name and hatched: its
figures describe an emulator. Every number shown (bar text, hover) is written by
bench.results.numbers, never by plotly's own formats.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from bench.results.numbers import (
    display_scale,
    format_interval,
    format_ratio,
    format_ratio_interval,
    format_value,
)
from reports.figures import COMPARABLE, Chart, interval_bars, new_figure, plot_text, spread, styled
from reports.workloads import Cell, Row

TCG_PATTERN = {"shape": "/", "fgcolor": "#7a1f1f", "size": 6, "solidity": 0.3}
BAR_PX, PANEL_PX = 34, 70  # a bar's height, and the axes' share of a chart
BETTER = {"higher": "higher is better \u2192", "lower": "\u2190 lower is better"}


def shown_label(label: str, tcg: Sequence[str]) -> str:
    """A runtime's name in a chart: a TCG guest says so."""
    return f"{label} (TCG guest)" if label in tcg else label


def metric_name(metric: str) -> str:
    """A metric as an axis names it: workload.read_iops is read_iops."""
    return metric.removeprefix("workload.")


def measured(row: Row) -> list[Cell]:
    """The cells with a median, in the row's runtime order."""
    return [cell for cell in row.cells if cell.median is not None]


def bar_hover(cell: Cell, row: Row) -> str:
    interval = format_interval(cell.ci_low, cell.ci_high, row.unit) if cell.ci_low is not None \
        else f"no interval ({cell.n} instances)"
    ratio = f"<br>{ratio_words(cell)}" if cell.ratio_point is not None else ""
    return plot_text(f"{format_value(cell.median, row.unit)}, 95 % interval {interval}") + ratio


def workload_chart(workload: str, rows: list[Row], tcg: Sequence[str]) -> Chart | None:
    """One workload's main figures: a panel per figure, a bar per runtime with its interval
    (a dot where the runtimes differ so much that the panel needs a log axis: a bar's length
    means nothing there)."""
    rows = merged([row for row in rows if row.main and measured(row)])
    if not rows:
        return None
    figure = make_subplots(rows=1, cols=len(rows), shared_yaxes=True, horizontal_spacing=0.08,
                           figure=new_figure())
    names: list[str] = []
    for column, row in enumerate(rows, start=1):
        cells = measured(row)
        scale = display_scale([c.median or 0.0 for c in cells], row.unit)
        log = row.direction == "lower" and spread(c.median or 0.0 for c in cells) > COMPARABLE
        for cell in cells:  # a trace each: a runtime without an interval draws no error bar
            name = plot_text(shown_label(cell.label, tcg))
            names += [] if name in names else [name]
            figure.add_trace(runtime_mark(cell, row, name, scale.divisor, cell.label in tcg, log),
                             row=1, col=column)
        figure.update_xaxes(type="log" if log else "linear", rangemode="tozero", row=1,
                            col=column, title_text=axis_title(row, scale.unit, log))
    figure.update_yaxes(autorange="reversed", categoryorder="array", categoryarray=names)
    figure.update_layout(bargap=0.3, barmode="overlay")
    return styled(figure, PANEL_PX + BAR_PX * len(names),
                  f"{workload}: {', '.join(metric_name(r.metric) for r in rows)} per runtime "
                  "(medians, 95 % intervals)")


def merged(rows: list[Row]) -> list[Row]:
    """One row per metric: several runs' rows of a workload metric share its panel."""
    found: dict[str, Row] = {}
    for row in rows:
        known = found.get(row.metric)
        found[row.metric] = row if known is None else replace(known, cells=known.cells + row.cells)
    return list(found.values())


def runtime_mark(cell: Cell, row: Row, name: str, divisor: float, tcg: bool,
                 log: bool) -> go.Bar | go.Scatter:
    """A runtime's median: a bar from zero, or on a log axis a dot; a TCG guest hatched or
    hollow. The value is written beside it, the interval and ratio in its hover text."""
    common = {"y": [name], "x": [(cell.median or 0.0) / divisor], "showlegend": False,
              "error_x": error_bars(cell, divisor), "hoverinfo": "text",
              "hovertext": [bar_hover(cell, row)],
              "text": [plot_text(format_value(cell.median, row.unit))]}
    if log:
        return go.Scatter(**common, mode="markers+text", textposition="top center",
                          marker={"size": 11, "color": "#4c78a8", "symbol": "circle-open"
                                  if tcg else "circle", "line": {"width": 2}})
    return go.Bar(**common, orientation="h", textposition="auto", insidetextanchor="start",
                  marker={"color": "#b9c3d3" if tcg else "#4c78a8",
                          "pattern": {**TCG_PATTERN, "shape": "/" if tcg else ""}})


def axis_title(row: Row, unit: str, log: bool) -> str:
    """The figure, its unit and which way is better (a second line), for plotly's pseudo-HTML."""
    name = plot_text(f"{metric_name(row.metric)}, {unit or 'no unit'}{' (log)' if log else ''}")
    return f"{name}<br>{BETTER.get(row.direction, '')}"


def error_bars(cell: Cell, divisor: float) -> dict[str, object] | None:
    """The median's 95 % interval; none where a runtime has too few instances for one."""
    if cell.ci_low is None or cell.ci_high is None or cell.median is None:
        return None
    return {"type": "data", "symmetric": False, "color": "#1d2433", "thickness": 1.5,
            "array": [(cell.ci_high - cell.median) / divisor],
            "arrayminus": [(cell.median - cell.ci_low) / divisor]}


def findings_chart(rows: list[Row], baseline: str, tcg: Sequence[str],
                   colors: dict[str, str]) -> Chart | None:
    """Every workload's main figures as ratios to the process: a group of dots per figure, one
    colour per runtime (a TCG guest hollow), intervals as error bars, 1 (the process) dashed."""
    rows = [row for row in rows if row.main]
    labels = list(dict.fromkeys(c.label for row in rows for c in row.cells
                                if c.ratio_point is not None and c.label != baseline))
    if not labels:
        return None
    figure, ratios = new_figure(), [1.0]
    ticks = [plot_text(f"{row.workload}: {metric_name(row.metric)}") + "<br>"
             + BETTER.get(row.direction, "") for row in rows]
    for label in labels:
        cells = [(tick, cell) for tick, row in zip(ticks, rows, strict=True)
                 for cell in row.cells if cell.label == label and cell.ratio_point is not None]
        ratios += [cell.ratio_point for _, cell in cells if cell.ratio_point]
        figure.add_trace(go.Scatter(
            x=[tick for tick, _ in cells], y=[cell.ratio_point for _, cell in cells],
            name=plot_text(shown_label(label, tcg)), mode="markers",
            marker={"size": 11, "color": colors.get(label, "#4c78a8"), "line": {"width": 2},
                    "symbol": "diamond-open" if label in tcg else "circle"},
            error_y=interval_bars([cell.ratio or (cell.ratio_point, None, None)
                                   for _, cell in cells]),
            hovertext=[plot_text(f"{shown_label(label, tcg)}: {ratio_words(cell)}")
                       for _, cell in cells], hoverinfo="text"))
    figure.update_xaxes(categoryorder="array", categoryarray=ticks)
    figure.add_hline(y=1, line_dash="dash", line_color="#555")
    log = spread(ratios) > 8
    figure.update_yaxes(type="log" if log else "linear", title_text="\u00d7 the process, 95 % "
                        "interval" + (" (log)" if log else ""))
    figure.update_layout(scattermode="group")
    return styled(figure, 360, "Each workload's main figures against the plain process "
                               "(ratio of medians; 1 is the process)")


def ratio_words(cell: Cell) -> str:
    if cell.ratio:
        return f"{format_ratio_interval(*cell.ratio)} the process"
    return f"{format_ratio(cell.ratio_point)} the process (no interval)"
