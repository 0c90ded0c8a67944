"""The report of a command-workloads run: the first screen answers the config's question (each
workload's main figures, a sentence and one chart), the Workloads section draws a chart per
workload, long notes are footnotes and the verdict tables show what matters first."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from reports import analysis, sections
from reports.html import render
from reports.overview import overview
from reports.workloads import main_metrics
from tests.page_text import SCIENTIFIC, figure_specs, readable_text, strings
from tests.report_fixtures import ALL, write_results, write_workload_results


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> analysis.Analysis:
    return analysis.analyse([write_workload_results(tmp_path_factory.mktemp("wl") / "wl")])


@pytest.fixture(scope="module")
def page(result: analysis.Analysis) -> str:
    return render(result)


@pytest.mark.parametrize(("metrics", "main"), [
    (["workload.events_per_s", "workload.duration", "cpu.host_per_guest"],
     ["workload.events_per_s"]),
    (["workload.read_bw", "workload.read_clat_p50", "workload.read_clat_p99", "workload.read_iops",
      "workload.write_clat_p99", "workload.write_iops", "workload.duration"],
     ["workload.read_iops", "workload.write_iops", "workload.read_clat_p99",
      "workload.write_clat_p99"]),
    (["workload.set_rps", "workload.get_rps"], ["workload.get_rps", "workload.set_rps"]),
    (["start.total", "start.response", "workload.duration", "memory.peak_rss"], ["start.total"]),
    (["workload.total_time", "workload.duration"], ["workload.total_time"]),  # a user's regex
    (["workload.duration", "workload.cpu_time", "workload.duration_host"], ["workload.duration"]),
    (["memory.peak"], []),
])
def test_a_workloads_main_figures(metrics: list[str], main: list[str]) -> None:
    assert main_metrics(metrics) == main


def section_text(page: str, key: str) -> str:
    found = re.search(rf'<section id="{key}">(.*?)</section>', page, re.S)
    assert found is not None, key
    return found.group(1)


def test_the_first_screen_quotes_each_workloads_own_figures(result: analysis.Analysis,
                                                            page: str) -> None:
    found = overview(result)
    assert [(f.workload, f.metric) for f in found.findings] == [
        ("cpu", "events_per_s"), ("memory", "mib_per_s"), ("disk", "read_iops"),
        ("disk", "write_iops"), ("disk", "read_clat_p99"), ("net", "get_rps"),
        ("net", "set_rps"), ("server", "start.total")]
    assert not found.columns  # no boot.total column: this run is not about boot
    summary = section_text(page, "summary")
    cpu = re.search(r"<li><strong>cpu</strong>(.*?)</li>", summary, re.S)
    assert cpu is not None
    sentence = re.sub(r"<[^>]+>", "", cpu.group(1))
    assert re.search(r"events_per_s \(higher is better\): process 2\.\d\d k events/s "
                     r"\[[\d.]+, [\d.]+\] k events/s; against it: native [\d.]+x \[[\d.]+, "
                     r"[\d.]+\], docker 0\.\d+x \[0\.\d+, 0\.\d+\], libvirt \(TCG guest\) "
                     r"0\.0\d+x \(no interval: 2 instances\)", sentence), sentence
    assert 'class="worse">0.7' in cpu.group(1)  # docker's 1.3x cost on a throughput: red
    assert 'data-figure="figure-summary-1-data"' in summary  # the ratios' chart
    assert summary.index("<ul class=\"findings\">") < summary.index("figure-summary-1")


def test_a_chart_per_workload_with_direction_intervals_and_tcg(page: str) -> None:
    specs = figure_specs(page, "figure-workloads")
    assert len(specs) == 5  # cpu, memory, disk, net, server
    cpu = specs[0]
    bars = cpu["data"]  # type: ignore[index]
    assert [b["y"][0] for b in bars] == ["process", "native", "docker", "libvirt (TCG guest)"]
    assert [bool(b.get("error_x")) for b in bars] == [True, True, True, False]  # 2 guest cells
    assert bars[3]["marker"]["pattern"]["shape"] == "/"  # hatched: an emulator's figure
    assert bars[0]["text"] == ["2.10 k events/s"] or bars[0]["text"][0].endswith("k events/s")
    title = cpu["layout"]["xaxis"]["title"]["text"]  # type: ignore[index]
    assert title == "events_per_s, k events/s<br>higher is better \u2192"
    disk = specs[2]["layout"]  # type: ignore[index]
    assert [disk[a]["title"]["text"].split("<br>")[1] for a in ("xaxis", "xaxis2", "xaxis3")] == [
        "higher is better \u2192", "higher is better \u2192", "\u2190 lower is better"]


def test_the_page_writes_no_number_with_an_exponent(page: str) -> None:
    assert not SCIENTIFIC.search(readable_text(page))
    for spec in figure_specs(page):
        shown = [s for s in strings(spec) if SCIENTIFIC.search(s)]
        assert not shown, shown


def test_the_workload_table_keeps_notes_under_it(page: str) -> None:
    workloads = section_text(page, "workloads")
    assert workloads.count('<ol class="footnotes">') == 5  # each workload's table: the guest
    assert "<li>2 instances: a 95 % interval of a median needs at least 6</li>" in workloads
    assert not re.search(r"<td[^>]*>[^<]*needs at least", workloads)
    assert workloads.index("What this means") > workloads.index("</table>")  # notes under
    assert workloads.count('libvirt<sup class="mark">*</sup>') == 1  # cpu: its own command
    assert "* libvirt ran its own, shorter command (below): compare its rates" in workloads


def test_the_verdict_shows_failures_and_differences_first(tmp_path: Path) -> None:
    run = analysis.analyse([write_results(tmp_path / "r", runtimes=ALL, repetitions=6,
                                          failures=2)])
    verdict = sections.verdict(run)
    assert verdict is not None
    tables = {family.title: family for family in verdict.data["families"]}
    syscalls = tables["Syscalls"]
    shown = [(s.label, s.metric) for s in syscalls.shown]
    assert ("docker", "syscall.getppid") in shown  # 1.3x: worse, shown
    assert all(s.label != "process" for s in syscalls.shown)  # the baseline itself: folded
    assert {s.label for s in syscalls.folded} >= {"process"}
    boot = tables["Boot"]
    assert (boot.shown[0].label, boot.shown[0].workload) == ("libvirt", "idle")  # 2 cells failed
    failed = sections.failed_cells(run)
    kinds = [sections.standing(s, failed) for s in boot.shown]
    assert kinds[0] == "failed" and kinds == sorted(kinds, key=["failed", "worse", "better"].index)
    page = section_text(render(run), "verdict")
    assert '<details class="folded"><summary>' in page
    assert re.search(r'<td>libvirt</td><td>idle</td><td>boot.total</td>.*?<td class="num">0 '
                     r'<span class="worse">\(2 cells\)</span></td>', page)


def test_two_runs_share_each_workloads_panels(tmp_path: Path) -> None:
    first = write_workload_results(tmp_path / "a")
    later = write_workload_results(tmp_path / "b", seed=9)
    specs = figure_specs(render(analysis.analyse([first, later])), "figure-workloads")
    cpu = specs[0]
    assert [key for key in cpu["layout"] if key.startswith("xaxis")] == ["xaxis"]  # one figure
    assert [trace["y"][0] for trace in cpu["data"]][::4] == ["a:process", "b:process"]
