"""The launcher's protocol as the Python side speaks it (runtimes/host/launcher.py): requests
encoded as launcher.c parses them, replies routed to their child and turned into its state,
stamps into boot phases that add up. The launcher itself is tested for real in
tests/integration/test_launcher.py."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from foundation.errors import InstanceError
from runtimes.host.cgroups import CgroupV1, CgroupV2
from runtimes.host.launcher import (
    EXITED,
    FAILED,
    MAX_REQUEST,
    REFUSED,
    REPLY,
    STAMPS,
    STARTED,
    Joining,
    Launched,
    Request,
    joining,
    mark_phases,
)
from runtimes.instance import Instance


def fields(payload: bytes) -> list[tuple[str, str]]:
    """The (tag, value) fields of a request, as launcher.c's parse_request reads them."""
    assert payload.endswith(b"\0")
    return [(chunk[:1].decode(), chunk[1:].decode()) for chunk in payload[:-1].split(b"\0")]


def test_a_plain_request_carries_argv_env_and_its_cgroup_files() -> None:
    request = Request(["/probe", "ready"], env=["A=b"],
                      cgroup=Joining(files=(Path("/sys/fs/cgroup/memory/bench/x/tasks"),)))
    assert fields(request.encode(7)) == [("i", "7"), ("a", "/probe"), ("a", "ready"),
                                         ("e", "A=b"), ("j", "/sys/fs/cgroup/memory/bench/x/tasks")]


def test_a_native_request_carries_its_rootfs_hostname_binds_and_a_v2_cgroup_marker() -> None:
    request = Request(["/probe"], cgroup=Joining(directory=Path("/sys/fs/cgroup/bench/x")),
                      rootfs="/work/rootfs", hostname="h", binds=[("/dev/null", "dev/null")])
    # the directory itself travels as a descriptor (SCM_RIGHTS): the field only says so
    assert fields(request.encode(1)) == [("i", "1"), ("a", "/probe"), ("c", ""),
                                         ("n", "/work/rootfs"), ("h", "h"),
                                         ("b", "/dev/null"), ("B", "dev/null")]


def test_names_that_are_not_utf8_travel_as_the_os_spells_them() -> None:
    name = os.fsdecode(b"/tmp/caf\xe9")
    assert b"a/tmp/caf\xe9\0" in Request([name]).encode(1)


@pytest.mark.parametrize("request_", [Request(["/probe", "a\0b"]), Request(["/p"], env=["A=\0"])])
def test_a_nul_inside_a_value_is_refused_before_it_is_sent(request_: Request) -> None:
    with pytest.raises(InstanceError, match="NUL"):
        request_.encode(1)


def test_a_request_larger_than_the_launcher_reads_is_refused() -> None:
    with pytest.raises(InstanceError, match="more than the launcher takes"):
        Request(["/probe", "x" * MAX_REQUEST]).encode(1)


def test_v1_joins_through_tasks_files_and_v2_clones_into_the_directory(tmp_path: Path) -> None:
    v1, v2 = CgroupV1(tmp_path), CgroupV2(tmp_path)
    assert joining(v1, v1.cgroup("i")) == Joining(files=(
        tmp_path / "memory/bench/i/tasks", tmp_path / "pids/bench/i/tasks"))
    assert joining(v2, v2.cgroup("i")) == Joining(directory=tmp_path / "bench/i")


def reply(kind: int, *, serial: int = 1, pid: int = 0, status: int = 0, error: int = 0,
          stamps: dict[str, int] | None = None, step: bytes = b"") -> bytes:
    values = [(stamps or {}).get(name, 0) for name in STAMPS]
    return REPLY.pack(kind, error, serial, pid, status, *values, step)


@pytest.fixture
def child() -> Iterator[Launched]:
    """A child as Launcher.launch makes it (its stdin: a pipe of ours), before any reply."""
    read, write = os.pipe()
    os.close(read)
    made = Launched(1, os.fdopen(write, "wb", buffering=0))
    yield made
    if made.stdin is not None:
        made.stdin.close()


