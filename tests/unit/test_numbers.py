"""One number format everywhere (bench.results.numbers): three significant digits, the unit
scaled to the value, never scientific notation; and the places that show figures use it."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from bench.results import numbers
from bench.results.summary import summary_table
from tests.page_text import SCIENTIFIC

UNITS = [*numbers.SCALES, "events/s", "req/s", "IOPS", "bogo ops/s", "ratio", "count", "", "widgets"]


@pytest.mark.parametrize(("value", "unit", "text"), [
    # the figures, as a fresh machine's workloads run printed them
    (2.432e7, "B/s", "23.2 MiB/s"), (6.702e4, "req/s", "67.0 k req/s"),
    (2.621e4, "MiB/s", "25.6 GiB/s"), (1.41e6, "ns", "1.41 ms"), (1.41e3, "us", "1.41 ms"),
    # time: ns to s; rounding that reaches 1000 moves up a unit
    (160.0, "ns", "160 ns"), (0.5, "ns", "0.500 ns"), (2345.0, "ns", "2.35 \u00b5s"),
    (999.4, "ms", "999 ms"), (999.7, "ms", "1.00 s"), (4960.0, "ms", "4.96 s"),
    (12.3456, "s", "12.3 s"), (5e-7, "s", "500 ns"), (1e6, "s", "1,000,000 s"), (0.0, "ms", "0 ms"),
    (0.0, "bytes", "0 B"), (0.0, "us", "0 \u00b5s"),
    # bytes and byte rates: binary prefixes
    (840e3, "bytes", "820 KiB"), (1023.9, "bytes", "1.00 KiB"), (512.0, "B", "512 B"),
    (-120e3, "bytes", "-117 KiB"), (3 * 1024.0**3, "bytes", "3.00 GiB"), (5.63 * 1024, "MiB/s", "5.63 GiB/s"),
    # counts per second take k and M; bits per second their own ladder
    (1234.5, "events/s", "1.23 k events/s"), (250.0, "IOPS", "250 IOPS"),
    (6563.0, "IOPS", "6.56 k IOPS"), (3.2e9, "bit/s", "3.20 Gbit/s"), (0.0, "req/s", "0 req/s"),
    # plain numbers: a ratio unit bare, a whole count whole, anything else positional
    (0.997, "ratio", "0.997"), (16.0, "count", "16 count"), (16.5, "count", "16.5 count"),
    (1e7, "widgets", "10,000,000 widgets"), (1.5e-9, "", "0.00000000150"),
    (None, "ms", "\u2013"), (math.nan, "ms", "\u2013"),
])
def test_a_value_reads_in_its_unit(value: float | None, unit: str, text: str) -> None:
    assert numbers.format_value(value, unit) == text


def test_the_check_finds_exponents_and_nothing_else() -> None:
    found = SCIENTIFIC.findall("2.432e+07 B/s, 6e+03, ratio 3.56e+03x, 1E-5 #e3e8ef 6.1.0 2e "
                               "run id 1564e6, commit 04122e96bb")
    assert found == ["2.432e+07", "6e+03", "3.56e+03", "1E-5"]


def test_intervals_ratios_changes_and_p_values() -> None:
    assert numbers.format_interval(990e3, 1.02e6, "ns") == "[0.990, 1.02] ms"  # the larger end's unit
    assert numbers.format_interval(2.10e3, 2.14e3, "events/s") == "[2.10, 2.14] k events/s"
    assert numbers.format_interval(None, 1.0, "ms") == "\u2013"
    assert numbers.format_ratio(3562.0) == "3,560x" and numbers.format_ratio(1.523) == "1.52x"
    assert numbers.format_ratio(0.99) == "0.990x" and numbers.format_ratio(None) == "\u2013"
    assert numbers.format_ratio_interval(0.99, 0.97, 1.01) == "0.990x [0.970, 1.01]"
    assert numbers.format_ratio_interval(1.5, None, None) == "1.50x"
    assert numbers.format_change(0.012, -0.005, 0.029) == "+1.2% [-0.5, +2.9]"
    assert numbers.format_percent(-0.00001) == "+0.0%" and numbers.format_percent(0.5, False) == "50.0%"
    assert numbers.format_p(3e-5) == "<0.0001" and numbers.format_p(0.0312) == "0.031"
    assert numbers.format_p(None) == "-"


@given(st.floats(min_value=-1e15, max_value=1e15, allow_nan=False), st.sampled_from(UNITS))
def test_never_an_exponent_and_three_significant_digits(value: float, unit: str) -> None:
    text = numbers.format_value(value, unit)
    assert not SCIENTIFIC.search(text), text
    number = text.split(" ", 1)[0].replace(",", "")
    digits = number.lstrip("-").replace(".", "").lstrip("0")
    if not (unit in {"count"} and float(value).is_integer()):
        assert len(digits) <= 3 or set(digits[3:]) == {"0"}, text  # 1,000,000 s: the top unit
    shown = numbers.display(value, unit)
    assert float(number) * shown.divisor == pytest.approx(value, rel=5e-3, abs=1e-300)


@given(st.floats(min_value=1e-12, max_value=1e12))
def test_significant_rounds_once_and_keeps_trailing_zeros(value: float) -> None:
    text = numbers.significant(value)
    assert not SCIENTIFIC.search(text) and float(text.replace(",", "")) == pytest.approx(
        float(f"{value:.2e}"))


def test_the_terminal_summary_has_no_exponent() -> None:
    """`bench summary`'s table for figures from a nanosecond to a terabyte per second."""
    rows = [{"runtime": "docker", "workload": "w", "metric": f"workload.m{i}", "unit": unit,
             "direction": "higher", "n": 6, "samples": 6, "median": value, "p90": value,
             "p99": value, "mean": value, "ci_low": value * 0.9, "ci_high": value * 1.1,
             "ci_note": None, "ratio": ratio, "ratio_low": ratio * 0.9, "ratio_high": ratio * 1.1,
             "ratio_note": None, "failed": 0}
            for i, (value, unit, ratio) in enumerate([
                (2.432e7, "B/s", 3562.0), (6.702e4, "req/s", 1e-5), (1.41e6, "ns", 0.99),
                (1e12, "MiB/s", 1e6), (3e-10, "s", 1.0)])]
    console = Console(record=True, width=200)
    console.print(summary_table(rows, "summary"))
    text = console.export_text()
    assert not SCIENTIFIC.search(text), text
    assert "23.2 MiB/s" in text and "3,560x [3,210, 3,920]" in text and "1.41 ms" in text


