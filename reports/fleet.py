"""The fleet report: the hosts of one `bench fleet run` side by side, as one offline page.

For each workload and metric, each host's runtimes as ratios to that host's own process
baseline (measured in the same sitting on that host, so they compare across hosts where
absolute figures do not) and as absolute medians with their 95 % intervals; then each
host's fingerprint, with what differs between them (CPU, kernel, accelerator, cgroup
layout) marked, and the hosts that failed with their reasons.

It reads results directories (the results layer) only: the fleet's orchestration hands it
FleetHost rows. The page is the report's kind (templates/page.html.j2): one file, plotly
inlined, a Content-Security-Policy that forbids every network load, every string escaped by
Jinja2's autoescaping, figures as plain dicts through tojson.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.history.identity import host_hash
from bench.results.manifest import Manifest
from bench.results.numbers import format_ratio, format_value
from bench.results.run import load_run
from bench.results.summary import interval_text, run_summary_json
from foundation.errors import ResultsError
from reports.analysis import trend
from reports.html import environment, ratio_text
from reports.trend import CHART_HEIGHT, PALETTE, Chart, is_phase, text

NO_VALUE = "\u2013"


@dataclass(frozen=True)
class FleetHost:
    """A host as the fleet ended it: `results` is its results directory (None: none came back)."""

    name: str
    where: str
    machine: str | None
    status: str
    reason: str | None
    results: Path | None


@dataclass(frozen=True)
class HostColumn:
    """A host as the page shows it, with its run's manifest and summary rows when it has one."""

    host: FleetHost
    manifest: Manifest | None  # None: no run came back, or it could not be read
    rows: list[dict[str, Any]]
    problem: str | None  # why its results could not be read
    report: str | None  # its run report, relative to the page

    @property
    def has_run(self) -> bool:
        return self.manifest is not None

    @property
    def run_id(self) -> str:
        return (self.manifest.run_id if self.manifest else None) or NO_VALUE

    @property
    def when(self) -> str:
        created = self.manifest.created if self.manifest else None
        if created is None:
            return NO_VALUE
        ended = self.manifest.ended if self.manifest else None
        took = f", {ended - created:.0f} s" if ended is not None else ""
        return f"{utc(created)} UTC{took}"


@dataclass(frozen=True)
class FactRow:
    label: str
    values: list[str]
    differs: bool


@dataclass(frozen=True)
class Cell:
    median: str
    interval: str
    ratio: str
    ratio_class: str
    note: str  # failed instances, or why there is no figure


@dataclass(frozen=True)
class MetricRow:
    runtime: str
    cells: list[Cell | None]  # one per host with a run; None: that host has no such row


@dataclass(frozen=True)
class Group:
    """One workload and metric: its chart (a trend page's kind) and its table's rows."""

    chart: Chart
    rows: list[MetricRow]


@dataclass
class FleetPage:
    title: str
    store: str
    written: str
    hosts: list[HostColumn]
    facts: list[FactRow] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)

    @property
    def ran(self) -> list[HostColumn]:
        return [column for column in self.hosts if column.has_run]

    @property
    def failed(self) -> list[HostColumn]:
        return [column for column in self.hosts if column.host.status != "done"]

    @property
    def differs(self) -> list[str]:
        return [fact.label for fact in self.facts if fact.differs]


