"""The HTML report: contents, escaping, self-containment, aggregation and the CLI command."""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from plotly.offline import get_plotlyjs

from bench.cli import add_command
from bench.commands import report as report_command
from bench.results.derived import COLUMNS, overhead_records
from bench.results.groups import load_groups
from bench.results.manifest import Manifest, RunConfig, read_manifest
from bench.results.records import read_lines, read_samples
from bench.results.sample import Sample
from bench.results.summary import summary_json
from bench.results.writer import RunWriter
from foundation.errors import ResultsError
from reports import analysis, figures, page_assets, sections
from reports.html import figure_json, render, write_report
from reports.notes import run_warnings, wide_interval_warnings
from tests.report_fixtures import ALL, HOSTILE, hostile_dir, write_results


class Elements(HTMLParser):
    """Every start tag with its attributes, and the text of each <script>."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self._script: dict[str, str | None] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self._script = dict(attrs)
            self.scripts.append((self._script, ""))

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._script = None


def parse(page: str) -> Elements:
    elements = Elements()
    elements.feed(page)
    return elements


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_results(tmp_path_factory.mktemp("runs") / "run-a", runtimes=ALL, repetitions=6,
                         failures=2, density=True)


@pytest.fixture(scope="module")
def result(run_dir: Path) -> analysis.Analysis:
    return analysis.analyse([run_dir])


@pytest.fixture(scope="module")
def report(run_dir: Path) -> str:
    return write_report([run_dir], run_dir / "report.html").read_text()


# --- contents ---------------------------------------------------------------------------

def sections_of(page: str) -> list[str]:
    return re.findall(r'<section id="([^"]+)">', page)


def nav_of(page: str) -> list[str]:
    nav = re.search(r"<nav>(.*?)</nav>", page, re.S)
    assert nav is not None
    return re.findall(r'<a href="#([^"]+)">', nav.group(1))


def test_report_has_every_section_and_figure(report: str) -> None:
    expected = ["summary", "verdict", "boot", "memory", "syscalls", "spectrum", "density", "setup"]
    assert sections_of(report) == expected and nav_of(report) == expected
    slots = re.findall(r'data-figure="(figure-[a-z]+-\d+)-data"', report)
    # phases, boot ECDF, memory, overhead, latency, ratio, instance levels, spectrum, four
    # density metrics
    assert len(slots) == 12
    for slot in slots:
        holder = re.search(rf'id="{slot}-data">(.*?)</script>', report, re.S)
        assert holder is not None
        spec = json.loads(holder.group(1))
        assert spec["data"] and "layout" in spec


def section_text(page: str, key: str) -> str:
    found = re.search(rf'<section id="{key}">(.*?)</section>', page, re.S)
    assert found is not None, key
    return found.group(1)


def test_first_screen_says_what_the_run_measured(report: str) -> None:
    summary = section_text(report, "summary")
    assert report.index('<section id="summary">') < report.index('<section id="verdict">')
    assert "synthetic run" in summary and "6 repetitions (+1 warm-up)" in summary
    assert "Test CPU, 2 cores, kernel 6.1.0-test" in summary
    heads = re.findall(r"<th>([^<]+)(?:<br><small>([^<]+)</small>)?</th>", summary)
    assert heads == [("runtime", ""), ("driver", ""), ("instances", ""), ("boot.total", "idle"),
                     ("memory.overhead", "idle"), ("syscall.getppid", "syscalls"),
                     ("density.mem_available_per_instance", "at the largest N"),
                     ("density.pss_per_instance", "at the largest N")]
    rows = dict(re.findall(r"<tr><td>([a-z]+)</td><td>[a-z]+</td>(.*?)</tr>", summary, re.S))
    assert list(rows) == ["process", "native", "docker", "libvirt"]
    assert "idle: 6" in rows["native"] and "syscalls: 6" in rows["native"]
    assert "baseline" in rows["process"] and "density: up to 16 at once" in rows["process"]
    assert re.search(r'class="worse">1\.\d+x \[', rows["docker"])  # getppid 1.3x
    assert "(2 failed)" in rows["libvirt"] and "up to 4 at once" in rows["libvirt"]
    assert "ran its guest under TCG" in summary
    assert "2 failed: instance timed out after 60 s waiting for BENCH-READY" in summary


def test_setup_shows_host_and_drivers(report: str) -> None:
    setup = section_text(report, "setup")
    for text in ("6.1.0-test", "Test CPU", "v2", "engine_version: 20.10.24",
                 "seccomp: default", "accel: tcg", "synthetic run", "2023-11-14"):
        assert text in setup


def test_a_density_run_leaves_out_the_empty_sections(tmp_path: Path) -> None:
    path = write_results(tmp_path / "density", runtimes=ALL, density_only=True)
    page = write_report([path], tmp_path / "density.html").read_text()
    assert sections_of(page) == nav_of(page) == ["summary", "density", "setup"]
    assert "No successful measurements" not in page and "Boot is the time" not in page
    summary = section_text(page, "summary")
    assert "density: up to 16 at once" in summary and "idle:" not in summary
    assert "boot.total" not in summary and "<th>density.pss_per_instance<br>" in summary
    assert re.search(r"<td class=\"num\">[\d.]+ MiB \(N=16\)", summary)
    assert "stopped early at N=8" in summary  # the ladder that hit the memory floor
    assert len(re.findall(r'data-figure="figure-density-\d+-data"', page)) == 4  # 4 metrics


def test_a_new_section_is_one_function(result: analysis.Analysis,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The extension point later sections use (workloads, spectrum, cross-checks)."""
    def extra(found: analysis.Analysis) -> sections.Section | None:
        chart = figures.boot_distribution(found)
        return sections.Section("extra", f"Extra {HOSTILE}", "Extra", [f"note {HOSTILE}"],
                                [chart] if chart else [])

    monkeypatch.setattr(sections, "SECTIONS", (extra, sections.setup))
    page = render(result)
    assert sections_of(page) == nav_of(page) == ["extra", "setup"]
    extra_card = section_text(page, "extra")
    assert 'data-figure="figure-extra-1-data"' in extra_card and HOSTILE not in page
    assert "<h2>Extra &lt;script&gt;" in extra_card and "<p>note &lt;script&gt;" in extra_card


