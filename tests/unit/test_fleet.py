"""The fleet's parts that need no host: machine identities and waves, Ansible's events as
host rows, the inventory as Ansible reads it, the playbooks, the results that come back,
and the fleet record. The fleet against real hosts is tests/integration/test_fleet.py."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from bench.fleet.actions import store_of
from bench.fleet.hosts import HostLog, HostState, identity_reads, reason_of
from bench.fleet.inventory import InventoryHost, ansible_tool, hosts_of, read_inventory
from bench.fleet.record import FORMAT, Fleet, read_fleet
from bench.fleet.run import collect
from bench.fleet.schedule import DMI_UUID, MACHINE_ID, MachineReads, machine_identity, waves
from bench.results.manifest_versions import FORMAT as RESULTS_FORMAT
from bench.results.manifest_versions import FORMAT_VERSION
from foundation.errors import ConfigError, ResultsError

PLAYBOOKS = Path(__file__).resolve().parents[2] / "bench" / "fleet" / "playbooks"
MID = "3d1219c7c4c5404aaa1f6d2a48adfda4"


# --- which machine, and in which wave -------------------------------------------------------

def test_the_declared_machine_wins_then_the_dmi_uuid_then_the_machine_id() -> None:
    both = MachineReads("4C4C4544-0042-3510-8056-B4C04F4E4E32", MID)
    assert machine_identity("hypervisor-7", both) == "declared:hypervisor-7"
    assert machine_identity(None, both) == "dmi:4c4c4544-0042-3510-8056-b4c04f4e4e32"
    assert machine_identity(None, MachineReads(None, MID + "\n")) == f"machine-id:{MID}"
    assert machine_identity(None, MachineReads()) is None


@pytest.mark.parametrize("uuid", ["00000000-0000-0000-0000-000000000000",
                                  "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF"])
def test_a_placeholder_dmi_uuid_says_nothing_about_the_machine(uuid: str) -> None:
    assert machine_identity(None, MachineReads(uuid, MID)) == f"machine-id:{MID}"


def test_hosts_of_one_machine_go_in_separate_waves_machines_share_one() -> None:
    machines = {"a": "m1", "b": "m1", "c": "m2", "d": "m3", "e": "m2", "f": "m1"}
    assert waves(machines) == [["a", "c", "d"], ["b", "e"], ["f"]]
    assert waves({"a": "m1", "b": "m2"}) == [["a", "b"]]
    assert waves({}) == []


# --- Ansible's events as host rows ---------------------------------------------------------

def event(kind: str, host: str, task: str, res: dict[str, Any], **data: Any) -> dict[str, Any]:
    return {"event": kind, "event_data": {"host": host, "task": task, "res": res, **data}}


def test_events_make_each_hosts_row_and_the_first_failure_is_its_reason() -> None:
    said: list[str] = []
    states = {name: HostState(name, name, "127.0.0.2") for name in ("a", "b", "c")}
    log = HostLog(states, said.append)
    log(event("runner_on_start", "a", "host set-up", {}))
    log(event("runner_on_failed", "a", "host set-up", {
        "msg": "non-zero return code", "rc": 100,
        "stderr_lines": ["", "E: Unable to locate package foo", "[host-setup] gave up"]}))
    log(event("runner_on_failed", "a", "remove bench's folder from the host", {"msg": "later"}))
    log(event("runner_on_failed", "b", "read the machine identity", {"msg": "x"},
              ignore_errors=True))
    log(event("runner_on_unreachable", "c", "read the machine identity", {
        "msg": "All items completed", "results": [{"unreachable": True, "msg":
            "Failed to connect to the host via ssh: connect to host 127.0.0.2 port 9: Connection refused"}]}))
    log(event("runner_on_ok", "nobody", "bench run", {}))
    assert states["a"].status == "failed" and states["a"].step == "host set-up"
    assert states["a"].reason == ("non-zero return code (status 100): E: Unable to locate package "
                                  "foo | [host-setup] gave up")
    assert states["b"].status == "pending"
    assert states["c"].reason is not None and states["c"].reason.startswith("unreachable: Failed")
    assert "Connection refused" in states["c"].reason
    assert said[0] == "a: host set-up"


def test_a_run_that_failed_says_its_own_words_once() -> None:
    message = "bench run exited with status 3: 2 cell(s) failed"
    assert reason_of({"msg": message, "rc": 3, "stderr_lines": ["x"]}) == message
    assert reason_of({}) == "failed without a message"


def test_the_identity_reads_come_from_the_loop_items() -> None:
    result = {"results": [
        {"item": DMI_UUID, "rc": 1, "stdout": "", "stderr": "No such file or directory"},
        {"item": MACHINE_ID, "rc": 0, "stdout": f"{MID}\n"}]}
    assert identity_reads(result) == MachineReads(None, MID)


# --- the inventory, as Ansible reads it ----------------------------------------------------

def test_hosts_of_walk_the_groups_from_all_in_order_once_each() -> None:
    listing = {"_meta": {"hostvars": {
        "web-1": {"ansible_host": "127.0.0.2", "ansible_port": 2222, "ansible_password": "s"},
        "db-1": {"bench_machine": "box-9"}}},
        "all": {"children": ["ungrouped", "web", "db"]}, "web": {"hosts": ["web-1"]},
        "db": {"hosts": ["db-1", "web-1"]}}
    assert hosts_of(listing) == [InventoryHost("web-1", "127.0.0.2", 2222),
                                 InventoryHost("db-1", "db-1", None, "box-9")]


def test_an_odd_host_name_gets_a_folder_name_of_its_own() -> None:
    assert InventoryHost("../../etc x", "h").slot == ".._.._etc_x"


@pytest.fixture
def ansible() -> None:
    try:
        ansible_tool("ansible-inventory")
    except Exception:  # noqa: BLE001 - skipped (or failed in CI) by require
        from tests.conftest import require
        require(False, "ansible-core (pip install 'bench[fleet]')")


@pytest.mark.parametrize("form", ["ini", "yaml"])
def test_an_inventory_is_read_by_ansible_with_its_limit(ansible: None, tmp_path: Path,
                                                        form: str) -> None:
    path = tmp_path / f"hosts.{form}"
    if form == "ini":
        path.write_text("[lab]\nhost-a ansible_host=127.0.0.2 ansible_port=2201\n"
                        "host-b ansible_host=127.0.0.3 bench_machine=rack-1\n")
    else:
        path.write_text(yaml.safe_dump({"lab": {"hosts": {
            "host-a": {"ansible_host": "127.0.0.2", "ansible_port": 2201},
            "host-b": {"ansible_host": "127.0.0.3", "bench_machine": "rack-1"}}}}))
    assert [h.name for h in read_inventory(path, None)] == ["host-a", "host-b"]
    assert read_inventory(path, "host-b") == [InventoryHost("host-b", "127.0.0.3", None, "rack-1")]
    assert read_inventory(path, "nothing-like-this") == []


def test_an_inventory_ansible_cannot_read_is_refused_in_one_line(ansible: None,
                                                                 tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("all: [this is: not an inventory\n")
    with pytest.raises(ConfigError, match="Ansible cannot read it"):
        read_inventory(path, None)
    with pytest.raises(ConfigError, match="no such file"):
        read_inventory(tmp_path / "absent.ini", None)


# --- the playbooks -------------------------------------------------------------------------

def tasks_of(play: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for task in play.get("tasks", []):
        nested = task.get("block", []) + task.get("rescue", []) + task.get("always", [])
        found += tasks_of({"tasks": nested}) if nested else [task]
    return found


KEYWORDS = {"name", "loop", "register", "when", "changed_when", "failed_when", "check_mode",
            "environment", "ignore_errors"}


@pytest.mark.parametrize("book", ["identify.yml", "run.yml"])
def test_the_playbooks_use_ansible_core_builtins_only(book: str) -> None:
    """No collection to download (no Galaxy): every module is ansible.builtin's."""
    tasks = [task for play in yaml.safe_load((PLAYBOOKS / book).read_text())
             for task in tasks_of(play)]
    assert tasks
    for task in tasks:
        modules = set(task) - KEYWORDS
        assert len(modules) == 1 and modules.pop().startswith("ansible.builtin."), task