def utc(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, tz=datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")


def column_of(host: FleetHost, page: Path) -> HostColumn:
    if host.results is None:
        return HostColumn(host, None, [], None, None)
    try:
        run = load_run(host.results)
    except ResultsError as error:
        return HostColumn(host, None, [], f"its results are unreadable: {error}", None)
    report = host.results / "report.html"
    href = report.relative_to(page.parent).as_posix() if report.is_file() and \
        report.is_relative_to(page.parent) else None
    return HostColumn(host, run.manifest, run_summary_json(run), None, href)


def build_fleet(hosts: list[FleetHost], page: Path, title: str, store: str) -> FleetPage:
    columns = [column_of(host, page) for host in hosts]
    fleet = FleetPage(title, store, utc(datetime.datetime.now(tz=datetime.UTC).timestamp()),
                      columns)
    fleet.facts = fingerprint_rows(fleet.ran)
    fleet.groups = metric_groups(fleet.ran)
    return fleet


# --- what differs between the hosts --------------------------------------------------------

def fingerprint_rows(columns: list[HostColumn]) -> list[FactRow]:
    """The facts that decide a host's numbers, one row each; `differs` where hosts disagree."""
    ran = [(column, column.manifest) for column in columns if column.manifest is not None]
    hosts = [manifest.host for _, manifest in ran]
    facts: list[tuple[str, list[str]]] = [
        ("CPU model", [str(h.get("cpu_model") or NO_VALUE) for h in hosts]),
        ("cores", [str(h.get("cores") or NO_VALUE) for h in hosts]),
        ("architecture", [str(h.get("arch") or NO_VALUE) for h in hosts]),
        ("kernel", [str(h.get("kernel") or NO_VALUE) for h in hosts]),
        ("cgroup layout", [str(h.get("cgroup_version") or NO_VALUE) for h in hosts]),
        ("accelerator", [accelerators(manifest) for _, manifest in ran]),
        ("mitigations", [mitigations(h.get("mitigations")) for h in hosts]),
        ("memory", [format_value(h.get("memory_bytes"), "bytes") for h in hosts]),
        ("host fingerprint", [host_hash(manifest)[:8] for _, manifest in ran]),
        ("machine", [column.host.machine or NO_VALUE for column, _ in ran]),
        ("host name", [str(h.get("hostname") or NO_VALUE) for h in hosts]),
        ("bench", [f"{h.get('bench_version') or '?'} {str(h.get('bench_commit') or '')[:12]}"
                   for h in hosts]),
    ]
    exact = {"mitigations": [json.dumps(h.get("mitigations"), sort_keys=True) for h in hosts]}
    return [FactRow(label, values, len(set(exact.get(label, values))) > 1)
            for label, values in facts]


def accelerators(manifest: Manifest) -> str:
    """The accelerator each guest runtime really used (kvm, tcg), or that none ran a guest."""
    used = [f"{name}: {info['accel']}" for name, info in sorted(manifest.drivers.items())
            if info.get("accel")]
    return "; ".join(used) or "no guest runtime"


def mitigations(listed: Any) -> str:
    if not isinstance(listed, dict) or not listed:
        return NO_VALUE
    vulnerable = sorted(name for name, state in listed.items()
                        if str(state).lower().startswith("vulnerable"))
    text = f"{len(listed) - len(vulnerable)} of {len(listed)} mitigated or not affected"
    return f"{text}; vulnerable: {', '.join(vulnerable)}" if vulnerable else text


# --- the figures side by side --------------------------------------------------------------

GroupKey = tuple[str, str, Any]  # workload, metric, density count (None: not a ladder row)


def metric_groups(columns: list[HostColumn]) -> list[Group]:
    """One group per workload and metric (boot and teardown sub-phases are left to each host's
    own report), its runtimes in the order the hosts list them."""
    keys: dict[GroupKey, dict[str, None]] = {}
    found: dict[tuple[GroupKey, str, int], dict[str, Any]] = {}
    for index, column in enumerate(columns):
        for row in column.rows:
            if is_phase(row["metric"]):
                continue
            key = (row["workload"], row["metric"], row.get("count"))
            keys.setdefault(key, {})[row["runtime"]] = None
            found[(key, row["runtime"], index)] = row
    return [group_of(key, list(runtimes), columns, found) for key, runtimes in keys.items()]


def group_of(key: GroupKey, runtimes: list[str], columns: list[HostColumn],
             found: dict[tuple[GroupKey, str, int], dict[str, Any]]) -> Group:
    workload, metric, count = key
    rows = [MetricRow(runtime, [cell_of(found.get((key, runtime, i)))
                                for i in range(len(columns))]) for runtime in runtimes]
    unit = next(row["unit"] for (k, _, _), row in found.items() if k == key)
    at = f" @N={count}" if count is not None else ""
    caption = f"{metric}{at} \u00b7 {workload} ({unit or 'no unit'})"
    return Group(Chart(caption, figure_of(key, runtimes, columns, found)), rows)


def cell_of(row: dict[str, Any] | None) -> Cell | None:
    if row is None:
        return None
    point, low, high = row.get("ratio"), row.get("ratio_low"), row.get("ratio_high")
    if point is None or low is None or high is None:
        shown = NO_VALUE if point is None else f"{format_ratio(point)} (no interval)"
        css = "same"
    else:
        ratio = (float(point), float(low), float(high))
        shown, css = ratio_text(ratio), trend(ratio, row["metric"], row.get("direction") or "")
    failed = int(row.get("failed") or 0)
    note = row.get("caveat") or (f"{failed} failed" if failed else "")
    return Cell(format_value(row.get("median"), row["unit"]), interval_text(row), shown, css,
                str(note))


def figure_of(key: GroupKey, runtimes: list[str], columns: list[HostColumn],
              found: dict[tuple[GroupKey, str, int], dict[str, Any]]) -> dict[str, Any]:
    """Bars per runtime, one colour per host: ratios to each host's own baseline with their
    intervals where the metric has ratios, else absolute medians with theirs."""
    rows = {(runtime, i): found.get((key, runtime, i)) for runtime in runtimes
            for i in range(len(columns))}
    ratios = any(row and row.get("ratio") is not None for row in rows.values())
    fields = ("ratio", "ratio_low", "ratio_high") if ratios else ("median", "ci_low", "ci_high")
    unit = next(row["unit"] for row in rows.values() if row)
    data = [bars(column.host.name, PALETTE[i % len(PALETTE)],
                 [(runtime, rows[(runtime, i)]) for runtime in runtimes], fields, unit)
            for i, column in enumerate(columns)]
    title = f"× the host's own {baseline_name(columns)}" if ratios else f"{key[1]} ({unit})"
    layout: dict[str, Any] = {
        "height": CHART_HEIGHT, "barmode": "group", "hovermode": "closest",
        "margin": {"l": 70, "r": 20, "t": 10, "b": 60}, "legend": {"orientation": "h", "y": -0.25},
        "yaxis": {"title": {"text": text(title)}, "rangemode": "tozero"},
        "xaxis": {"type": "category"}}
    if ratios:
        layout["shapes"] = [{"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": 1, "y1": 1,
                             "line": {"color": "#5b6474", "dash": "dot", "width": 1}}]
    return {"data": data, "layout": layout}


def bars(host: str, color: str, points: list[tuple[str, dict[str, Any] | None]],
         fields: tuple[str, str, str], unit: str) -> dict[str, Any]:
    shown = [(runtime, row) for runtime, row in points if row and row.get(fields[0]) is not None]
    values = [row[fields[0]] for _, row in shown]
    low = [row[fields[1]] for _, row in shown]
    high = [row[fields[2]] for _, row in shown]
    return {"type": "bar", "name": text(host), "x": [text(runtime) for runtime, _ in shown],
            "y": values, "marker": {"color": color},
            "error_y": {"type": "data", "symmetric": False,
                        "array": [h - v if h is not None else 0 for v, h in zip(values, high, strict=True)],
                        "arrayminus": [v - lo if lo is not None else 0
                                       for v, lo in zip(values, low, strict=True)]},
            "hovertext": [text(f"{host} · {runtime} · {hover(row, fields, unit)}")
                          for runtime, row in shown],
            "hovertemplate": "%{hovertext}<extra></extra>"}


def hover(row: dict[str, Any], fields: tuple[str, str, str], unit: str) -> str:
    if fields[0] == "ratio":
        return f"{format_ratio(row['ratio'])} its own baseline; median {format_value(row['median'], unit)}"
    return f"median {format_value(row['median'], unit)} [{interval_text(row)}]"


def baseline_name(columns: list[HostColumn]) -> str:
    names = {column.manifest.baseline or "" for column in columns if column.manifest} - {""}
    return f"baseline ({', '.join(sorted(names))})" if names else "process baseline"


# --- the page ------------------------------------------------------------------------------

def render(fleet: FleetPage) -> str:
    """The page, from templates/fleet.html.j2 on the report's skeleton (page.html.j2), in the
    report's template environment (autoescape, a missing name an error)."""
    from reports.page_assets import CSP, bench_version, packed_plotlyjs

    return environment().get_template("fleet.html.j2").render(
        title=f"bench fleet: {fleet.title}", subtitle=fleet.title, fleet=fleet, csp=CSP,
        plotlyjs=packed_plotlyjs() if fleet.groups else None, version=bench_version())


def write_fleet_report(hosts: list[FleetHost], output: Path, title: str, store: str) -> Path:
    """The fleet's page, written atomically."""
    from reports.page_assets import write_page

    return write_page(render(build_fleet(hosts, output.absolute(), title, store)), output,
                      "fleet report")