def test_started_then_exited_gives_its_pid_stamps_and_popen_status(child: Launched) -> None:
    assert child.started_stamps(0) == {} and child.poll() is None
    child._reply(*fields_of(reply(STARTED, pid=42, stamps={"received": 5, "exec": 9})), -1)
    assert child.pid == 42 and child.started_stamps(0) == {"received": 5, "exec": 9}
    with pytest.raises(subprocess.TimeoutExpired):
        child.wait(0)
    child._reply(*fields_of(reply(EXITED, pid=42, status=signal.SIGKILL)), -1)  # killed
    assert child.wait(0) == -signal.SIGKILL and child.poll() == -signal.SIGKILL
    child._reply(*fields_of(reply(EXITED, pid=42, status=3 << 8)), -1)  # exited 3
    assert child.wait(0) == 3


def test_a_failed_step_names_the_step_and_its_error(child: Launched) -> None:
    child._reply(*fields_of(reply(FAILED, pid=42, error=2, step=b"bind rootfs")), -1)
    assert child.problem == f"bind rootfs: {os.strerror(2)}"


def test_a_refused_request_ends_the_child_at_once(child: Launched) -> None:
    child._reply(*fields_of(reply(REFUSED, step=b"an unknown field")), -1)
    assert child.problem == "an unknown field" and child.wait(0) == 127


def test_without_its_launcher_a_child_that_never_ran_has_no_status_to_give(child: Launched) -> None:
    child._lost()  # no pidfd: it never reached its exec
    with pytest.raises(InstanceError, match="left after its launcher"):
        child.wait(0)


def test_without_its_launcher_a_running_child_is_told_by_its_pidfd(child: Launched) -> None:
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        child._reply(*fields_of(reply(STARTED, pid=sleeper.pid)), os.pidfd_open(sleeper.pid))
        child._lost()
        with pytest.raises(subprocess.TimeoutExpired):  # it runs on: no status, no error
            child.wait(0.05)
        child.kill()  # through the pidfd the launcher gave
        sleeper.wait(10)
        with pytest.raises(InstanceError, match="left after its launcher"):
            child.wait(5)
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_signal_never_goes_through_a_pidfd_closed_meanwhile(child: Launched) -> None:
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        child._reply(*fields_of(reply(STARTED, pid=sleeper.pid)), os.pidfd_open(sleeper.pid))
        child._reply(*fields_of(reply(EXITED, pid=sleeper.pid)), -1)  # closes the pidfd
        decoy = os.pidfd_open(sleeper.pid)  # likely takes the closed descriptor's number
        try:
            child.kill()  # a no-op: it left
            assert sleeper.poll() is None
        finally:
            os.close(decoy)
    finally:
        sleeper.kill()
        sleeper.wait()


def fields_of(data: bytes) -> tuple[int, int, int, int, dict[str, int], str]:
    """A reply's fields as the launcher's reader passes them to Launched._reply."""
    kind, error, _, pid, status, *values, raw_step = REPLY.unpack(data)
    stamps = {name: value for name, value in zip(STAMPS, values, strict=True) if value}
    return kind, error, pid, status, stamps, raw_step.rstrip(b"\0").decode()


def test_stamps_become_phases_that_add_up_to_the_ready_line() -> None:
    instance: Instance[None] = Instance("i", 1_000_000)
    instance.mark("cgroup", 1_300_000)
    mark_phases(instance, {"received": 1_400_000, "cloned": 1_450_000, "child": 1_500_000,
                           "cgroup": 1_520_000, "namespaces": 2_000_000, "mounts": 2_400_000,
                           "seccomp": 2_450_000, "exec": 2_600_000})
    instance.mark("ready", 3_000_000)
    phases = instance.boot_phases()
    assert list(phases) == ["cgroup", "request", "spawn", "namespaces", "mounts", "seccomp",
                            "exec", "ready"]
    assert phases["spawn"] == pytest.approx(0.12) and phases["ready"] == pytest.approx(0.4)
    assert sum(phases.values()) == pytest.approx(instance.boot_total_ms()) == 2.0


def test_an_exec_seen_after_the_ready_line_ends_there() -> None:
    instance: Instance[None] = Instance("i", 0)
    mark_phases(instance, {"received": 100, "cgroup": 200, "exec": 900})
    instance.mark("ready", 500)  # the launcher saw the exec only after the line came
    phases = instance.boot_phases()
    assert phases["exec"] == pytest.approx(0.0003) and phases["ready"] == 0.0
    assert sum(phases.values()) == pytest.approx(instance.boot_total_ms())

