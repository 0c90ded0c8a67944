"""Every title on every page is text (issue 20, point 13): a metric, runtime, workload,
commit or host named like a link renders as those characters in the trend page's and the
run report's charts (axis titles, tick labels, legend, hover), and nothing on either page
is live. Loaded in headless Chromium (tests/integration/browser_harness.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench.history.database import open_store
from bench.history.location import store_url
from bench.history.queries import Filters, trend_points
from bench.history.record import record_run
from reports.html import write_report
from reports.trend import build_trend, write_trend
from tests.history_fixtures import history_run
from tests.integration.browser_harness import check_page, live_elements

pytestmark = pytest.mark.browser
T0 = 1_750_000_000.0
LINK = '<a href="https://example.com/pwned">click</a>'
METRIC = f"syscall.{LINK}"


def linked_run(path: Path, run_id: str, created: float, seed: int) -> Path:
    """A run whose native runtime, getppid metric, commit, branch and host are links."""
    history_run(path, run_id, created, seed=seed, config_commit=LINK, config_branch=LINK,
                host={"hostname": LINK})
    samples = [json.loads(line) for line in (path / "samples.jsonl").read_text().splitlines()]
    for sample in samples:
        sample["metric"] = METRIC if sample["metric"] == "syscall.getppid" else sample["metric"]
        sample["runtime"] = LINK if sample["runtime"] == "native" else sample["runtime"]
    (path / "samples.jsonl").write_text("".join(json.dumps(s) + "\n" for s in samples))
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["config"]["runtimes"][LINK] = manifest["config"]["runtimes"].pop("native")
    (path / "manifest.json").write_text(json.dumps(manifest))
    return path


def plot_texts(browser: Any) -> str:
    return str(browser.execute_script(
        "return Array.from(document.querySelectorAll('.js-plotly-plot text'))"
        ".map(t => t.textContent).join('\\n')"))


@pytest.mark.parametrize("by", ["time", "commit"])
def test_the_trend_page_shows_links_as_text(browser: Any, tmp_path: Path, by: str) -> None:
    runs = [linked_run(tmp_path / f"r{n}", f"r{n}", T0 + 3600 * n, n) for n in range(3)]
    store = open_store(store_url(str(tmp_path / "history.sqlite"), tmp_path / "unused"))
    try:
        for run in runs:
            record_run(store, run)
        points = trend_points(store, Filters(metric="syscall.*"))
    finally:
        store.close()
    page = write_trend(build_trend(points, by, store.name), tmp_path / f"trend-{by}.html")
    check_page(browser, page, tmp_path / f"trend-{by}.png")
    assert live_elements(browser) == []
    shown = plot_texts(browser)
    assert f"{METRIC} (ns)" in shown  # the y axis title, as typed
    assert LINK in shown  # a trace name in the legend (and, by commit, the tick labels)


def test_the_run_report_shows_links_as_text(browser: Any, tmp_path: Path) -> None:
    run = linked_run(tmp_path / "run", "report", T0, 1)
    page = write_report([run], tmp_path / "report.html")
    check_page(browser, page, tmp_path / "report.png")
    assert live_elements(browser) == []
    assert LINK in plot_texts(browser)
