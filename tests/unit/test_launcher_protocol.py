"""The launcher's interface as the Python side speaks it (runtimes/host/launcher.py): requests
encoded as launcher.c parses them, the struct it fills mirrored field for field, a child
reaped and signalled through its pidfd, stamps turned into boot phases that add up. The
launcher itself starts real instances in tests/integration/test_launcher.py."""

from __future__ import annotations

import ctypes
import os
import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from foundation.errors import InstanceError
from runtimes.host.cgroups import CgroupV1, CgroupV2
from runtimes.host.launcher import (
    MAX_REQUEST,
    SOURCE,
    STAMPS,
    Joining,
    Launched,
    LaunchStruct,
    Request,
    encoded_environment,
    joining,
    mark_phases,
)
from runtimes.instance import Instance


def fields(payload: bytes) -> list[tuple[str, str]]:
    """The (tag, value) fields of a request, as launcher.c's parse_request reads them."""
    assert payload.endswith(b"\0")
    return [(chunk[:1].decode(), chunk[1:].decode()) for chunk in payload[:-1].split(b"\0")]


def test_a_plain_request_carries_argv_env_its_cgroup_files_and_the_drivers_environment() -> None:
    request = Request(["/probe", "ready"], env=["T=i"], base_env=encoded_environment(["A=b"]),
                      cgroup=Joining(files=(Path("/sys/fs/cgroup/memory/bench/x/tasks"),)))
    assert fields(request.encode("1")) == [("a", "/probe"), ("a", "ready"), ("e", "T=i"),
                                           ("j", "/sys/fs/cgroup/memory/bench/x/tasks"),
                                           ("p", "1"), ("e", "A=b")]


def test_a_native_request_carries_its_rootfs_hostname_and_binds() -> None:
    request = Request(["/probe"], cgroup=Joining(directory=Path("/sys/fs/cgroup/bench/x")),
                      rootfs="/work/rootfs", hostname="h", binds=[("/dev/null", "dev/null")])
    # the v2 directory travels as a descriptor, not a field
    assert fields(request.encode()) == [("a", "/probe"), ("n", "/work/rootfs"), ("h", "h"),
                                        ("b", "/dev/null"), ("B", "dev/null")]


def test_every_tag_the_python_side_sends_is_one_the_c_side_reads() -> None:
    cases = re.findall(r"case '(.)':", SOURCE.read_text())
    sent = {tag for tag, _ in fields(Request(
        ["/p"], env=["A=b"], base_env=encoded_environment(["C=d"]),
        cgroup=Joining(files=(Path("/t"),)), rootfs="/r", hostname="h",
        binds=[("/s", "t")]).encode("0"))}
    assert sent <= set(cases) and sent == {"a", "e", "j", "p", "n", "h", "b", "B"}


def test_names_that_are_not_utf8_travel_as_the_os_spells_them() -> None:
    name = os.fsdecode(b"/tmp/caf\xe9")
    assert b"a/tmp/caf\xe9\0" in Request([name]).encode()


@pytest.mark.parametrize("request_", [Request(["/probe", "a\0b"]), Request(["/p"], env=["A=\0"])])
def test_a_nul_inside_a_value_is_refused_before_the_launcher_sees_it(request_: Request) -> None:
    with pytest.raises(InstanceError, match="NUL"):
        request_.encode()


def test_a_request_larger_than_the_launcher_takes_is_refused() -> None:
    with pytest.raises(InstanceError, match="more than the launcher takes"):
        Request(["/probe", "x" * MAX_REQUEST]).encode()


def test_v1_joins_through_tasks_files_and_v2_clones_into_the_directory(tmp_path: Path) -> None:
    v1, v2 = CgroupV1(tmp_path), CgroupV2(tmp_path)
    assert joining(v1, v1.cgroup("i")) == Joining(files=(
        tmp_path / "memory/bench/i/tasks", tmp_path / "pids/bench/i/tasks"))
    assert joining(v2, v2.cgroup("i")) == Joining(directory=tmp_path / "bench/i")


