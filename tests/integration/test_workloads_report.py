"""The workloads report as a person reads it (issue 26): `bench run` of configs/workloads.yaml
on process, native and docker, then its page in headless Chromium at 1280 px and `bench
summary` of the same run.

The run is the shipped config with shorter tool runs (2 s instead of 5 s, fewer redis
requests) and without the TCG guest, so it takes about two minutes; the synthetic workloads
page (tests.report_fixtures) brings the TCG guest and its missing intervals, and the trend
page gets the same checks. The full `bench run configs/workloads.yaml` is the config's own
header's business (its time is measured there).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from bench.history.database import open_store
from bench.history.location import store_url
from bench.history.queries import Filters, trend_points
from bench.history.record import record_run
from reports.html import write_report
from reports.trend import build_trend, write_trend
from runtimes.docker.driver import DockerDriver, DockerOptions
from runtimes.native.driver import NativeDriver, NativeOptions
from tests.conftest import require
from tests.history_fixtures import history_run
from tests.integration.browser_harness import check_page, open_report
from tests.integration.page_fit import WIDTH, at_width, on_first_screen, shown_text, sideways, widths
from tests.page_text import SCIENTIFIC, figure_specs, strings
from tests.report_fixtures import write_workload_results

T0 = 1_750_000_000.0

pytestmark = pytest.mark.browser

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "workloads.yaml"
HOST_RUNTIMES = ("process", "native", "docker")
SHORTER = {"--time=5": "--time=2", "--runtime=5": "--runtime=2", "200000": "20000"}
# reported only where the command used 1 s of CPU: a 2 s sysbench on a busy host may not
CONDITIONAL = "cpu.host_per_guest"
# each workload's main figure, as its tool names it: what the first screen must quote
MAIN = {"cpu": "events_per_s", "memory": "mib_per_s", "disk": "read_iops", "net": "get_rps",
        "server": "start.total"}


def bench(*args: str, timeout: int = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bench.cli", *args], capture_output=True,
                          text=True, timeout=timeout)


def short_config(folder: Path) -> Path:
    """configs/workloads.yaml on the host runtimes, with six repetitions of shorter runs."""
    document = yaml.safe_load(CONFIG.read_text())
    document.update(repetitions=6, warmup=0)
    document["runtimes"] = {name: document["runtimes"][name] for name in HOST_RUNTIMES}
    for spec in document["workloads"].values():
        spec.pop("overrides", None)
        spec["argv"] = [SHORTER.get(str(arg), arg) for arg in spec["argv"]]
    path = folder / "workloads-short.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    missing = [t for t in ("sysbench", "fio", "redis-server", "redis-benchmark") if not shutil.which(t)]
    require(not missing, f"the workload tools ({', '.join(missing)}; .ci/host-setup installs them)")
    require(NativeDriver.unavailable_reason(NativeOptions()) is None, "the native runtime")
    require(DockerDriver.unavailable_reason(DockerOptions()) is None, "dockerd")
    folder = tmp_path_factory.mktemp("workloads")
    out = folder / "run"
    done = bench("run", str(short_config(folder)), "-o", str(out), "--store", "none")
    assert done.returncode == 0, done.stderr[-3000:]
    return out


@pytest.mark.integration
@pytest.mark.docker
def test_every_workload_row_has_an_interval(run: Path) -> None:
    rows = json.loads(bench("summary", str(run), "--json").stdout)
    workloads = [r for r in rows if r["runtime"] in HOST_RUNTIMES]
    assert {r["workload"] for r in workloads} == set(MAIN)
    without = [(r["runtime"], r["workload"], r["metric"], r["n"], r["ci_note"]) for r in workloads
               if (r["ci_low"] is None or r["ci_high"] is None)
               and not (r["metric"] == CONDITIONAL and r["n"] < 6)]
    assert not without
    assert sum(r["metric"].startswith("workload.") for r in workloads) >= 3 * 20
    assert all(isinstance(r["median"], float) for r in workloads)  # the JSON keeps raw values


@pytest.mark.integration
@pytest.mark.docker
def test_the_page_reads_at_1280_px(run: Path, browser: Any, tmp_path: Path) -> None:
    page = run / "report.html"
    done = bench("report", str(run), "-o", str(page))
    assert done.returncode == 0, done.stderr
    check_fit(browser, page, tmp_path / "workloads.png")
    open_report(browser, page)  # at 1280 px again: the screenshot resized the window
    first = " ".join(on_first_screen(browser, "#summary ul.findings li"))
    for workload, figure in MAIN.items():
        assert re.search(rf"\b{workload} · {re.escape(figure)} \((higher|lower) is better\)",
                         first), (workload, first)
    charts = browser.execute_script(
        "return document.querySelectorAll('#workloads div[data-figure]').length")
    assert charts == len(MAIN)


def page_cells(browser: Any) -> dict[tuple[str, str, str], list[str]]:
    """Each workload table cell's lines (median, interval, ratio), by runtime, workload, metric."""
    found = browser.execute_script("""
        const out = [];
        for (const table of document.querySelectorAll('#workloads table.workload')) {
          const runtimes = Array.from(table.rows[0].cells).slice(2)
            .map(c => c.firstChild.textContent.trim());
          for (const row of Array.from(table.rows).slice(1)) {
            Array.from(row.cells).slice(2).forEach((cell, i) => out.push(
              [runtimes[i], table.dataset.workload, row.cells[0].innerText.trim(),
               cell.innerText]));
          }
        }
        return out;""")
    return {(runtime, workload, metric): [unmarked(line) for line in text.split("\n") if line.strip()]
            for runtime, workload, metric, text in found}


