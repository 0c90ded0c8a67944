"""The comparative HTML report: one self-contained file, readable offline, safe to open.

Every string that comes from a results directory (config, runtime names, host, reasons)
is escaped with html.escape before it reaches the page, and figure JSON embedded in
<script> is escaped so it can close nothing. The page loads nothing from any host (see
reports.page_assets).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from html import escape
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

import bench
from bench.errors import ResultsError
from bench.results.units import format_interval, format_value
from reports import figures
from reports.analysis import Analysis, Change, Run, Stat, analyse, is_headline, is_phase
from reports.notes import NOTES, drivers_of, run_warnings, uses_tcg
from reports.page_assets import CSP, LOADER, STYLE, packed_plotlyjs

FAMILIES = (("boot", "Boot"), ("memory", "Memory"), ("syscall", "Syscalls"), ("stop", "Teardown"))
HOST_FIELDS = (("kernel", "kernel"), ("kernel_version", "kernel build"), ("arch", "arch"),
               ("cpu_model", "CPU"), ("cores", "cores"), ("memory_bytes", "memory"),
               ("cgroup_version", "cgroup version"), ("hostname", "hostname"),
               ("python", "Python"), ("bench_version", "bench"), ("bench_commit", "commit"))


def write_report(results_dirs: list[Path], output: Path) -> Path:
    """Render one or more results directories into `output` (written atomically)."""
    if not results_dirs:
        raise ResultsError("the report needs at least one results directory")
    with ThreadPoolExecutor(1) as pool:  # zlib packs plotly.js while pandas loads the runs
        pool.submit(packed_plotlyjs)
        analysis = analyse([Path(p) for p in results_dirs])
    page = render(analysis)
    output = Path(output)
    partial = output.with_name(output.name + ".partial")
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        partial.write_text(page, encoding="utf-8")
        os.replace(partial, output)
    except OSError as error:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        raise ResultsError(f"{output}: cannot write the report ({error.strerror})") from None
    return output


class Page:
    """Collects figure slots while sections are rendered."""

    def __init__(self) -> None:
        self.count = 0

    def figure(self, chart: figures.Chart | None) -> str:
        if chart is None:
            return ""
        self.count += 1
        slot = f"figure-{self.count}"
        height = int(chart.figure.layout.height or 400)
        return (f'<h3 class="caption">{escape(chart.caption)}</h3>'
                f'<div class="figure" id="{slot}" data-figure="{slot}-data" '
                f'style="min-height:{height}px"></div>\n'
                f'<script type="application/json" id="{slot}-data">{figure_json(chart.figure)}'
                "</script>\n")


def script_safe(text: str) -> str:
    """JSON that cannot end its <script> element: <, > and & become \\u escapes."""
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def figure_json(figure: go.Figure) -> str:
    return script_safe(figure.to_json(validate=False, pretty=False, remove_uids=True))


def render(analysis: Analysis) -> str:
    page = Page()
    title = "bench report: " + " vs ".join(run.name for run in analysis.runs)
    body = "".join([
        glance_section(analysis), verdict_section(analysis), boot_section(analysis, page),
        memory_section(analysis, page), syscall_section(analysis, page),
        density_section(analysis, page), changes_section(analysis)])
    return "".join([
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n',
        f'<meta http-equiv="Content-Security-Policy" content="{escape(CSP)}">\n',
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n',
        f"<title>{escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        header(analysis), '<div id="plot-status">Drawing the charts\u2026</div>\n',
        f"<main>\n{body}</main>\n", footer(),
        f'<script type="text/plain" id="plotly-js">{packed_plotlyjs()}</script>\n',
        f"<script>{LOADER}</script>\n</body>\n</html>\n"])


def header(analysis: Analysis) -> str:
    descriptions = [str(run.manifest.get("config", {}).get("description") or "")
                    for run in analysis.runs]
    subtitle = " | ".join(d for d in descriptions if d) or "What isolation costs on this host"
    links = [("glance", "At a glance"), ("verdict", "Verdict"), ("boot", "Boot"),
             ("memory", "Memory"), ("syscalls", "Syscalls")]
    if any(len(run.density) for run in analysis.runs):
        links.append(("density", "Density"))
    if len(analysis.runs) > 1:
        links.append(("changes", "Changes"))
    nav = "".join(f'<a href="#{key}">{text}</a>' for key, text in links)
    return (f'<header class="top"><h1>What isolation costs</h1><p>{escape(subtitle)}</p>'
            f"</header>\n<nav>{nav}</nav>\n")


def footer() -> str:
    return (f"<footer>bench {escape(bench.__version__)}: medians with bootstrap 95 % intervals;"
            " ratios against the plain process of the same run.</footer>\n")


def section(key: str, title: str, content: str, notes: Sequence[str] = (),
            wide: bool = False) -> str:
    """A card: content with the notes beside it, or (wide) the notes above a full-width table."""
    aside = ""
    if notes:
        paragraphs = "".join(f"<p>{escape(n)}</p>" for n in notes)
        aside = f'<aside class="note"><h3>What this means</h3>{paragraphs}</aside>'
    inner = f"{aside}<div>{content}</div>" if wide else f"<div>{content}</div>{aside}"
    layout = "layout wide" if wide else "layout"
    return (f'<section id="{key}"><h2>{escape(title)}</h2><div class="{layout}">{inner}</div>'
            "</section>\n")


def facts(items: Iterable[tuple[str, Any]]) -> str:
    rows = "".join(f"<dt>{escape(str(k))}</dt><dd>{escape(text_of(v))}</dd>" for k, v in items
                   if v not in (None, "", {}))
    return f'<dl class="facts">{rows}</dl>'


def text_of(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def when(epoch: Any) -> str | None:
    if not isinstance(epoch, int | float):
        return None
    moment = datetime.datetime.fromtimestamp(epoch, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def run_facts(run: Run) -> str:
    config = run.manifest.get("config") or {}
    created, ended = run.manifest.get("created"), run.manifest.get("ended")
    took = (f"{ended - created:.0f} s" if isinstance(created, int | float)
            and isinstance(ended, int | float) else None)
    runtimes = {name: (spec or {}).get("driver") for name, spec in
                (config.get("runtimes") or {}).items()}
    workloads = {name: (spec or {}).get("mode") for name, spec in
                 (config.get("workloads") or {}).items()}
    return facts([
        ("results", str(run.path)), ("started", when(created)), ("took", took),
        ("status", run.manifest.get("status")), ("run id", run.manifest.get("run_id")),
        ("config", run.manifest.get("config_path")), ("description", config.get("description")),
        ("repetitions", f"{config.get('repetitions')} (+{config.get('warmup', 0)} warm-up)"),
        ("runtimes", ", ".join(f"{k} ({v})" for k, v in runtimes.items())),
        ("workloads", ", ".join(f"{k} ({v})" for k, v in workloads.items())),
        ("baseline", run.baseline or "none")])


def host_facts(run: Run) -> str:
    host = run.manifest.get("host") or {}
    known = [(label, host_value(key, host.get(key))) for key, label in HOST_FIELDS]
    mitigations = host.get("mitigations") or {}
    listed = "; ".join(f"{k}: {v}" for k, v in mitigations.items()) if isinstance(
        mitigations, dict) else text_of(mitigations)
    other = [(k, v) for k, v in host.items() if k not in dict(HOST_FIELDS) and k != "mitigations"]
    return facts(known + other) + (f"<details><summary>CPU vulnerability mitigations</summary>"
                                   f"<p>{escape(listed)}</p></details>" if listed else "")


def host_value(key: str, value: Any) -> Any:
    if key == "memory_bytes" and isinstance(value, int | float):
        return format_value(float(value), "bytes")
    return value


KEY_FACTS = ("isolation", "accel", "seccomp", "runtime", "runtime_version", "engine_version",
             "containerd_version", "libvirt_version", "hypervisor_version", "domain_type",
             "cpu_model", "cgroup_version")


def driver_table(run: Run) -> str:
    """The facts that decide each runtime's numbers; the whole fingerprint folds out."""
    drivers = drivers_of(run)
    if not drivers:
        return "<p>No driver fingerprints recorded.</p>"
    rows = []
    for name, fingerprint in drivers.items():
        key = " \u00b7 ".join(f"{k}: {text_of(fingerprint[k])}" for k in KEY_FACTS
                               if fingerprint.get(k) not in (None, "", [], {}))
        every = escape(json.dumps(fingerprint, indent=1, sort_keys=True, default=str))
        rows.append([name, fingerprint.get("driver", "?"), key,
                     Html(f"<details><summary>all</summary><pre>{every}</pre></details>")])
    return table(["runtime", "driver", "what decides its numbers", "fingerprint"], rows)


