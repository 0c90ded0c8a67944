"""The launcher for real (runtimes/host/launcher.c and launcher.py): the process and native
drivers' instances are its children, in their cgroups from before their exec, their starts
stamped into phases that add up; a failed step, a malformed request and a launcher that is
gone are each said as what they are; many starts at once each get their own replies.
"""

from __future__ import annotations

import array
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from foundation.errors import InstanceError, TeardownError
from runtimes.base import ProbeCommand
from runtimes.host.launcher import Joining, Launched, Request
from runtimes.host.procs import parent_pid
from runtimes.host.spawn import TAG, stop_contained
from runtimes.instance import Instance
from runtimes.native.driver import NativeDriver
from runtimes.process.driver import ProcessDriver
from runtimes.protocol import READY
from tests.integration.driver_harness import Harness, deadline, open_harness, require_driver
from tests.integration.native_harness import hybrid_cgroup2

pytestmark = pytest.mark.integration

PROCESS_PHASES = ["cgroup", "request", "spawn", "exec", "ready"]
NATIVE_PHASES = ["cgroup", "request", "spawn", "namespaces", "mounts", "seccomp", "exec", "ready"]


@pytest.fixture
def process(tmp_path: Path, cache: Path) -> Iterator[Harness[ProcessDriver]]:
    require_driver(ProcessDriver)
    with open_harness(ProcessDriver, tmp_path, cache) as made:
        yield made


@pytest.fixture
def native(tmp_path: Path, cache: Path) -> Iterator[Harness[NativeDriver]]:
    require_driver(NativeDriver)
    with open_harness(NativeDriver, tmp_path, cache) as made:
        yield made


def child(instance: Instance[object]) -> Launched:
    found = getattr(instance.handle, "process", None)
    assert isinstance(found, Launched)
    return found


def cgroup_lines(pid: int) -> str:
    return Path(f"/proc/{pid}/cgroup").read_text()


def test_a_probe_is_the_launchers_child_in_its_cgroup_with_its_tag(
        process: Harness[ProcessDriver]) -> None:
    driver = process.driver()
    assert driver.launcher is not None
    instance = process.start(driver)
    pid = child(instance).pid
    assert parent_pid(pid) == driver.launcher.process.pid
    # in the instance's cgroup in every hierarchy, though no join= reached the probe
    cgroup = instance.held().cgroup
    assert pid in driver.cgroups.members(cgroup)
    assert sum(line.endswith(f"/bench/{instance.name}")
               for line in cgroup_lines(pid).splitlines()) == len(cgroup.dirs)
    assert b"join=" not in Path(f"/proc/{pid}/cmdline").read_bytes()
    assert f"{TAG}={instance.name}".encode() in Path(f"/proc/{pid}/environ").read_bytes()
    phases = instance.boot_phases()
    assert list(phases) == PROCESS_PHASES and all(ms >= 0 for ms in phases.values()), phases
    assert sum(phases.values()) == pytest.approx(instance.boot_total_ms())


def test_a_native_start_is_named_step_by_step(native: Harness[NativeDriver]) -> None:
    for options in ({}, {"seccomp": "unconfined"}):
        driver = native.driver(options)
        instance = native.start(driver)
        phases = instance.boot_phases()
        assert list(phases) == NATIVE_PHASES and all(ms >= 0 for ms in phases.values()), phases
        assert sum(phases.values()) == pytest.approx(instance.boot_total_ms())
        # PID 1 of its own pid namespace, the launcher's child on the host
        status = Path(f"/proc/{child(instance).pid}/status").read_text()
        assert status.split("NSpid:")[1].split()[1] == "1"
        assert driver.launcher is not None
        assert parent_pid(child(instance).pid) == driver.launcher.process.pid


def test_exit_statuses_and_signals_come_through_the_launcher(
        process: Harness[ProcessDriver]) -> None:
    driver = process.driver()
    killed = process.start(driver)
    child(killed).kill()
    assert child(killed).wait(10) == -signal.SIGKILL
    done = process.start(driver, "ready", "idle=0")
    assert child(done).wait(10) == 0
    failing = process.start(driver, "nosuchmode")
    assert child(failing).wait(10) == 2  # the probe's status for an unknown mode


