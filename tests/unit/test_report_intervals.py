"""A cross-check's difference reads the same on the report's page and in `bench verify`'s
table, and as the report's changes read."""

from __future__ import annotations

import re

import pytest

from bench.results.crosschecks import CrossCheck
from bench.terminal import out
from bench.verify.verifying import print_checks
from reports.html import change_text
from reports.intervals import difference_text
from reports.sections import crosscheck_row


def check(bench: list[float], reference: list[float], failed: str | None = None) -> CrossCheck:
    return CrossCheck("boot.total", "process", "hyperfine -N", "the same launch", "ms", 0.1,
                      False, bench, reference, failed)


def test_the_page_and_the_terminal_write_one_difference(monkeypatch: pytest.MonkeyPatch) -> None:
    line = check([11.0, 11.1, 10.9] * 5, [10.0, 10.1, 9.9] * 5)
    text = difference_text(line.agreement())
    assert re.fullmatch(r"\+10\.0% \[\+\d+\.\d, \+\d+\.\d\]", text), text
    assert crosscheck_row(line)["difference"] == text
    monkeypatch.setattr(out, "width", 200)  # no cell wrapped
    with out.capture() as captured:
        print_checks([line])
    assert text in captured.get()


def test_no_difference_says_why() -> None:
    line = check([10.0], [], failed="hyperfine is not installed")
    assert difference_text(line.agreement()) == "hyperfine is not installed"


def test_a_change_reads_as_a_difference() -> None:
    assert change_text((1.25, 1.125, 1.5)) == "+25.0% [+12.5, +50.0]"
