"""The report's Start storms section in headless Chromium: every chart drawn, no console
error, nothing asked of the network, and a runtime name shown as text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reports.html import write_report
from tests.integration.browser_harness import check_page
from tests.report_fixtures import HOSTILE
from tests.storm_fixtures import write_storm_results

pytestmark = pytest.mark.browser


def test_the_storm_section_draws_offline(browser: Any, tmp_path: Path) -> None:
    results = write_storm_results(tmp_path / "storms", ("process", "native", "docker", "libvirt",
                                                         HOSTILE))
    check_page(browser, write_report([results], tmp_path / "storms.html"),
               tmp_path / "storms.png")
    assert "storms" in browser.execute_script(
        "return Array.from(document.querySelectorAll('main > section')).map(s => s.id)")
    charts = browser.execute_script(
        "return document.querySelectorAll('#storms div[data-figure].js-plotly-plot').length")
    assert charts == 3  # latency against N, every instance's distribution, throughput
    rows = browser.execute_script(
        "return Array.from(document.querySelectorAll('#storms table tr')).slice(1)"
        ".map(r => Array.from(r.cells).map(c => c.innerText))")
    sizes = {(row[0], row[2]) for row in rows}
    assert ("libvirt", "2") in sizes and ("process", "16") in sizes and (HOSTILE, "4") in sizes
    assert all(row[3] == "6" for row in rows)  # six storms behind every figure
    assert all("[" in row[7] for row in rows)  # each p99 with its interval over storms
    assert browser.execute_script("return window.pwned === undefined")
