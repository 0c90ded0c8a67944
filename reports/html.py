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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import jinja2
from jinja2.utils import htmlsafe_json_dumps

from bench.results.units import direction_of, format_interval, format_value
from foundation.errors import ResultsError
from reports.analysis import Analysis, Ratio, analyse
from reports.figures import Chart
from reports.intervals import relative_text
from reports.page_assets import CSP, bench_version, packed_plotlyjs, write_page
from reports.sections import sections


def write_report(results_dirs: list[Path], output: Path) -> Path:
    """Render one or more results directories into `output` (written atomically)."""
    if not results_dirs:
        raise ResultsError("the report needs at least one results directory")
    with ThreadPoolExecutor(1) as pool:  # zlib packs plotly.js while pandas loads the runs
        pool.submit(packed_plotlyjs)
        analysis = analyse([Path(p) for p in results_dirs])
    return write_page(render(analysis), Path(output), "report")


def render(analysis: Analysis) -> str:
    shown = sections(analysis)
    drawn = any(section.charts for section in shown)
    descriptions = [str(run.manifest.get("config", {}).get("description") or "")
                    for run in analysis.runs]
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
                       ratio_text=ratio_text, change_text=change_text, trend=trend)
    return env


def figure_json(chart: Chart) -> str:
    """The chart's plotly JSON as Markup, safe inside <script type="application/json">."""
    return htmlsafe_json_dumps(chart.figure, dumps=plotly_json)


def plotly_json(figure: Any, **_: Any) -> str:
    return str(figure.to_json(validate=False, pretty=False, remove_uids=True))


def trend(ratio: Ratio, metric: str, direction: str = "") -> str:
    """The CSS class of a metric's ratio: same when its interval holds 1, else worse or better,
    by the direction its samples carry (else its family's)."""
    point, low, high = ratio
    if low <= 1 <= high:
        return "same"
    lower = (direction or direction_of(metric)) == "lower"
    return "worse" if (point > 1) == lower else "better"


def ratio_text(ratio: Ratio) -> str:
    point, low, high = ratio
    return f"{times(point)}\u00d7 [{times(low)} \u2026 {times(high)}]"


def times(factor: float) -> str:
    """Three significant digits, without an exponent: 1.48, 82.6, 2,180."""
    return f"{factor:,.0f}" if abs(factor) >= 1000 else f"{factor:.3g}"


def change_text(ratio: Ratio) -> str:
    point, low, high = ratio
    return relative_text(point - 1, low - 1, high - 1)
