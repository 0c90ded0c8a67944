"""The comparative HTML report: one self-contained file, readable offline, safe to open.

The page is rendered from the Jinja2 templates in reports/templates with autoescaping on,
so every string that comes from a results directory (config, runtime names, host,
reasons) reaches the page as text. Figure JSON embedded in <script> goes through Jinja2's
htmlsafe_json_dumps, which turns <, > and & into \\u escapes so it can close nothing. The
page loads nothing from any host (see reports.page_assets).

What the page holds is decided in reports.sections; this module renders and writes it.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import jinja2
from jinja2.utils import htmlsafe_json_dumps

from bench.results.numbers import (
    format_interval,
    format_percent,
    format_ratio,
    format_ratio_interval,
    format_value,
)
from bench.results.run import Run
from foundation.errors import ResultsError
from reports.analysis import Analysis, Ratio, analyse, trend
from reports.figures import Chart
from reports.intervals import relative_text
from reports.page_assets import CSP, bench_version, packed_plotlyjs, write_page
from reports.sections import sections


def write_report(runs: Sequence[Path | Run], output: Path) -> Path:
    """Render one or more results directories (or runs already loaded) into `output`
    (written atomically)."""
    if not runs:
        raise ResultsError("the report needs at least one results directory")
    with ThreadPoolExecutor(1) as pool:  # zlib packs plotly.js while pandas loads the runs
        pool.submit(packed_plotlyjs)
        analysis = analyse(runs)
    return write_page(render(analysis), Path(output), "report")


def render(analysis: Analysis) -> str:
    shown = sections(analysis)
    drawn = any(section.charts for section in shown)
    descriptions = [run.manifest.config.description for run in analysis.runs]
    return environment().get_template("report.html.j2").render(
        title="bench report: " + " vs ".join(run.name for run in analysis.runs),
        subtitle=" | ".join(d for d in descriptions if d) or "What isolation costs on this host",
        sections=shown, csp=CSP, version=bench_version(),
        plotlyjs=packed_plotlyjs() if drawn else None)


@functools.cache
def environment() -> jinja2.Environment:
    """Templates from the package, every {{ value }} escaped, a missing name an error."""
    env = jinja2.Environment(loader=jinja2.PackageLoader("reports", "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters.update(value=format_value, interval=format_interval, figure_json=figure_json,
                       ratio_text=ratio_text, change_text=change_text, trend=trend,
                       times=format_ratio, change_point=change_point)
    env.globals.update(notes_of=notes_of)
    return env


def figure_json(chart: Chart) -> str:
    """The chart's plotly JSON as Markup, safe inside <script type="application/json">."""
    return htmlsafe_json_dumps(chart.figure, dumps=plotly_json)


def plotly_json(figure: Any, **_: Any) -> str:
    return str(figure.to_json(validate=False, pretty=False, remove_uids=True))


def ratio_text(ratio: Ratio) -> str:
    """1.52x [1.48, 1.57] (bench.results.numbers)."""
    return format_ratio_interval(*ratio)


def change_text(ratio: Ratio) -> str:
    point, low, high = ratio
    return relative_text(point - 1, low - 1, high - 1)


def change_point(point: float) -> str:
    """A later run's median over the first's, as a change: 1.012 is +1.2%."""
    return format_percent(point - 1)


class Noted(Protocol):
    """A table row that may lack an interval of its median or of its ratio (Stat, Cell)."""

    median: float | None
    ci_low: float | None
    ci_note: str | None
    ratio: Ratio | None
    ratio_point: float | None
    ratio_note: str | None


def notes_of(rows: Iterable[Noted | None]) -> list[str]:
    """The notes a table's cells point to (why a median or a ratio has no interval), each once,
    in the order the cells show them: the footnotes under the table."""
    found: list[str] = []
    for row in rows:
        if row is not None and row.median is not None:
            if row.ci_low is None and row.ci_note:
                found.append(row.ci_note)
            if row.ratio is None and row.ratio_point is not None and row.ratio_note:
                found.append(row.ratio_note)
    return list(dict.fromkeys(found))
