"""The trend page in headless Chromium: every chart drawn, no console error, no network
request, and hostile names shown as text (the checks of tests/integration/test_report_browser.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench.history.database import open_store
from bench.history.location import store_url
from bench.history.queries import Filters, trend_points
from bench.history.record import record_run
from reports.trend import build_trend, write_trend
from tests.history_fixtures import history_run
from tests.integration.browser_harness import check_page
from tests.report_fixtures import HOSTILE, HOSTILE_IMG

pytestmark = pytest.mark.browser
T0 = 1_750_000_000.0


def trend_page(tmp_path: Path, runs: list[Path], by: str = "time") -> Path:
    store = open_store(store_url(str(tmp_path / "history.sqlite"), tmp_path / "unused"))
    try:
        for run in runs:
            record_run(store, run)
        points = trend_points(store, Filters(metric="syscall.getppid"))
    finally:
        store.close()
    return write_trend(build_trend(points, by, store.name), tmp_path / f"trend-{by}.html")


def test_trend_draws_offline_with_bands_and_change_points(browser: Any,
                                                          tmp_path: Path) -> None:
    """Two hosts, a 25 % step after 6 runs on one of them: both series drawn, the step
    marked and linked to the runs on its sides."""
    runs = [history_run(tmp_path / f"a{n}", f"a{n}", T0 + 3600 * n, seed=n,
                        scale=1.25 if n >= 6 else 1.0) for n in range(9)]
    runs += [history_run(tmp_path / f"b{n}", f"b{n}", T0 + 3600 * n + 60, seed=40 + n,
                         host={"kernel": "6.9.0-other", "cpu_model": "Other CPU", "cores": 8,
                               "hostname": "runner-2"}) for n in range(3)]
    page = trend_page(tmp_path, runs, "commit")
    check_page(browser, page, tmp_path / "trend.png")
    after = browser.execute_script(
        "return Array.from(document.querySelectorAll('#changes tr td:nth-child(6) a'))"
        ".map(a => a.textContent)")
    assert after == ["a6", "a6"]  # process and native: the first run after the step
    before = browser.execute_script(
        "return Array.from(document.querySelectorAll('#changes tr td:nth-child(5) a'))"
        ".map(a => a.getAttribute('href'))")
    assert len(set(before)) == 1
    row = browser.execute_script(f"return document.getElementById('{before[0][1:]}').textContent")
    assert row.startswith("a5")  # the last run before the step
    legend = browser.execute_script(
        "return Array.from(document.querySelectorAll('.legendtext')).map(e => e.textContent)")
    assert any("runner-2" in text for text in legend)


def test_hostile_names_in_the_trend_show_as_text(browser: Any, tmp_path: Path) -> None:  # noqa: F811
    evil = f"{HOSTILE}</script><!--{HOSTILE_IMG}"
    runs = [history_run(tmp_path / f"e{n}", f"{evil}{n}", T0 + 60 * n, seed=n,
                        config_branch=evil, config_commit=evil) for n in range(3)]
    for run in runs:
        manifest = json.loads((run / "manifest.json").read_text())
        manifest["host"]["hostname"] = evil
        (run / "manifest.json").write_text(json.dumps(manifest))
    page = trend_page(tmp_path, runs)
    check_page(browser, page, tmp_path / "evil.png")
    assert browser.execute_script("return window.pwned === undefined")
    assert HOSTILE in browser.execute_script("return document.body.innerText")
    legend = browser.execute_script(
        "return Array.from(document.querySelectorAll('.legendtext')).map(e => e.textContent)")
    assert any(HOSTILE in text for text in legend)