def table(head: Sequence[str], rows: Iterable[Sequence[Any]],
          numeric: Sequence[int] = ()) -> str:
    top = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = []
    for row in rows:
        cells = "".join(cell_html(value, index in numeric) for index, value in enumerate(row))
        body.append(f"<tr>{cells}</tr>")
    return f'<div class="table-wrap"><table><tr>{top}</tr>{"".join(body)}</table></div>'


class Html(str):
    """Markup this module built itself (everything inside already escaped)."""


def cell_html(value: Any, numeric: bool) -> str:
    inner = value if isinstance(value, Html) else escape(text_of(value))
    return f'<td class="num">{inner}</td>' if numeric else f"<td>{inner}</td>"


def glance_section(analysis: Analysis) -> str:
    parts = []
    for run in analysis.runs:
        title = f"<h3>Run {escape(run.name)}</h3>" if len(analysis.runs) > 1 else ""
        parts.append(f'{title}<div class="pair"><div><h3>Run</h3>{run_facts(run)}</div>'
                     f"<div><h3>Host</h3>{host_facts(run)}</div></div>"
                     f"<h3>Drivers</h3>{driver_table(run)}")
    warnings = run_warnings(analysis)
    if warnings:
        items = "".join(f"<li>{escape(w.text)}</li>" for w in warnings)
        box = f'<div class="warnings"><strong>Warnings</strong><ul>{items}</ul></div>'
    else:
        box = '<p class="ok-box">No warnings: every cell succeeded and intervals are narrow.</p>'
    notes = ["Numbers only compare when they come from the same host, kernel and settings: "
             "this section records them. The drivers' fingerprints say which engine, "
             "seccomp profile and accelerator each runtime really used."]
    return section("glance", "Run at a glance", box + "".join(parts), notes, wide=True)


