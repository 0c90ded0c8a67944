"""`bench fleet run` against the real thing: Ansible over SSH to two loopback "hosts" (Debian's
sshd, started by tests/fleet_fixtures.py on 127.0.0.2 and 127.0.0.3 with throw-away keys),
a third host whose port nothing listens on, a PostgreSQL store (tests/history_fixtures.py),
and configs/ci-gate.yaml as the config.

Both hosts are this machine, so they report one machine identity and must run one after
the other: the test reads that from the runs' own time stamps. All traffic stays on
127.0.0.0/8; the hosts install bench from the controller's wheel with pip --no-index.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

from bench.fingerprint import git_commit
from bench.history.identity import host_hash
from bench.results.manifest import read_manifest
from tests.conftest import require
from tests.fleet_fixtures import SshHosts, free_port, ssh_hosts, unavailable_reason
from tests.history_fixtures import Server, postgres  # noqa: F401
from tests.integration.browser_harness import check_page

pytestmark = [pytest.mark.integration, pytest.mark.docker]
ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "configs" / "ci-gate.yaml"
FLEET_TIMEOUT = 1800
NO_PYTHON = "/nonexistent/python3"


@dataclass(frozen=True)
class FleetRun:
    folder: Path
    store: str
    done: subprocess.CompletedProcess[str]

    def record(self) -> dict[str, Any]:
        document: dict[str, Any] = json.loads((self.folder / "fleet.json").read_text())
        return document

    def host(self, name: str) -> dict[str, Any]:
        return next(h for h in self.record()["hosts"] if h["name"] == name)


def host_line(hosts: SshHosts, name: str, address: str, port: int | None = None) -> str:
    """A host of the fleet; the hosts' venv comes from this Python (its packages visible), and
    pip may not reach any index (the network rule)."""
    python = os.path.realpath(sys.executable)
    return (f"{hosts.inventory_line(name, address, port)} bench_python={python} "
            "bench_pip_args=--no-index")


def bench_fleet(*argv: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "bench.cli", "fleet", *argv], cwd=ROOT,
                          capture_output=True, text=True, timeout=FLEET_TIMEOUT, check=False)
    print(done.stdout[-6000:], done.stderr[-6000:], sep="\n")
    return done


def store_runs(store: str) -> list[dict[str, Any]]:
    done = subprocess.run([sys.executable, "-m", "bench.cli", "history", "list", "--store", store,
                           "--json"], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          check=True)
    runs: list[dict[str, Any]] = json.loads(done.stdout)
    return runs


def fleet_leftovers() -> list[str]:
    """What a fleet could leave: host folders, the controller's working folder, ssh processes."""
    found = [str(p) for p in Path("/var/tmp").glob("bench-fleet-*")]
    found += [str(p) for p in Path("/tmp").glob("bench-fleet-*")]
    found += [f"pid {p.pid}: {' '.join(p.info['cmdline'] or [])}"
              for p in psutil.process_iter(["cmdline", "status"])
              if p.info["status"] != psutil.STATUS_ZOMBIE
              and any("bench-fleet-" in part for part in p.info["cmdline"] or [])]
    return found


@pytest.fixture(scope="module")
def sshd() -> Iterator[SshHosts]:
    reason = unavailable_reason()
    require(reason is None, reason or "")
    done = subprocess.run(["docker", "version"], capture_output=True, timeout=60, check=False)
    require(done.returncode == 0, "a running dockerd (configs/ci-gate.yaml runs docker)")
    with ssh_hosts() as hosts:
        yield hosts