def test_verdict_quotes_median_interval_and_ratio(result: analysis.Analysis) -> None:
    stats = {(s.label, s.workload, s.metric): s for s in result.stats}
    docker = stats[("docker", "syscalls", "syscall.getppid")]
    assert docker.ratio is not None
    point, low, high = docker.ratio
    assert low < 1.3 < high or abs(point - 1.3) < 0.05
    assert low <= point <= high
    assert stats[("process", "syscalls", "syscall.getppid")].ratio is None  # the baseline
    assert stats[("docker", "idle", "memory.overhead")].ratio is None  # a difference, no ratio
    boot = stats[("libvirt", "idle", "boot.total")]
    assert boot.ci_low is not None and boot.ci_low <= (boot.median or 0) <= (boot.ci_high or 0)
    assert result.labels[0] == "process" and result.labels[-1] == "libvirt"  # by boot time


def test_boot_phases_are_in_time_order() -> None:
    rows = [("r", 1, "spawn"), ("r", 1, "ready"), ("r", 2, "ready"), ("r", 2, "spawn"),
            ("r", 3, "spawn"), ("r", 3, "ready")]
    frame = pd.DataFrame([{"runtime": r, "cell": c, "phase": p, "value": 1.0} for r, c, p in rows])
    assert analysis.phase_order(frame) == {"r": ["spawn", "ready"]}


def as_key(key: object) -> tuple[str, str, str]:
    assert isinstance(key, tuple) and len(key) == 3
    return (str(key[0]), str(key[1]), str(key[2]))


def every_sample(path: Path) -> pd.DataFrame:
    """The reference for the grouped reader: every sample in one pandas frame, with the
    derived memory.overhead rows appended."""
    samples = read_samples(path)
    derived = overhead_records(samples, read_manifest(path).baseline)
    return pd.DataFrame([*samples, *derived], columns=COLUMNS).astype({"value": float})


def test_grouped_reading_gives_the_frames_numbers(run_dir: Path, tmp_path: Path) -> None:
    """bench.results.groups reads fast; it must agree exactly with pandas' grouping of every
    sample."""
    path = hostile_dir(tmp_path / "evil")
    for results in (run_dir, path):
        frame = every_sample(results)
        ok = frame[frame["status"] == "ok"]
        expected = {as_key(k): rows["value"].to_numpy(float)
                    for k, rows in ok.groupby(["runtime", "workload", "metric"], sort=False)}
        groups = load_groups(results, read_manifest(results).baseline)
        assert set(groups.values) == set(expected)
        for key, values in expected.items():
            assert np.array_equal(groups.values[key], values), key
        per_instance = ok.groupby(["runtime", "workload", "metric", "cell", "repetition"],
                                  sort=True)["value"].median()
        for key, instances in per_instance.groupby(level=[0, 1, 2], sort=False):
            assert np.array_equal(groups.instances[as_key(key)], instances.to_numpy(float)), key
        failed = frame[frame["status"] != "ok"].groupby(["runtime", "workload", "metric"]).size()
        assert groups.failed == {as_key(k): int(n) for k, n in failed.to_dict().items()}