def unmarked(line: str) -> str:
    """A cell's line without its footnote's number: `none1` is `none`, `(no interval2)` is
    `(no interval)` (the terminal writes the reason's first words instead)."""
    return re.sub(r"(none|no interval)\d+", r"\1", line.strip())


def terminal_rows(text: str) -> dict[tuple[str, str, str], list[str]]:
    """`bench summary`'s table: cells by runtime, workload and metric (a folded cell joined)."""
    rows: list[list[str]] = []
    for line in text.splitlines():
        if not line.startswith("\u2502"):
            continue
        cells = [cell.strip() for cell in line.strip("\u2502").split("\u2502")]
        if cells[0]:
            rows.append(cells)
        else:
            rows[-1] = [f"{a} {b}".strip() for a, b in zip(rows[-1], cells, strict=True)]
    return {(r[0], r[1], r[2]): r for r in rows}


@pytest.mark.integration
@pytest.mark.docker
def test_bench_summary_prints_the_numbers_of_the_page(run: Path, browser: Any) -> None:
    bench("report", str(run), "-o", str(run / "report.html"))
    at_width(browser)
    check_page(browser, run / "report.html", run / "summary-check.png")
    cells = page_cells(browser)
    terminal = terminal_rows(bench("summary", str(run)).stdout)
    compared = 0
    for key, lines in cells.items():
        if len(lines) < 2:  # no measurement: a dash or "failed"
            continue
        row = terminal[key]
        if lines[1].startswith("none"):  # no interval: a footnote here, a short note there
            assert row[5] == lines[0] and row[6].startswith("none ("), (key, lines, row)
            continue
        assert row[5:8] == [*lines[:2], lines[2] if len(lines) > 2 else "-"], (key, lines, row)
        compared += 1
    assert compared >= len(HOST_RUNTIMES) * 20


def check_fit(browser: Any, page: Path, shot: Path) -> None:
    """At 1280 px: nothing wider than the window, no exponent shown; then check_page (every
    chart drawn, no error, no request), whose full-page screenshot resizes the window."""
    at_width(browser)
    open_report(browser, page)
    inner, scroll = widths(browser)
    assert inner == WIDTH and scroll <= inner, (inner, scroll)
    assert not sideways(browser)
    assert not SCIENTIFIC.findall(shown_text(browser))
    assert not [s for spec in figure_specs(page.read_text()) for s in strings(spec)
                if SCIENTIFIC.search(s)]  # nor in hover text, which shows under the mouse only
    check_page(browser, page, shot)


def test_a_tcg_guest_without_intervals_reads_at_1280_px(browser: Any, tmp_path: Path) -> None:
    """Two guest instances: no interval, said in footnotes and sentences; hatched in charts."""
    page = write_report([write_workload_results(tmp_path / "wl")], tmp_path / "wl.html")
    check_fit(browser, page, tmp_path / "wl.png")
    open_report(browser, page)
    first = " ".join(on_first_screen(browser, "#summary ul.findings li"))
    assert "libvirt (TCG guest)" in first and "(no interval: 2 instances)" in first
    assert browser.execute_script(
        "return document.querySelectorAll('#workloads div[data-figure]').length") == 5
    legend = browser.execute_script("return Array.from(document.querySelectorAll("
                                    "'#summary .legendtext')).map(e => e.textContent)")
    assert "libvirt (TCG guest)" in legend


def test_the_trend_page_reads_at_1280_px(browser: Any, tmp_path: Path) -> None:
    """Runs of the probe and of command workloads, 32-character run ids, a change point."""
    runs = [history_run(tmp_path / f"a{n}", f"{n:032x}", T0 + 3600 * n, seed=n,
                        scale=1.25 if n >= 6 else 1.0) for n in range(9)]
    for n in range(3):
        path = write_workload_results(tmp_path / f"w{n}", seed=n)
        manifest = json.loads((path / "manifest.json").read_text())
        manifest.update(run_id=f"{100 + n:032x}", created=T0 + 3600 * n + 60)
        (path / "manifest.json").write_text(json.dumps(manifest))
        runs.append(path)
    store = open_store(store_url(str(tmp_path / "history.sqlite"), tmp_path / "unused"))
    try:
        for path in runs:
            record_run(store, path)
        points = [p for p in trend_points(store, Filters()) if p.metric.endswith(
            ("total", "getppid", "_rps", "_iops", "_per_s", "clat_p99"))]
    finally:
        store.close()
    page = write_trend(build_trend(points, "time", store.name), tmp_path / "trend.html")
    check_fit(browser, page, tmp_path / "trend.png")
    assert browser.execute_script("return document.querySelectorAll('#changes td.id').length")