@pytest.fixture(scope="module")
def inventory(sshd: SshHosts, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """host-a and host-b (both this machine), host-c on a port nothing listens on, and host-d
    (this machine too) whose Python for bench does not exist, so its set-up fails."""
    path = tmp_path_factory.mktemp("inventory") / "hosts.ini"
    path.write_text("\n".join([
        "[lab]", host_line(sshd, "host-a", "127.0.0.2"), host_line(sshd, "host-b", "127.0.0.3"),
        host_line(sshd, "host-c", "127.0.0.2", free_port("127.0.0.2")),
        host_line(sshd, "host-d", "127.0.0.3").replace(
            f"bench_python={os.path.realpath(sys.executable)}", f"bench_python={NO_PYTHON}")])
        + "\n")
    return path


@pytest.fixture(scope="module")
def fleet_run(inventory: Path, postgres: Server,  # noqa: F811
              tmp_path_factory: pytest.TempPathFactory) -> FleetRun:
    store = postgres.create_database()
    folder = tmp_path_factory.mktemp("fleet") / "fleet"
    done = bench_fleet("run", str(inventory), str(CONFIG), "--store", store, "-o", str(folder))
    return FleetRun(folder, store, done)


def test_two_hosts_record_two_runs_into_the_store_and_both_come_back(fleet_run: FleetRun) -> None:
    manifests = {name: read_manifest(fleet_run.folder / "hosts" / name)
                 for name in ("host-a", "host-b")}
    for name, manifest in manifests.items():
        assert manifest.status == "complete", name
        assert fleet_run.host(name)["status"] == "done"
        assert fleet_run.host(name)["run_id"] == manifest.run_id
        assert (fleet_run.folder / "hosts" / name / "report.html").is_file()
    runs = store_runs(fleet_run.store)
    assert sorted(run["run_id"] for run in runs) == sorted(str(m.run_id) for m in manifests.values())
    assert {run["config_name"] for run in runs} == {"ci-gate"}
    # the hosts ran the controller's checkout (as a wheel), and their runs say which commit
    commit = fleet_run.record()["commit"]
    assert {run["commit"] for run in runs} == {commit}
    assert commit.split("+")[0] == str(git_commit(ROOT)).split("+")[0]
    # one host fingerprint for both (this machine): bench trend and gate --history keep
    # treating it as one series, keyed on the same hash the results directories give
    assert {run["host_hash"] for run in runs} == {host_hash(m) for m in manifests.values()}


def test_hosts_of_one_machine_run_one_after_the_other(fleet_run: FleetRun) -> None:
    record = fleet_run.record()
    assert record["waves"] == [["host-a"], ["host-b"], ["host-d"]]
    assert len({fleet_run.host(name)["machine"] for name in ("host-a", "host-b", "host-d")}) == 1
    first, second = (read_manifest(fleet_run.folder / "hosts" / name)
                     for name in ("host-a", "host-b"))
    assert first.ended is not None and second.created is not None
    assert first.ended <= second.created, "the two runs overlapped on one machine"


def test_an_unreachable_host_is_a_failed_row_with_its_reason(fleet_run: FleetRun) -> None:
    assert fleet_run.done.returncode == 3
    failed = fleet_run.host("host-c")
    assert failed["status"] == "failed" and failed["results"] is None
    assert "unreachable" in failed["reason"] and "Connection refused" in failed["reason"]
    assert not (fleet_run.folder / "hosts" / "host-c").exists()
    assert "host-c" in fleet_run.done.stdout and "Connection refused" in fleet_run.done.stdout


def test_a_host_whose_set_up_fails_is_a_failed_row_with_its_reason(fleet_run: FleetRun) -> None:
    failed = fleet_run.host("host-d")
    assert failed["status"] == "failed" and failed["step"] == "host set-up"
    assert NO_PYTHON in failed["reason"] and failed["results"] is None
    assert failed["run_id"] is None


def test_the_fleet_leaves_nothing_behind(fleet_run: FleetRun) -> None:
    assert fleet_leftovers() == []


@pytest.mark.browser
def test_the_fleet_report_draws_offline(fleet_run: FleetRun, browser: Any, tmp_path: Path) -> None:
    check_page(browser, fleet_run.folder / "fleet.html", tmp_path / "fleet.png")
    hosts = browser.execute_script(
        "return Array.from(document.querySelectorAll('#hosts tr td:first-child'))"
        ".map(td => td.textContent)")
    assert hosts == ["host-a", "host-b", "host-c", "host-d"]
    assert "Connection refused" in browser.execute_script(
        "return document.getElementById('hosts').innerText")
    legend = browser.execute_script(
        "return Array.from(document.querySelectorAll('.legendtext')).map(e => e.textContent)")
    assert {"host-a", "host-b"} <= set(legend)


def test_check_lists_what_would_run_where_and_starts_nothing(inventory: Path, postgres: Server,  # noqa: F811
                                                             tmp_path: Path) -> None:
    store = postgres.create_database()
    folder = tmp_path / "fleet"
    done = bench_fleet("run", str(inventory), str(CONFIG), "--store", store, "-o", str(folder),
                       "--check", "--limit", "host-a:host-b")
    assert done.returncode == 0
    cells = [[cell.strip() for cell in line.split("\u2502")] for line in done.stdout.splitlines()]
    rows = [(row[1], row[2]) for row in cells if len(row) > 3 and row[2].startswith("host-")]
    assert rows == [("1", "host-a"), ("2", "host-b")]  # one machine: one after the other
    assert done.stdout.count("bench run ci-gate.yaml") == 2
    assert "host-c" not in done.stdout  # --limit left it out
    assert not folder.exists()
    assert store_runs(store) == []
    assert fleet_leftovers() == []