def without_interval(point: float | None, note: str | None, text: str) -> Html:
    """A figure too uncertain for a 95 % interval: the point and the reason, never a fake one."""
    if point is None:
        return Html("\u2013")
    return Html(f'<span class="same">{escape(text)} (no interval: {escape(note or "")})</span>')


def ratio_cell(ratio: tuple[float, float, float] | None) -> Html:
    """The ratio with its interval, coloured when the interval excludes 1."""
    if ratio is None:
        return Html("\u2013")
    point, low, high = ratio
    css = "same" if low <= 1 <= high else ("worse" if point > 1 else "better")
    text = f"{point:.3g}\u00d7 [{low:.3g} \u2026 {high:.3g}]"
    return Html(f'<span class="{css}">{escape(text)}</span>')


def stat_row(stat: Stat) -> list[Any]:
    interval = format_interval(stat.ci_low, stat.ci_high, stat.unit) \
        if stat.ci_low is not None or stat.median is None else stat.ci_note
    ratio = ratio_cell(stat.ratio) if stat.ratio is not None else without_interval(
        stat.ratio_point, stat.ratio_note, f"{stat.ratio_point or 0:.3g}\u00d7")
    return [stat.label, stat.workload, stat.metric, stat.n,
            format_value(stat.median, stat.unit), interval, ratio, stat.failed]


METRIC_ORDER = ("boot.total", "memory.host_pss", "memory.guest_ram", "memory.cgroup",
                "memory.overhead", *(f"syscall.{name}" for name in figures.SYSCALL_ORDER))


def metric_rank(metric: str) -> int:
    return METRIC_ORDER.index(metric) if metric in METRIC_ORDER else len(METRIC_ORDER)


def ordered_stats(analysis: Analysis, stats: Iterable[Stat]) -> list[Stat]:
    """Headline metrics first, in reading order; then runtimes from lightest to heaviest."""
    def key(stat: Stat) -> tuple[int, str, int, str]:
        return (metric_rank(stat.metric), stat.metric, figures.label_rank(analysis, stat.label),
                stat.workload)
    return sorted(stats, key=key)


