"""The trend page writes its figures as the report does (bench.results.numbers): hover text,
change points and axes in the unit people read, with which way is better where it is known."""

from __future__ import annotations

from bench.history.queries import Point
from reports.trend import build_trend
from tests.page_text import SCIENTIFIC, strings


def points(metric: str, unit: str, medians: list[float]) -> list[Point]:
    return [Point(run_id=f"{n:032x}", created=1.75e9 + 3600 * n, received=1.75e9 + 3600 * n + 5,
                  hostname="runner-1", host_hash="h" * 32, commit=f"c{n}", branch="main",
                  path=f"/results/{n}", runtime="docker", workload="w", metric=metric, unit=unit,
                  median=median, ci_low=median * 0.98, ci_high=median * 1.02, n=6)
            for n, median in enumerate(medians)]


def test_a_series_is_drawn_in_its_display_unit_with_its_direction() -> None:
    step = [2.4e7] * 6 + [3.6e7] * 6  # B/s: a 50 % step
    trend = build_trend(points("workload.read_bw", "B/s", step)
                        + points("syscall.getppid", "ns", [160.0] * 6 + [240.0] * 6), "time",
                        "store")
    charts = {chart.caption.split(" · ")[0]: chart.figure for chart in trend.charts}
    read_bw = charts["workload.read_bw"]
    assert read_bw["layout"]["yaxis"]["title"]["text"] == "workload.read_bw (MiB/s)"
    medians = next(t for t in read_bw["data"] if t.get("mode") == "lines+markers")["y"]
    assert medians[0] == 2.4e7 / 2**20  # drawn in MiB/s, as the axis says
    getppid = charts["syscall.getppid"]["layout"]["yaxis"]
    assert getppid["title"]["text"] == "syscall.getppid (ns)<br>lower is better"
    assert getppid["exponentformat"] == "none"
    change = {c.metric: c for c in trend.changes}
    assert change["workload.read_bw"].percent == "+50.0%"
    assert change["workload.read_bw"].level_before == "22.9 MiB/s"
    assert change["workload.read_bw"].better is None  # a workload's direction is not in a point
    assert change["syscall.getppid"].better is False  # 160 ns to 240 ns: worse
    assert not [s for chart in trend.charts for s in strings(chart.figure) if SCIENTIFIC.search(s)]