def test_memory_parts_come_from_one_naming_function(result: analysis.Analysis) -> None:
    assert [figures.pss_part(m) for m in ("memory.host_pss.shim", "memory.host_pss.workload",
                                          "memory.host_pss", "memory.shim_pss", "memory.cgroup")] \
        == ["shim", "workload", None, None, None]
    parts = dict(figures.memory_parts(result, "docker", "idle"))
    assert list(parts)[:2] == ["host: shim PSS", "host: workload PSS"]  # 11 + 0.9 of 12 MB
    assert sum(parts.values()) == pytest.approx(12e6, rel=0.05)  # the parts add up to host PSS


def test_large_groups_are_downsampled_before_plotting() -> None:
    x, y = figures.quantile_points(np.random.default_rng(0).lognormal(size=100_000))
    assert len(x) == len(y) == figures.MAX_POINTS
    small, steps = figures.quantile_points(np.array([3.0, 1.0, 2.0]))
    assert list(small) == [1.0, 2.0, 3.0] and list(steps) == pytest.approx([1 / 3, 2 / 3, 1])


def test_the_report_quotes_the_summary_contract(run_dir: Path) -> None:
    """What the page shows is what `bench summary --json` prints: same instances, same
    intervals, same ratios."""
    result = analysis.analyse([run_dir])
    rows = {(r["runtime"], r["workload"], r["metric"]): r for r in summary_json(run_dir)}
    checked = 0
    for stat in result.stats:
        row = rows[(stat.runtime, stat.workload, stat.metric)]
        assert (stat.n, stat.samples, stat.median, stat.ci_low, stat.ci_high, stat.ci_note) == (
            row["n"], row["samples"], row["median"], row["ci_low"], row["ci_high"], row["ci_note"])
        if not analysis.is_headline(stat.metric):
            continue  # the page quotes no ratio of a boot or teardown step
        # every headline row, the baseline's and the differences' too (no ratio on either side)
        interval = None if row["ratio_low"] is None else (row["ratio"], row["ratio_low"],
                                                          row["ratio_high"])
        assert (stat.ratio_point, stat.ratio) == (row["ratio"], interval), stat
        checked += interval is not None
    assert checked >= 10
    getppid = rows[("docker", "syscalls", "syscall.getppid")]
    assert getppid["n"] == 6 and getppid["samples"] == 6 * 20  # instances, and their batches


def test_rows_without_an_interval_say_why_in_the_page(tmp_path: Path) -> None:
    """The reason is a footnote under the table, a number in the cell: a long note in a
    column pushed the ratios off a 1280 px window."""
    path = write_results(tmp_path / "few", runtimes=ALL, repetitions=3)
    page = write_report([path], tmp_path / "few.html").read_text()
    note = "3 instances: a 95 % interval of a median needs at least 6"
    assert f'<ol class="footnotes"><li>{note}</li></ol>' in page
    assert 'none<sup class="mark">1</sup>' in page
    assert re.search(r'[\d.]+x \(no interval<sup class="mark">1</sup>\)', page)
    assert not [cell for cell in re.findall(r"<td[^>]*>(.*?)</td>", page, re.S) if note in cell]


def test_two_runs_side_by_side_with_a_change_table(tmp_path: Path, run_dir: Path) -> None:
    later = write_results(tmp_path / "run-b", runtimes=ALL, repetitions=6, seed=2, scale=1.25)
    page = write_report([run_dir, later], tmp_path / "two.html").read_text()
    assert "run-a:docker" in page and "run-b:docker" in page
    assert "changes" in sections_of(page) and "changes" in nav_of(page)
    assert "<strong>run-a</strong>" in page and "<strong>run-b</strong>" in page
    result = analysis.analyse([run_dir, later])
    change = next(c for c in result.changes if c.runtime == "docker"
                  and c.metric == "syscall.getppid")
    assert change.ratio[1] < 1.25 < change.ratio[2]
    assert "ran on a different host" not in page


