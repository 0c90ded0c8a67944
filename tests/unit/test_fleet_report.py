"""The fleet report from synthetic results directories: hosts side by side, what differs
between them marked, failed hosts with their reasons, every string escaped. (It draws in
Chromium in tests/integration/test_fleet.py, from a real fleet.)"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bench.cli import main
from bench.fleet.hosts import HostState
from bench.fleet.record import Fleet
from reports.fleet import FleetHost, build_fleet, render, write_fleet_report
from tests.history_fixtures import history_run
from tests.report_fixtures import HOSTILE

T0 = 1_750_000_000.0


@pytest.fixture
def hosts(tmp_path: Path) -> list[FleetHost]:
    """Two hosts that differ in kernel and CPU (the second 30 % slower), and one that failed."""
    first = history_run(tmp_path / "hosts" / "a", "run-a", T0, seed=1)
    host = json.loads((first / "manifest.json").read_text())["host"]
    second = history_run(tmp_path / "hosts" / "b", "run-b", T0 + 60, seed=2, scale=1.3,
                         host={**host, "kernel": "6.9.0-other", "cpu_model": "Other CPU",
                               "hostname": "box-2"})
    return [FleetHost("lab-a", "127.0.0.2", "machine-id:1", "done", None, first),
            FleetHost("lab-b", "127.0.0.3", "machine-id:2", "done", None, second),
            FleetHost(HOSTILE, "127.0.0.4", None, "failed",
                      f"host set-up: apt-get said {HOSTILE}", None)]


def test_hosts_side_by_side_with_what_differs(hosts: list[FleetHost], tmp_path: Path) -> None:
    page = build_fleet(hosts, tmp_path / "fleet.html", "fleet f1", "postgresql://db/bench")
    assert [column.host.name for column in page.ran] == ["lab-a", "lab-b"]
    assert [column.host.name for column in page.failed] == [HOSTILE]
    assert {"CPU model", "kernel", "host fingerprint", "machine", "host name"} <= set(page.differs)
    assert "cores" not in page.differs and "cgroup layout" not in page.differs
    getppid = next(g for g in page.groups if g.chart.caption.startswith("syscall.getppid"))
    rows = {row.runtime: row.cells for row in getppid.rows}
    assert set(rows) == {"process", "native"}
    native = rows["native"]
    assert all(cell is not None and re.match(r"\d\.\d+x", cell.ratio) for cell in native)
    assert {trace["name"] for trace in getppid.chart.figure["data"]} == {"lab-a", "lab-b"}
    assert all(column.report is None for column in page.ran)  # no report.html beside them


def test_every_string_from_a_host_is_escaped(hosts: list[FleetHost], tmp_path: Path) -> None:
    html = render(build_fleet(hosts, tmp_path / "fleet.html", HOSTILE, HOSTILE))
    assert HOSTILE not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'http-equiv="Content-Security-Policy" content="default-src &#39;none&#39;' in html


def test_a_host_whose_results_are_unreadable_says_so(hosts: list[FleetHost], tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "manifest.json").write_text("{not json")
    page = build_fleet([*hosts[:1], FleetHost("lab-x", "h", None, "done", None, broken)],
                       tmp_path / "fleet.html", "t", "s")
    assert page.hosts[1].problem is not None and "unreadable" in page.hosts[1].problem
    assert [column.host.name for column in page.ran] == ["lab-a"]


def test_bench_fleet_report_writes_the_page_again(hosts: list[FleetHost], tmp_path: Path) -> None:
    fleet = Fleet("f1", "configs/ci-gate.yaml", "hosts.ini", None, "none", None, "0.3.0",
                  created=T0, hosts=[
                      HostState("lab-a", "a", "127.0.0.2", "machine-id:1", 1, "done",
                                run_id="run-a", results="hosts/a"),
                      HostState("lab-b", "b", "127.0.0.3", "machine-id:2", 1, "done",
                                run_id="run-b", results="hosts/b")])
    fleet.write(tmp_path)
    assert main(["fleet", "report", str(tmp_path), "-o", str(tmp_path / "again.html")]) == 0
    html = (tmp_path / "again.html").read_text()
    assert "lab-a" in html and "run-b" in html and "6.9.0-other" in html
    assert json.loads((tmp_path / "fleet.json").read_text())["fleet_id"] == "f1"


def test_a_page_with_no_run_back_draws_no_chart(tmp_path: Path) -> None:
    failed = [FleetHost("lab-a", "127.0.0.2", None, "failed", "connect: unreachable", None)]
    page = write_fleet_report(failed, tmp_path / "fleet.html", "t", "none")
    html = page.read_text()
    assert "No host brought a run back" in html and "plotly-js" not in html
