"""Debian's chromium, headless, for the pages bench writes (the report, the trend page): a
throw-away profile, every host name resolving to nothing (--host-resolver-rules), and
check_page, which proves every chart drew and the page asked the network for nothing."""

from __future__ import annotations

import base64
import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.conftest import require

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:", "chrome:", "chrome-extension:",
                 "devtools:")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--host-resolver-rules=MAP * ~NOTFOUND",
         "--window-size=1400,1000"]


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    require(CHROMIUM.exists(), f"chromium at {CHROMIUM} (apt-get install chromium)")
    require(CHROMEDRIVER.exists(), f"chromedriver at {CHROMEDRIVER} (apt-get install "
            "chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    monkeypatch.setenv("SE_OFFLINE", "true")  # selenium-manager must never download
    profile = tempfile.mkdtemp(prefix="bench-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in [*FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = None
    try:
        driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)),
                                  options=options)
        yield driver
    finally:
        if driver is not None:
            driver.quit()
        wait_for_no_chromium(profile)
        shutil.rmtree(profile, ignore_errors=True)


def wait_for_no_chromium(profile: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not ours(profile):
            return
        time.sleep(0.2)
    left = ours(profile)
    for process in left:  # only the browsers this test started: its own profile is in argv
        process.kill()
    assert not left, f"chromium processes outlived the test: {[p.pid for p in left]}"


def ours(profile: str) -> list[psutil.Process]:
    return [process for process in psutil.process_iter(["cmdline", "status"])
            if process.info["status"] != psutil.STATUS_ZOMBIE
            and any(profile in part for part in process.info["cmdline"] or [])]


def open_report(driver: Any, page: Path) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get_log("performance")  # drop what the browser did before the page
    driver.get(page.resolve().as_uri())
    WebDriverWait(driver, 120).until(lambda d: d.execute_script(
        "return document.body.getAttribute('data-drawn') !== null"))
    time.sleep(0.5)  # let plotly finish its last frame


def network_requests(driver: Any) -> list[str]:
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def screenshot(driver: Any, path: Path) -> Path:
    """The whole page (beyond the window), through DevTools."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": 1400, "height": height, "scale": 1}})
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


def check_page(driver: Any, page: Path, shot: Path) -> None:
    open_report(driver, page)
    slots = driver.execute_script("return document.querySelectorAll('div[data-figure]').length")
    drawn = driver.execute_script(
        "return Array.from(document.querySelectorAll('div[data-figure]'))"
        ".filter(d => d.classList.contains('js-plotly-plot')"
        " && d.querySelector('svg.main-svg')).length")
    assert slots > 0 and drawn == slots
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors
    remote = [u for u in network_requests(driver) if not u.startswith(LOCAL_SCHEMES)]
    assert not remote, f"the page asked the network for {remote}"
    resources = driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)")
    assert all(str(name).startswith(LOCAL_SCHEMES) for name in resources), resources
    assert driver.execute_script("return document.getElementById('plot-status').hidden")
    print(f"screenshot: {screenshot(driver, shot)}")


LIVE_ELEMENTS = """
const found = [];
const local = (url) => url.startsWith('#') || url.startsWith('file:');
for (const el of document.querySelectorAll('*')) {
  for (const attr of el.attributes) {
    if (attr.name.toLowerCase().startsWith('on')) found.push(`${el.tagName} ${attr.name}`);
  }
  const href = el.getAttribute('href') || el.getAttributeNS('http://www.w3.org/1999/xlink', 'href');
  if (href && !local(href)) found.push(`${el.tagName} href=${href}`);
  if (['IMG', 'IFRAME', 'OBJECT', 'EMBED', 'FORM', 'BASE', 'FRAME', 'AUDIO', 'VIDEO']
      .includes(el.tagName.toUpperCase())) found.push(el.tagName);
}
return found;
"""


def live_elements(driver: Any) -> list[str]:
    """What on the page could act or lead away: an event-handler attribute, a link or a
    reference that is not to the page itself or a local file, an element that loads or
    submits anything. Plotly's own SVG (tick labels, titles, legends) is searched too:
    its pseudo-HTML makes <a href> live unless the text is escaped."""
    found: list[str] = driver.execute_script(LIVE_ELEMENTS)
    return found