def test_runs_with_nothing_in_common_have_no_change_table(tmp_path: Path, run_dir: Path) -> None:
    other = write_results(tmp_path / "other", runtimes={"runc": "native"}, repetitions=5)
    both = analysis.analyse([run_dir, other])
    assert sections.changes(both) is None
    assert any("share no runtime, workload and metric" in w.text for w in run_warnings(both))


def test_warnings_cover_small_runs_wide_intervals_and_missing_baseline(tmp_path: Path) -> None:
    path = write_results(tmp_path / "small", runtimes={"docker": "docker", "libvirt": "libvirt"},
                         repetitions=3)
    texts = [w.text for w in run_warnings(analysis.analyse([path]))]
    assert any("no runtime with the process driver" in t for t in texts)
    few = [t for t in texts if "Fewer than 6 successful repetitions" in t]
    assert few == ["Fewer than 6 successful repetitions, so intervals are wide or missing: "
                   "docker / idle (3), docker / syscalls (3), libvirt / idle (3), "
                   "libvirt / syscalls (3)"]
    assert not any("interval spans" in t for t in texts)  # 3 instances: no interval at all
    wide = analysis.Stat("r", "docker", "docker", "idle", "boot.total", "ms", 6, 0, 100.0, 50.0,
                         150.0)
    assert any("interval spans 100%" in w.text for w in wide_interval_warnings([wide]))


def test_empty_and_failed_only_runs_still_render(tmp_path: Path) -> None:
    store = RunWriter.create(tmp_path / "empty", Manifest(config=RunConfig({"runtimes": {}})))
    store.interrupt("SIGINT")
    store.append([Sample.failed("process", "idle", "cell", 0, "the daemon is down")])
    store.close()
    page = write_report([tmp_path / "empty"], tmp_path / "empty.html").read_text()
    assert sections_of(page) == ["summary", "setup"]
    summary = section_text(page, "summary")
    assert "No successful measurements" in summary
    assert "is interrupted" in summary and "the daemon is down" in summary
    assert "data-figure=" not in page and "plotly-js" not in page  # no chart, no plotly.js


def test_write_report_refuses_nothing_and_unwritable(tmp_path: Path, run_dir: Path) -> None:
    with pytest.raises(ResultsError, match="at least one"):
        write_report([], tmp_path / "x.html")
    with pytest.raises(ResultsError, match="no such results directory"):
        write_report([tmp_path / "missing"], tmp_path / "x.html")
    (tmp_path / "file").write_text("")
    with pytest.raises(ResultsError, match="cannot write the report"):
        write_report([run_dir], tmp_path / "file" / "report.html")


# --- safety: escaping and self-containment ---------------------------------------------

def test_hostile_strings_are_text_never_markup(tmp_path: Path) -> None:
    page = write_report([hostile_dir(tmp_path / "evil")], tmp_path / "evil.html").read_text()
    elements = parse(page)
    assert "<img" not in page and "alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert not [t for t, attrs in elements.tags if any(k.startswith("on") for k in attrs)]
    ours = [attrs for attrs, _ in elements.scripts]
    holders = [a for a in ours if a.get("type") == "application/json"]
    assert len(ours) == len(holders) + 2  # the packed plotly.js and the loader, nothing else
    for attrs, text in elements.scripts:
        if attrs.get("type") == "application/json":
            assert "<" not in text and ">" not in text
            # plotly renders a subset of HTML in names, ticks and titles: all escaped
            assert not [s for s in strings(json.loads(text)) if "<" in s]


def test_figure_json_cannot_close_its_script_element() -> None:
    name = figures.plot_text(f"{HOSTILE}</script><!--<script>&")
    chart = figures.Chart("c", go.Figure(go.Bar(x=[1], y=[name], name=name)))
    text = str(figure_json(chart))
    assert not set("<>&") & set(text)  # not even an entity: JSON \\u escapes only
    spec = json.loads(text)
    assert spec["data"][0]["name"] == name == (
        "&lt;script&gt;alert(1)&lt;/script&gt;&lt;/script&gt;&lt;!--&lt;script&gt;&amp;")


def test_plot_text_keeps_quotes_that_plotly_would_not_decode() -> None:
    assert figures.plot_text('a<b>&"c\'') == 'a&lt;b&gt;&amp;"c\''


def test_the_page_inlines_the_style_sheet_and_loader_unchanged(report: str) -> None:
    assert page_assets.STYLE.strip() in report and page_assets.LOADER.strip() in report
    assert report.count('id="plotly-js"') == 1