@pytest.mark.parametrize("book", ["identify.yml", "run.yml"])
def test_ansible_accepts_the_playbooks(ansible: None, book: str, tmp_path: Path) -> None:
    inventory = tmp_path / "hosts.ini"
    inventory.write_text("host-a ansible_host=127.0.0.2\n")
    done = subprocess.run([ansible_tool("ansible-playbook"), "--syntax-check", "-i",
                           str(inventory), str(PLAYBOOKS / book)], capture_output=True,
                          text=True, timeout=120, env={"PATH": "/usr/bin:/bin",
                                                      "ANSIBLE_HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr


def test_the_identify_play_changes_nothing_and_runs_under_check() -> None:
    (task,) = tasks_of(yaml.safe_load((PLAYBOOKS / "identify.yml").read_text())[0])
    assert task["changed_when"] is False and task["check_mode"] is False
    assert task["ansible.builtin.command"]["argv"][0] == "cat"


# --- the results that come back ------------------------------------------------------------

def packed(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def test_a_hosts_results_come_back_under_its_own_folder(tmp_path: Path) -> None:
    (tmp_path / "fleet" / "hosts").mkdir(parents=True)
    manifest = json.dumps({"format": RESULTS_FORMAT, "format_version": FORMAT_VERSION,
                           "status": "complete", "run_id": "abc123", "created": 1.0}).encode()
    packed(tmp_path / "a.tgz", {"results/manifest.json": manifest})
    state = HostState("a", "a", "127.0.0.2", status="running")
    collect(state, tmp_path, tmp_path / "fleet", 0)
    assert (state.status, state.run_id, state.results) == ("done", "abc123", "hosts/a")
    assert (tmp_path / "fleet" / "hosts" / "a" / "manifest.json").read_bytes() == manifest


def test_a_member_that_would_land_outside_is_refused(tmp_path: Path) -> None:
    (tmp_path / "fleet" / "hosts").mkdir(parents=True)
    packed(tmp_path / "a.tgz", {"results/../../../escaped": b"x"})
    state = HostState("a", "a", "127.0.0.2", status="running")
    collect(state, tmp_path, tmp_path / "fleet", 0)
    assert state.status == "failed" and state.step == "bring the results back"
    assert not list(tmp_path.rglob("escaped"))


def test_a_host_with_no_results_and_no_failure_event_is_failed_not_done(tmp_path: Path) -> None:
    state = HostState("a", "a", "127.0.0.2", status="running")
    collect(state, tmp_path, tmp_path, 2)
    assert state.status == "failed" and "no results came back (Ansible status 2" in str(state.reason)


# --- the store and the record --------------------------------------------------------------

def test_the_fleet_records_into_one_shared_store_or_says_why_not() -> None:
    url, shown = store_of("postgresql://u:secret@127.0.0.1/bench")
    assert url == "postgresql://u:secret@127.0.0.1/bench"  # the hosts get it whole
    assert "secret" not in shown and shown.startswith("postgresql://u")  # shown without it
    assert store_of("none") == ("none", "none")
    with pytest.raises(ConfigError, match="needs --store"):
        store_of(None)
    for local in ("default", "/tmp/history.sqlite", "sqlite:////tmp/h.sqlite"):
        with pytest.raises(ConfigError, match="SQLite store is a file on each host"):
            store_of(local)


def test_the_record_reads_back_and_refuses_a_newer_format(tmp_path: Path) -> None:
    fleet = Fleet("f1", "c.yaml", "hosts.ini", None, "none", None, "0.3.0",
                  hosts=[HostState("a", "a", "127.0.0.2", status="done", run_id="r1")])
    fleet.write(tmp_path)
    assert read_fleet(tmp_path) == fleet
    document = json.loads((tmp_path / "fleet.json").read_text())
    (tmp_path / "fleet.json").write_text(json.dumps({**document, "format": FORMAT + 1}))
    with pytest.raises(ResultsError, match="newer"):
        read_fleet(tmp_path)
    with pytest.raises(ResultsError, match="not a fleet directory"):
        read_fleet(tmp_path / "elsewhere")


# --- bench as a wheel ----------------------------------------------------------------------

def test_the_wheel_carries_the_checkouts_commit_and_the_playbooks(tmp_path: Path) -> None:
    import zipfile

    from bench.fleet.wheel import build_wheel, source_tree

    try:
        import wheel  # noqa: F401  (setuptools builds wheels with it, offline)
    except ImportError:
        from tests.conftest import require
        require(False, "the wheel package (pip install 'bench[fleet]')")
    built = zipfile.ZipFile(build_wheel(source_tree(), tmp_path / "a", "abc123+dirty"))
    assert built.read("bench/build_commit.txt") == b"abc123+dirty\n"
    assert {"bench/fleet/playbooks/run.yml", "bench/fleet/playbooks/identify.yml",
            "bench/workload/probe.c", "reports/templates/fleet.html.j2"} <= set(built.namelist())
    plain = zipfile.ZipFile(build_wheel(source_tree(), tmp_path / "b", None))
    assert "bench/build_commit.txt" not in plain.namelist()
    assert not (source_tree() / "bench" / "build_commit.txt").exists()  # the checkout is untouched


def test_ansible_failing_as_a_whole_is_an_error_with_its_words(ansible: None, tmp_path: Path) -> None:
    """Not a host's failure: ansible-playbook could not run the play (here a limit that
    leaves no host), and its own last lines say why."""
    from bench.fleet.ansible import Ansible, Play
    from foundation.errors import FleetError

    inventory = tmp_path / "hosts.ini"
    inventory.write_text("host-a ansible_host=127.0.0.2\n")
    runner = Ansible(inventory, tmp_path, tmp_path / "ansible.log", 1, 120, {})
    with pytest.raises(FleetError, match="no hosts to target") as raised:
        runner.run(Play("identify", "identify.yml", ("nobody",), {}), lambda event: True)
    assert raised.value.step == "identify"
    assert "==== identify" in (tmp_path / "ansible.log").read_text()
