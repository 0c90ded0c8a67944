"""The report in a real browser: every chart drawn, no console error, no network, no injection.

Debian's chromium runs headless with its own throw-away profile; every host name resolves
to nothing (--host-resolver-rules), and the DevTools network log proves the page asked
for nothing but its own file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reports.html import write_report
from tests.integration.browser_harness import check_page
from tests.report_fixtures import ALL, HOSTILE, hostile_dir, write_results

pytestmark = pytest.mark.browser

def shown_sections(driver: Any) -> list[str]:
    """The sections on the page and the navigation's anchors, which must be the same."""
    ids = driver.execute_script(
        "return Array.from(document.querySelectorAll('main > section')).map(s => s.id)")
    links = driver.execute_script(
        "return Array.from(document.querySelectorAll('nav a')).map(a => a.hash.slice(1))")
    assert ids == links
    return [str(i) for i in ids]


def first_screen(driver: Any) -> str:
    """The text of what a reader sees without scrolling, checked to be the summary."""
    top = driver.execute_script(
        "const table = document.querySelector('#summary table');"
        "return table && table.getBoundingClientRect().top < window.innerHeight")
    assert top, "the summary's table is not on the first screen"
    return str(driver.execute_script("return document.getElementById('summary').innerText"))


def test_report_draws_every_chart_offline(browser: Any, tmp_path: Path) -> None:
    first = write_results(tmp_path / "run-a", runtimes=ALL, repetitions=6, failures=1,
                          density=True)
    later = write_results(tmp_path / "run-b", runtimes=ALL, repetitions=6, seed=2, scale=1.2)
    check_page(browser, write_report([first], tmp_path / "one.html"), tmp_path / "one.png")
    assert shown_sections(browser) == ["summary", "verdict", "boot", "memory", "syscalls",
                                       "spectrum", "density", "setup"]
    summary = first_screen(browser)
    for text in ("run-a", "idle: 6", "boot.total", "syscall.getppid", "baseline",
                 "libvirt", "ran its guest under TCG", "1 failed"):
        assert text in summary
    check_page(browser, write_report([first, later], tmp_path / "two.html"),
               tmp_path / "two.png")
    assert "changes" in shown_sections(browser)
    # a density run: its first screen says so, and no empty boot, memory or syscall card
    ladder = write_results(tmp_path / "density", runtimes=ALL, density_only=True)
    check_page(browser, write_report([ladder], tmp_path / "density.html"),
               tmp_path / "density.png")
    assert shown_sections(browser) == ["summary", "density", "setup"]
    summary = first_screen(browser)
    assert "up to 16 at once" in summary and "No successful measurements" not in summary
    check_crosschecks(browser, tmp_path)


def test_hostile_names_show_as_text_and_run_nothing(browser: Any, tmp_path: Path) -> None:
    from selenium.common.exceptions import NoAlertPresentException

    page = write_report([hostile_dir(tmp_path / "evil")], tmp_path / "evil.html")
    check_page(browser, page, tmp_path / "evil.png")
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018  (reading it is the check)
    assert browser.execute_script("return window.pwned === undefined")
    assert HOSTILE in browser.execute_script("return document.body.innerText")
    legend = browser.execute_script(
        "return Array.from(document.querySelectorAll('.legendtext')).map(e => e.textContent)")
    assert any(HOSTILE in text for text in legend)  # plotly shows the name, as text


def check_crosschecks(browser: Any, tmp_path: Path) -> None:
    """bench verify's lines (verify.json) as the Cross-checks section, verdicts and all."""
    from bench.results.crosschecks import CrossCheck, write_checks

    results = write_results(tmp_path / "verified", runtimes=ALL, repetitions=5)
    line = dict(how=f"the same launch {HOSTILE}", tolerance=0.25, paired=False)
    write_checks(results, [
        CrossCheck("boot.total", "process", "hyperfine -N", unit="ms", bench=[1.0, 1.1, 1.05],
                   reference_values=[1.02, 1.08, 1.04], **line),
        CrossCheck("syscall.getppid", "process", "perf bench syscall basic", unit="ns",
                   bench=[200.0] * 3, reference_values=[100.0] * 3, **line),
        CrossCheck("memory.guest_ram", "libvirt", "QEMU monitor + smaps", unit="bytes",
                   bench=[1.0], reference_values=[], failed="virsh is not installed",
                   **line),
    ], {"hyperfine": "hyperfine 1.15.0"}, {})
    check_page(browser, write_report([results], tmp_path / "verified.html"),
               tmp_path / "verified.png")
    assert shown_sections(browser)[-2:] == ["crosschecks", "setup"]
    rows = browser.execute_script(
        "return Array.from(document.querySelectorAll('#crosschecks table tr')).slice(1)"
        ".map(r => Array.from(r.cells).map(c => c.innerText))")
    assert [(r[0], r[2], r[7]) for r in rows] == [
        ("boot.total", "hyperfine -N", "agree"),
        ("syscall.getppid", "perf bench syscall basic", "disagree"),
        ("memory.guest_ram", "QEMU monitor + smaps", "failed")]
    assert rows[1][5].startswith("+100.0%") and rows[2][5] == "virsh is not installed"
    assert HOSTILE in browser.execute_script(
        "return document.getElementById('crosschecks').textContent")