def test_the_gate_writes_its_rows_in_the_same_format() -> None:
    """bench gate's table, Markdown and JUnit cells: a throughput in req/s, a ratio, a relative
    change and a p-value far below 0.001, none with an exponent."""
    from bench.gate.output import row
    from bench.gate.verdicts import Evaluation

    relative = Evaluation("workload.get_rps relative 5 %", "relative", "docker", "net",
                          "workload.get_rps", "req/s", "baseline", "fail", "worse",
                          reference_median=6.702e4, candidate_median=5.9e4, change=-0.1197,
                          change_low=-0.15, change_high=-0.09, p_value=2e-7, p_adjusted=3.1e-6)
    ratio = Evaluation("syscall.getppid ratio <= 2x", "ratio", "docker", "s", "syscall.getppid",
                       "ns", "process", "pass", "ok", reference_median=160.0,
                       candidate_median=5.7e5, change=3562.0, change_low=3300.0,
                       change_high=3900.0, p_value=0.0312)
    cells = [row(relative), row(ratio)]
    assert cells[0]["reference"] == "67.0 k req/s" and cells[0]["candidate"] == "59.0 k req/s"
    assert cells[0]["change"] == "-12.0% [-15.0, -9.0]" and cells[0]["p"] == "<0.0001"
    assert cells[1]["change"] == "3,560x [3,300, 3,900]" and cells[1]["p"] == "0.031"
    assert cells[1]["candidate"] == "570 \u00b5s"
    assert not [text for cell in cells for text in cell.values() if SCIENTIFIC.search(text)]
