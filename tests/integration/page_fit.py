"""How a page bench writes reads in a 1280 px browser window: its width against the window,
any element that scrolls sideways, the text a person sees (the page's and its charts'), and
what is on the first screen. For tests/integration's pages tests (the browser fixture)."""

from __future__ import annotations

from typing import Any

WIDTH, HEIGHT = 1280, 900


def at_width(driver: Any, width: int = WIDTH, height: int = HEIGHT) -> None:
    """The window's inner size, exactly (a window's outer size leaves it to the browser)."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})


def widths(driver: Any) -> tuple[int, int]:
    """(the window's inner width, the page's scroll width)."""
    inner, scroll = driver.execute_script(
        "return [window.innerWidth, document.documentElement.scrollWidth]")
    return int(inner), int(scroll)


def sideways(driver: Any) -> list[str]:
    """Every table, table wrapper, chart or card whose content is wider than itself."""
    return [str(found) for found in driver.execute_script(
        "return Array.from(document.querySelectorAll('.table-wrap, table, .figure, section, pre'))"
        ".filter(e => e.scrollWidth > e.clientWidth + 1)"
        ".map(e => (e.closest('section') || {}).id + ': ' + e.tagName + '.' + e.className"
        " + ' ' + e.scrollWidth + ' > ' + e.clientWidth)")]


def shown_text(driver: Any) -> str:
    """The page's text and every text its charts drew (ticks, titles, legends, bar labels)."""
    return str(driver.execute_script(
        "return document.body.innerText + '\\n' + Array.from(document.querySelectorAll("
        "'svg text')).map(t => t.textContent).join('\\n')"))


def on_first_screen(driver: Any, selector: str) -> list[str]:
    """The text of each element matching SELECTOR that starts within the first screen."""
    return [str(text) for text in driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0]))"
        ".filter(e => e.getBoundingClientRect().top < window.innerHeight)"
        ".map(e => e.innerText)", selector)]