VERDICT_HEAD = ["runtime", "workload", "metric", "n", "median", "95 % interval of the median",
                "\u00d7 baseline [95 %]", "failed"]
NUMERIC = (3, 4, 5, 6, 7)


def verdict_section(analysis: Analysis) -> str:
    headline = [s for s in analysis.stats if is_headline(s.metric)]
    blocks = []
    for family, title in [*FAMILIES, ("", "Other")]:
        rows = [s for s in headline if family_of(s.metric) == family]
        if rows:
            blocks.append(f"<h3>{escape(title)}</h3>" + table(
                VERDICT_HEAD, (stat_row(s) for s in ordered_stats(analysis, rows)),
                numeric=NUMERIC))
    phases = [s for s in analysis.stats if is_phase(s.metric)]
    if phases:
        blocks.append("<details><summary>Boot phases, every runtime and workload</summary>" +
                      table(VERDICT_HEAD, (stat_row(s) for s in ordered_stats(analysis, phases)),
                            numeric=NUMERIC) + "</details>")
    content = "".join(blocks) or "<p>No successful measurements in these results.</p>"
    return section("verdict", "Verdict: every runtime and metric", content, NOTES["verdict"],
                   wide=True)


def family_of(metric: str) -> str:
    family = metric.split(".", 1)[0]
    return family if family in {f for f, _ in FAMILIES} else ""


def tcg_notes(analysis: Analysis) -> list[str]:
    return NOTES["tcg"] if uses_tcg(analysis) else []


def boot_section(analysis: Analysis, page: Page) -> str:
    content = page.figure(figures.boot_phases(analysis)) + page.figure(
        figures.boot_distribution(analysis))
    return section("boot", "Boot: from request to ready", content or "<p>No boot samples.</p>",
                   NOTES["boot"] + tcg_notes(analysis))


def memory_section(analysis: Analysis, page: Page) -> str:
    content = page.figure(figures.memory_breakdown(analysis)) + page.figure(
        figures.memory_overhead(analysis))
    return section("memory", "Memory: what an idle instance costs",
                   content or "<p>No memory samples.</p>", NOTES["memory"])


def syscall_section(analysis: Analysis, page: Page) -> str:
    content = page.figure(figures.syscall_latency(analysis)) + page.figure(
        figures.syscall_ratio(analysis))
    return section("syscalls", "Syscalls: the cost of one call",
                   content or "<p>No syscall samples.</p>",
                   NOTES["syscalls"] + tcg_notes(analysis))


def density_section(analysis: Analysis, page: Page) -> str:
    content = "".join(page.figure(f) for f in figures.density_charts(analysis))
    return section("density", "Density: many instances at once", content,
                   NOTES["density"]) if content else ""


def change_row(change: Change) -> list[Any]:
    before_after = [change.runtime, change.workload, change.metric, change.against,
                    format_value(change.before, change.unit), format_value(change.after, change.unit)]
    if change.ratio is None:
        return [*before_after, without_interval(change.point, change.note,
                                                f"{change.point - 1:+.1%}")]
    point, low, high = change.ratio
    css = "same" if low <= 1 <= high else ("worse" if point > 1 else "better")
    text = f"{point - 1:+.1%} [{low - 1:+.1%} \u2026 {high - 1:+.1%}]"
    return [change.runtime, change.workload, change.metric, change.against,
            format_value(change.before, change.unit), format_value(change.after, change.unit),
            Html(f'<span class="{css}">{escape(text)}</span>')]


def changes_section(analysis: Analysis) -> str:
    if len(analysis.runs) < 2:
        return ""
    first = analysis.runs[0]

    def key(change: Change) -> tuple[int, str, int, str, str]:
        return (metric_rank(change.metric), change.metric,
                figures.label_rank(analysis, first.label(change.runtime)), change.workload,
                change.against)

    rows = sorted(analysis.changes, key=key)
    content = table(["runtime", "workload", "metric", "later run", f"median in {first.name}",
                     "median later", "change [95 %]"], (change_row(c) for c in rows),
                    numeric=(4, 5, 6)) if rows else "<p>The runs share no runtime and metric.</p>"
    return section("changes", f"Changes against {first.name}", content, NOTES["changes"],
                   wide=True)
