"""The docker driver's daemon-free parts: the attach stream, cgroup paths, error sentences,
dead endpoints, options, and the SDK's absence. The tests that need dockerd are in
tests/integration/test_docker.py."""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from foundation.errors import RuntimeUnavailable
from runtimes.base import RunContext
from runtimes.docker.driver import DockerDriver, DockerOptions
from runtimes.docker.engine import PING_TIMEOUT_S, daemon_problem, is_local, output_chunks
from runtimes.host import procs
from runtimes.host.procs import container_memory, memory_cgroup_candidates


def frame(stream: int, payload: bytes) -> bytes:
    return bytes([stream, 0, 0, 0]) + len(payload).to_bytes(4, "big") + payload


def test_output_chunks_join_frames_split_anywhere() -> None:
    """The multiplexed stream read through the SDK's socket functions, cut at every byte."""
    stream = frame(1, b"BENCH-READY ready\n") + frame(2, b"oops\n") + frame(1, b"BENCH-IDLE\n")
    for cut in range(0, len(stream), 3):
        ours, theirs = socket.socketpair()
        with ours, theirs:
            theirs.sendall(stream[:cut])
            reader = output_chunks(ours)
            theirs.sendall(stream[cut:])
            theirs.shutdown(socket.SHUT_WR)
            assert b"".join(reader) == b"BENCH-READY ready\noops\nBENCH-IDLE\n"


CID = "9ea7167487b0"
HYBRID_MOUNTS = """cgroup2 /sys/fs/cgroup/unified cgroup2 rw,nosuid,nodev,noexec,relatime 0 0
cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,nosuid,nodev,noexec,relatime,cpu,cpuacct 0 0
cgroup /sys/fs/cgroup/memory cgroup rw,nosuid,nodev,noexec,relatime,memory 0 0
"""


def test_memory_cgroup_on_v1_and_hybrid_hosts_prefers_the_memory_controller() -> None:
    memberships = f"4:memory:/docker/{CID}\n1:cpu,cpuacct:/docker/{CID}\n0::/docker/{CID}\n"
    assert memory_cgroup_candidates(memberships, HYBRID_MOUNTS) == [
        Path(f"/sys/fs/cgroup/memory/docker/{CID}/memory.usage_in_bytes"),
        Path(f"/sys/fs/cgroup/unified/docker/{CID}/memory.current")]


@pytest.mark.parametrize("group", [f"/system.slice/docker-{CID}.scope", f"/docker/{CID}"])
def test_memory_cgroup_on_v2_hosts_follows_either_cgroup_driver(group: str) -> None:
    mounts = "cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime,nsdelegate 0 0\n"
    assert memory_cgroup_candidates(f"0::{group}\n", mounts) == [
        Path(f"/sys/fs/cgroup{group}/memory.current")]


@pytest.fixture
def one_cgroup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A memory cgroup's files holding this process and its parent, charged 12345 bytes;
    the returned list counts how often the cgroup was resolved (one entry per call)."""
    (tmp_path / "memory.usage_in_bytes").write_text("12345\n")
    (tmp_path / "cgroup.procs").write_text(f"{os.getpid()}\n{os.getppid()}\n")
    resolved: list[int] = []

    def resolve(pid: int) -> Path:
        resolved.append(pid)
        return tmp_path / "memory.usage_in_bytes"

    monkeypatch.setattr(procs, "memory_cgroup_file", resolve)
    return resolved


def test_container_memory_resolves_the_cgroup_once(one_cgroup: list[int]) -> None:
    """The members (less the monitor) and the charge come from one look at the cgroup."""
    found = container_memory("runc", os.getpid(), ("shim", os.getppid()))
    assert one_cgroup == [os.getpid()]
    assert set(found.parts) == {"workload", "shim"} and min(found.parts.values()) > 0
    assert found.charge == 12345


def test_container_memory_of_a_shared_container_counts_its_own_process(
        one_cgroup: list[int], tmp_path: Path) -> None:
    (tmp_path / "cgroup.procs").unlink()  # a docker exec: the cgroup's members are not read
    found = container_memory("runc", os.getpid(), ("shim", os.getppid()), whole_cgroup=False)
    assert one_cgroup == [os.getpid()] and found.charge == 12345
    assert set(found.parts) == {"workload", "shim"}


def test_container_memory_without_a_cgroup_has_no_charge(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(procs, "memory_cgroup_file", lambda pid: None)
    found = container_memory("runc", os.getpid(), ("conmon", os.getppid()))
    assert found.charge is None and set(found.parts) == {"workload", "conmon"}


def test_only_a_unix_socket_endpoint_is_this_host() -> None:
    assert is_local(None) and is_local("unix:///run/other.sock")
    assert not is_local("tcp://127.0.0.1:2375")


def test_daemon_problem_sentences() -> None:
    def wrapped(cause: BaseException) -> Exception:
        try:
            raise ConnectionError("Connection aborted.", cause) from cause
        except ConnectionError as error:
            return error

    assert "no permission on the Docker socket unix:///x.sock" in daemon_problem(
        wrapped(PermissionError(13, "Permission denied")), "unix:///x.sock")
    assert "dockerd is not running" in daemon_problem(wrapped(FileNotFoundError(2, "x")), None)
    assert "unix:///var/run/docker.sock" in daemon_problem(wrapped(FileNotFoundError()), None)


@contextmanager
def dead_endpoint(path: Path, kind: str) -> Iterator[str]:
    """A unix socket nobody answers on: absent, bound only (refused), or listening but mute."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if kind != "missing":
        server.bind(str(path))
    if kind == "hung":
        server.listen(4)
    try:
        yield f"unix://{path}"
    finally:
        server.close()


@pytest.mark.parametrize("kind", ["missing", "refused", "hung"])
def test_a_dead_endpoint_fails_within_seconds(tmp_path: Path, kind: str) -> None:
    expected = "did not answer" if kind == "hung" else "dockerd is not running"
    started = time.monotonic()
    with dead_endpoint(tmp_path / "docker.sock", kind) as url:
        driver = DockerDriver("docker", DockerOptions(endpoint=url),
                              RunContext("dead", tmp_path, tmp_path))
        with pytest.raises(RuntimeUnavailable, match=expected):
            driver.prepare(tmp_path / "probe")
    assert time.monotonic() - started < PING_TIMEOUT_S + 2


def test_endpoint_must_be_a_docker_url(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unix:///var/run/docker.sock"):
        DockerOptions(endpoint="/var/run/docker.sock")


def test_missing_sdk_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "docker", None)  # `import docker` now raises ImportError
    assert DockerDriver.unavailable_reason(DockerOptions()) == (
        "the docker SDK for Python is not installed: pip install 'bench[docker]'")
    assert DockerDriver.clean(DockerOptions(), None, dry_run=True) == []
