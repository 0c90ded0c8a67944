"""A relative difference with its 95 % interval, written one way wherever bench shows one: the
report's changes and cross-checks, and `bench verify`'s table on the terminal. Nothing here
loads plotly, jinja2 or pandas, so a command's table can use it without the report's weight."""

from __future__ import annotations

from bench.results.crosschecks import Agreement
from bench.results.numbers import format_change


def relative_text(point: float, low: float, high: float) -> str:
    """`+1.2% [-0.5, +2.9]`: a relative difference (0.012 is +1.2 %) and its interval."""
    return format_change(point, low, high)


def difference_text(result: Agreement) -> str:
    """A cross-check's difference of bench from its reference, or why there is none to show."""
    if result.relative is None or result.relative_low is None or result.relative_high is None:
        return result.reason or "-"
    return relative_text(result.relative, result.relative_low, result.relative_high)