def test_a_failed_step_says_which_and_why_on_the_stream_and_in_the_reply(
        native: Harness[NativeDriver]) -> None:
    driver = native.driver()
    assert driver.launcher is not None
    cgroup = driver.cgroups.create(driver.resource_name("gone"), driver.limits)
    output: Instance[None] = Instance(driver.resource_name("gone"), time.monotonic_ns())
    try:
        gone = driver.launcher.start(output, driver.request(
            output.name, cgroup, ProbeCommand("ready"), rootfs="/nonexistent-rootfs"))
        assert gone.wait(10) == 127
        assert gone.problem == f"bind rootfs: {os.strerror(2)}"
        assert output.output.wait_closed(deadline(10))
        assert output.output.tail() == ("launcher: bind rootfs: No such file or directory",)
    finally:
        driver.cgroups.remove(cgroup)


def test_a_malformed_request_is_refused_and_the_launcher_serves_on(
        process: Harness[ProcessDriver]) -> None:
    driver = process.driver()
    assert driver.launcher is not None
    launcher = driver.launcher
    read, write = os.pipe()
    try:  # an unknown field, with the two descriptors a request brings
        launcher.socket.sendmsg([b"i999\0zwhat\0a/probe\0"],
                                [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                  array.array("i", [read, write]))])
        os.close(write)
        write = -1
        assert os.read(read, 200) == b"launcher: an unknown field\n"
    finally:
        os.close(read)
        if write >= 0:
            os.close(write)
    instance = process.start(driver)  # the next start is served as ever
    assert instance.output.find(READY) is not None


def test_starts_at_once_each_get_their_own_replies(process: Harness[ProcessDriver]) -> None:
    driver = process.driver()
    started: list[Instance[object]] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            started.append(process.start(driver))
        except BaseException as error:  # noqa: BLE001 (reported below)
            errors.append(error)

    threads = [threading.Thread(target=start) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors and len(started) == 16
    pids = {child(instance).pid for instance in started}
    assert len(pids) == 16  # each reply reached its own instance
    for instance in started:
        child(instance).kill()
    assert sorted(child(instance).wait(10) for instance in started) == [-signal.SIGKILL] * 16


def test_the_launchers_cgroup_v2_descriptor_clones_the_child_into_it(
        process: Harness[ProcessDriver]) -> None:
    """CLONE_INTO_CGROUP through the server, on a hybrid host's controller-less cgroup2."""
    unified = hybrid_cgroup2()
    driver = process.driver()
    assert driver.launcher is not None
    directory = unified / driver.resource_name("v2")
    directory.mkdir()
    output: Instance[None] = Instance(directory.name, time.monotonic_ns())
    try:
        launched = driver.launcher.start(output, Request(
            [str(driver.probe), "ready", "idle=60"], cgroup=Joining(directory=directory)))
        output.output.wait_for(READY, deadline(30), "probe")
        assert (directory / "cgroup.procs").read_text().split() == [str(launched.pid)]
        assert f"0::/{directory.name}" in cgroup_lines(launched.pid)
        launched.kill()
        launched.wait(10)
    finally:
        directory.rmdir()


def test_a_launcher_killed_under_a_live_child_leaves_teardown_whole(
        process: Harness[ProcessDriver]) -> None:
    driver = process.driver()
    assert driver.launcher is not None
    instance = process.start(driver)
    launched = child(instance)
    driver.launcher.process.kill()
    driver.launcher.process.wait(10)
    time.sleep(0.5)  # its replies' reader sees the socket end
    with pytest.raises(subprocess.TimeoutExpired):  # alive, and no status to say
        launched.wait(0.1)
    with pytest.raises(InstanceError, match="left after its launcher"):
        stop_contained(instance, launched, driver.cgroups, instance.held().cgroup, 0.5)
    instance.stopped = True  # what was left is gone: the harness has nothing to stop
    assert not any(directory.exists() for directory in instance.held().cgroup.dirs)
    with pytest.raises(InstanceError, match="did not take the request"):
        process.start(driver)


def test_native_instances_die_with_their_launcher(native: Harness[NativeDriver]) -> None:
    driver = native.driver()
    assert driver.launcher is not None
    instance = native.start(driver)
    pid = child(instance).pid
    driver.launcher.close()  # what a bench that dies does to it: its socket ends
    driver.launcher = None
    assert instance.output.wait_closed(deadline(10))  # SIGKILLed (PR_SET_PDEATHSIG)
    assert not Path(f"/proc/{pid}").exists() or Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    with pytest.raises(TeardownError, match="left after its launcher"):
        driver.stop(instance)  # how it ended is no one's to say now; its cgroup goes all the same
    assert not any(directory.exists() for directory in instance.held().cgroup.dirs)