def test_packed_plotlyjs_is_compressed_once_per_plotly_version(report: str) -> None:
    # the report warms this in a thread and reads it again for the page: one compression
    first = page_assets.packed_plotlyjs()
    hits = page_assets.packed_plotlyjs.cache_info().hits
    assert page_assets.packed_plotlyjs() is first
    assert page_assets.packed_plotlyjs.cache_info().hits == hits + 1
    assert gzip.decompress(base64.b64decode(first)).decode() == get_plotlyjs()


def strings(node: object, key: str = "") -> list[str]:
    """Every string plotly will render as text (its hover templates are its own syntax)."""
    if isinstance(node, dict):
        return [s for k, v in node.items() if k != "hovertemplate" for s in strings(v, k)]
    if isinstance(node, list):
        return [s for item in node for s in strings(item, key)]
    return [node] if isinstance(node, str) else []


def test_no_reference_to_any_other_host(report: str) -> None:
    elements = parse(report)
    packed = [text for attrs, text in elements.scripts if attrs.get("id") == "plotly-js"]
    assert len(packed) == 1
    # the only URL strings in the file are inside the unmodified, compressed plotly.js
    assert gzip.decompress(base64.b64decode(packed[0])).decode() == get_plotlyjs()
    rest = report.replace(packed[0], "")
    assert not re.search(r"\b(https?|wss?|ftp):|//[a-z0-9.-]+\.[a-z]{2,}", rest, re.I)
    assert not re.search(r"\b(fetch|XMLHttpRequest|WebSocket|importScripts|import)\s*\(", rest)
    for tag, attrs in elements.tags:
        assert tag not in {"link", "iframe", "img", "object", "embed", "base", "form"}
        for name in ("src", "href", "action", "data", "poster"):
            value = attrs.get(name)
            assert value is None or value.startswith("#"), (tag, name, value)
    csp = next(a["content"] for t, a in elements.tags if a.get("http-equiv") ==
               "Content-Security-Policy")
    assert csp is not None and "default-src 'none'" in csp and "connect-src 'none'" in csp


def test_plotly_config_turns_off_links_and_the_cloud(report: str) -> None:
    for setting in ('"displaylogo": false', '"showLink": false', '"showSendToCloud": false',
                    '"showEditInChartStudio": false', '"typesetMath": false'):
        assert setting in report


# --- the store's fast path keeps read_lines' behaviour ----------------------------------

@pytest.mark.parametrize(("content", "expected"), [
    ('{"a": 1}\n{"a": 2}\n', [1, 2]),
    ('{"a": 1}\r\n{"a": 2}\r\n', [1, 2]),
    ('{"a": 1}\n{"a": 2}', [1, 2]),
    ('{"a": 1}\n{"a": 2}\n{"a": ', [1, 2]),
    ("", []),
])
def test_read_lines_fast_path(tmp_path: Path, content: str, expected: list[int]) -> None:
    (tmp_path / "x.jsonl").write_text(content)
    assert [r["a"] for r in read_lines(tmp_path, "x.jsonl")] == expected


@pytest.mark.parametrize("content", ['{"a": 1}\n\n{"a": 2}\n', '{"a": 1}\n{"a"\n{"a": 2}\n',
                                     '{"a": 1}, {"a": 3}\n{"a": 2}\n'])
def test_read_lines_still_refuses_corrupt_lines(tmp_path: Path, content: str) -> None:
    (tmp_path / "x.jsonl").write_text(content)
    with pytest.raises(ResultsError, match="line 1 is corrupt|line 2 is corrupt"):
        read_lines(tmp_path, "x.jsonl")


# --- the command --------------------------------------------------------------------------

def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="bench")
    add_command(top.add_subparsers(dest="command", required=True), report_command)
    return top


def test_report_command_writes_the_file(tmp_path: Path, run_dir: Path) -> None:
    args = parser().parse_args(["report", str(run_dir), "-o", str(tmp_path / "out.html")])
    assert args.main(args) == 0
    assert (tmp_path / "out.html").read_text().startswith("<!DOCTYPE html>")


def test_report_command_defaults(tmp_path: Path, run_dir: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    one = parser().parse_args(["report", str(run_dir)])
    assert one.main(one) == 0 and (run_dir / "report.html").exists()
    two = parser().parse_args(["report", str(run_dir), str(run_dir)])
    assert two.main(two) == 0 and (tmp_path / "bench-report.html").exists()
    assert "run-a#2:docker" in (tmp_path / "bench-report.html").read_text()
