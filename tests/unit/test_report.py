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
import pytest
from plotly.offline import get_plotlyjs

from bench.errors import ResultsError
from bench.report_command import add_parser
from bench.results.frames import load_samples
from bench.results.groups import load_groups
from bench.results.records import read_lines
from bench.results.sample import Sample
from bench.results.store import RunStore
from bench.results.summary import summary_json
from reports import analysis, figures
from reports.html import write_report
from reports.notes import run_warnings, wide_interval_warnings
from tests.report_fixtures import ALL, hostile_dir, write_results


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
def report(run_dir: Path) -> str:
    return write_report([run_dir], run_dir / "report.html").read_text()


# --- contents ---------------------------------------------------------------------------

def test_report_has_every_section_and_figure(report: str) -> None:
    for section in ("glance", "verdict", "boot", "memory", "syscalls", "density"):
        assert f'<section id="{section}">' in report
    slots = re.findall(r'data-figure="(figure-\d+)-data"', report)
    assert len(slots) == 7  # phases, boot ECDF, memory, overhead, latency, ratio, density
    for slot in slots:
        holder = re.search(rf'id="{slot}-data">(.*?)</script>', report, re.S)
        assert holder is not None
        spec = json.loads(holder.group(1))
        assert spec["data"] and "layout" in spec


def test_glance_shows_host_drivers_and_warnings(report: str) -> None:
    for text in ("6.1.0-test", "Test CPU", "v2", "engine_version: 20.10.24",
                 "seccomp: default", "accel: tcg", "synthetic run", "2023-11-14"):
        assert text in report
    assert "ran its guest under TCG" in report
    assert "2 failed: instance timed out after 60 s waiting for BENCH-READY" in report


def test_verdict_quotes_median_interval_and_ratio(run_dir: Path) -> None:
    result = analysis.analyse([run_dir])
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


def test_grouped_reading_gives_the_summary_frames_numbers(run_dir: Path, tmp_path: Path) -> None:
    """bench.results.groups reads fast; it must agree with bench.results.frames.load_samples exactly."""
    path = hostile_dir(tmp_path / "evil")
    for results in (run_dir, path):
        frame = load_samples(results)
        ok = frame[frame["status"] == "ok"]
        expected = {as_key(k): rows["value"].to_numpy(float)
                    for k, rows in ok.groupby(["runtime", "workload", "metric"], sort=False)}
        groups = load_groups(results)
        assert set(groups.values) == set(expected)
        for key, values in expected.items():
            assert np.array_equal(groups.values[key], values), key
        per_instance = ok.groupby(["runtime", "workload", "metric", "cell", "repetition"],
                                  sort=True)["value"].median()
        for key, instances in per_instance.groupby(level=[0, 1, 2], sort=False):
            assert np.array_equal(groups.instances[as_key(key)], instances.to_numpy(float)), key
        failed = frame[frame["status"] != "ok"].groupby(["runtime", "workload", "metric"]).size()
        assert groups.failed == {as_key(k): int(n) for k, n in failed.to_dict().items()}


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
        if stat.ratio is not None:
            assert stat.ratio == (row["ratio"], row["ratio_low"], row["ratio_high"])
            checked += 1
    assert checked >= 10
    getppid = rows[("docker", "syscalls", "syscall.getppid")]
    assert getppid["n"] == 6 and getppid["samples"] == 6 * 20  # instances, and their batches


def test_rows_without_an_interval_say_why_in_the_page(tmp_path: Path) -> None:
    path = write_results(tmp_path / "few", runtimes=ALL, repetitions=3)
    page = write_report([path], tmp_path / "few.html").read_text()
    assert "3 instances: a 95 % interval of a median needs at least 6" in page
    assert "(no interval:" in page


def test_two_runs_side_by_side_with_a_change_table(tmp_path: Path, run_dir: Path) -> None:
    later = write_results(tmp_path / "run-b", runtimes=ALL, repetitions=6, seed=2, scale=1.25)
    page = write_report([run_dir, later], tmp_path / "two.html").read_text()
    assert "run-a:docker" in page and "run-b:docker" in page
    assert '<section id="changes">' in page
    result = analysis.analyse([run_dir, later])
    change = next(c for c in result.changes if c.runtime == "docker"
                  and c.metric == "syscall.getppid")
    assert change.ratio[1] < 1.25 < change.ratio[2]
    assert "ran on a different host" not in page


def test_warnings_cover_small_runs_wide_intervals_and_missing_baseline(tmp_path: Path) -> None:
    path = write_results(tmp_path / "small", runtimes={"docker": "docker", "libvirt": "libvirt"},
                         repetitions=3)
    texts = [w.text for w in run_warnings(analysis.analyse([path]))]
    assert any("no runtime with the process driver" in t for t in texts)
    assert any("only 3 successful repetition(s), fewer than 6" in t for t in texts)
    assert not any("interval spans" in t for t in texts)  # 3 instances: no interval at all
    wide = analysis.Stat("r", "docker", "docker", "idle", "boot.total", "ms", 6, 0, 100.0, 50.0,
                         150.0)
    assert any("interval spans 100%" in w.text for w in wide_interval_warnings([wide]))


def test_empty_and_failed_only_runs_still_render(tmp_path: Path) -> None:
    store = RunStore.create(tmp_path / "empty", {"config": {"runtimes": {}}})
    store.update_manifest(status="interrupted")
    store.append([Sample.failed("process", "idle", "cell", 0, "the daemon is down")])
    store.close()
    page = write_report([tmp_path / "empty"], tmp_path / "empty.html").read_text()
    assert "is interrupted" in page and "the daemon is down" in page
    assert "data-figure=" not in page


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
    add_parser(top.add_subparsers(dest="command", required=True))
    return top


def test_report_command_writes_the_file(tmp_path: Path, run_dir: Path) -> None:
    args = parser().parse_args(["report", str(run_dir), "-o", str(tmp_path / "out.html")])
    assert args.handler(args) == 0
    assert (tmp_path / "out.html").read_text().startswith("<!DOCTYPE html>")


def test_report_command_defaults(tmp_path: Path, run_dir: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    one = parser().parse_args(["report", str(run_dir)])
    assert one.handler(one) == 0 and (run_dir / "report.html").exists()
    two = parser().parse_args(["report", str(run_dir), str(run_dir)])
    assert two.handler(two) == 0 and (tmp_path / "bench-report.html").exists()
    assert "run-a#2:docker" in (tmp_path / "bench-report.html").read_text()