def test_the_struct_mirrors_launcher_c_field_for_field() -> None:
    """Offsets as x86-64's C compiler lays out struct launch (naturally aligned, no holes)."""
    text = SOURCE.read_text()
    body = text[text.index("struct launch {"):text.index("};", text.index("struct launch {"))]
    code = re.sub(r"/\*.*?\*/", "", body, flags=re.DOTALL).replace("*", " ")
    names = re.findall(r"(\w+)(?:\[\w+\])?[,;]", code)
    assert [name for name, _ in LaunchStruct._fields_] == names
    assert [LaunchStruct.__dict__[name].offset for name in names] == [
        0, 8, 16, 20, 24, 28, 32, 40, 44, 48, 52, 56, 120]
    enum = text[text.index("enum stamp {"):text.index("    STAMPS\n")]
    assert len(STAMPS) == len(re.findall(r"^    [A-Z]+,", enum, re.MULTILINE))
    assert ctypes.sizeof(LaunchStruct) == 120 + 8 * len(STAMPS)


@pytest.fixture
def sleeper() -> Iterator[Launched]:
    """A child of ours as the launcher returns one: its pid, a pidfd, our end of its stdin."""
    process = subprocess.Popen(["sleep", "30"], stdin=subprocess.PIPE)
    assert process.stdin is not None
    child = Launched(process.pid, os.pidfd_open(process.pid), process.stdin, ["sleep", "30"],
                     {"called": 1})
    process.returncode = 0  # reaped through the pidfd, not by Popen: it must not try too
    yield child
    child.kill()
    if child.poll() is None:
        child.wait(10)
    process.stdin.close()


def test_a_child_is_reaped_through_its_pidfd_with_popens_status(sleeper: Launched) -> None:
    assert sleeper.poll() is None
    with pytest.raises(subprocess.TimeoutExpired):
        sleeper.wait(0.05)
    sleeper.kill()
    assert sleeper.wait(10) == -signal.SIGKILL and sleeper.poll() == -signal.SIGKILL


def test_a_signal_never_goes_through_a_pidfd_closed_once_reaped(sleeper: Launched) -> None:
    sleeper.kill()
    sleeper.wait(10)  # reaped: its pidfd is closed
    decoy = subprocess.Popen(["sleep", "30"])
    other = os.pidfd_open(decoy.pid)  # likely takes the closed descriptor's number
    try:
        sleeper.kill()  # nothing: it is gone
        assert decoy.poll() is None
    finally:
        os.close(other)
        decoy.kill()
        decoy.wait()


def test_stamps_become_phases_that_add_up_to_the_ready_line() -> None:
    instance: Instance[None] = Instance("i", 1_000_000)
    instance.mark("cgroup", 1_300_000)
    mark_phases(instance, {"called": 1_400_000, "child": 1_500_000, "cgroup": 1_520_000,
                           "namespaces": 2_000_000, "mounts": 2_400_000, "seccomp": 2_450_000,
                           "exec": 2_600_000})
    instance.mark("ready", 3_000_000)
    phases = instance.boot_phases()
    assert list(phases) == ["cgroup", "request", "spawn", "namespaces", "mounts", "seccomp",
                            "exec", "ready"]
    assert phases["spawn"] == pytest.approx(0.12) and phases["ready"] == pytest.approx(0.4)
    assert sum(phases.values()) == pytest.approx(instance.boot_total_ms()) == 2.0


def test_an_exec_seen_after_the_ready_line_ends_there() -> None:
    instance: Instance[None] = Instance("i", 0)
    mark_phases(instance, {"called": 100, "cgroup": 200, "exec": 900})
    instance.mark("ready", 500)  # the asking thread ran again only after the line came
    phases = instance.boot_phases()
    assert phases["exec"] == pytest.approx(0.0003) and phases["ready"] == 0.0
    assert sum(phases.values()) == pytest.approx(instance.boot_total_ms())
