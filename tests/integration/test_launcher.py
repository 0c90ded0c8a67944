"""The launcher for real (runtimes/host/launcher.c and launcher.py): the process and native
drivers' instances are bench's own children, in their cgroups from before their exec, with
nothing of bench's but their stdio, their starts stamped into phases that add up; a failed
step and a malformed request are each said as what they are; many starts at once from many
threads each get their own child; the portable build (glibc's clone) starts them too.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from foundation.errors import InstanceError
from runtimes.base import ProbeCommand
from runtimes.host.build import compile_library
from runtimes.host.launcher import LIBRARY_DEFINES, SOURCE, Joining, Launched, Launcher, Request
from runtimes.host.procs import parent_pid
from runtimes.host.spawn import TAG
from runtimes.instance import Instance
from runtimes.native.driver import NativeDriver
from runtimes.process.driver import ProcessDriver
from runtimes.protocol import READY
from tests.integration.driver_harness import D, Harness, deadline, open_harness, require_driver
from tests.integration.native_harness import hybrid_cgroup2
from tests.integration.run_harness import wait_until

pytestmark = pytest.mark.integration

PROCESS_PHASES = ["cgroup", "request", "spawn", "exec", "ready"]
NATIVE_PHASES = ["cgroup", "request", "spawn", "namespaces", "mounts", "seccomp", "exec", "ready"]


def harness_of(cls: type[D], tmp_path: Path, cache: Path) -> Iterator[Harness[D]]:
    require_driver(cls)
    with open_harness(cls, tmp_path, cache) as made:
        yield made


@pytest.fixture
def process(tmp_path: Path, cache: Path) -> Iterator[Harness[ProcessDriver]]:
    yield from harness_of(ProcessDriver, tmp_path, cache)


@pytest.fixture
def native(tmp_path: Path, cache: Path) -> Iterator[Harness[NativeDriver]]:
    yield from harness_of(NativeDriver, tmp_path, cache)


def child(instance: Instance[object]) -> Launched:
    found = getattr(instance.handle, "process", None)
    assert isinstance(found, Launched)
    return found


def cgroup_lines(pid: int) -> str:
    return Path(f"/proc/{pid}/cgroup").read_text()


def test_a_probe_is_benchs_child_in_its_cgroup_with_its_tag_and_only_its_stdio(
        process: Harness[ProcessDriver]) -> None:
    driver = process.driver()
    kept = os.open("/dev/null", os.O_RDONLY)  # not close-on-exec: Popen's close_fds would stop it
    try:
        instance = process.start(driver)
    finally:
        os.close(kept)
    pid = child(instance).pid
    assert parent_pid(pid) == os.getpid()
    held = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
    assert "/dev/null" not in held, held  # what bench holds stays bench's
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
        assert parent_pid(child(instance).pid) == os.getpid()


@pytest.mark.parametrize("kind", ["process", "native"])
def test_the_start_is_armed_before_the_clock(kind: str, request: pytest.FixtureRequest,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """What the launcher is asked (argv, environment, cgroup paths, rootfs) is built and
    encoded, and the start's pipes and the call's struct made, before the boot's clock
    starts; the clock holds only the start itself."""
    harness = request.getfixturevalue(kind)
    driver = harness.driver()
    built: list[int] = []
    armed: list[int] = []
    real = driver.instance_request
    real_arm = driver.launcher.arm

    def timed_request(*args: object) -> Request:
        built.append(time.monotonic_ns())
        return real(*args)  # type: ignore[no-any-return]

    def timed_arm(*args: object) -> object:
        made = real_arm(*args)
        armed.append(time.monotonic_ns())  # once it returned: pipes and struct made
        return made

    monkeypatch.setattr(driver, "instance_request", timed_request)
    monkeypatch.setattr(driver.launcher, "arm", timed_arm)
    instance = harness.start(driver)
    assert len(built) == 1 and built[0] < instance.requested_ns
    assert len(armed) == 1 and armed[0] < instance.requested_ns
    assert driver._armed == {}  # taken by the start that armed it
    assert child(instance).argv == list(real(instance, instance.held().cgroup,
                                             ProbeCommand("ready", ("idle=300",))).argv)


def test_a_start_armed_then_refused_its_cgroup_leaves_no_pipe_open(
        process: Harness[ProcessDriver], monkeypatch: pytest.MonkeyPatch) -> None:
    """An armed start holds pipes the pump reads; when the start fails before its launch
    (its cgroup could not be made), they are closed, and the pump lets go of them."""
    driver = process.driver()
    process.start(driver)  # the pump and everything made once per driver, made
    open_fds = len(os.listdir("/proc/self/fd"))

    def refused(*_: object) -> None:
        raise InstanceError("no cgroup for this test")

    monkeypatch.setattr(driver.cgroups, "create", refused)
    with pytest.raises(InstanceError, match="no cgroup for this test"):
        process.start(driver)
    assert driver._armed == {}
    wait_until(lambda: len(os.listdir("/proc/self/fd")) == open_fds, 10,
               "the armed start's pipes closed")


def test_exit_statuses_and_signals_go_through_the_pidfd(
        process: Harness[ProcessDriver]) -> None:
    driver = process.driver()
    killed = process.start(driver)
    child(killed).kill()
    assert child(killed).wait(10) == -signal.SIGKILL
    done = process.start(driver, "ready", "idle=0")
    assert child(done).wait(10) == 0
    failing = process.start(driver, "nosuchmode")
    assert child(failing).wait(10) == 2  # the probe's status for an unknown mode


def test_a_command_starts_with_no_signal_blocked_ignored_or_handled_of_benchs(
        process: Harness[ProcessDriver]) -> None:
    """Python ignores SIGPIPE and handles SIGINT; the launcher blocks every signal in the
    child until its exec (it shares bench's memory): none of that may reach the command.
    What bench's own parent ignored (nohup: SIGHUP; a shell's background job: SIGQUIT) stays
    ignored, as it does for subprocess.Popen and any exec."""
    assert signal.getsignal(signal.SIGPIPE) == signal.SIG_IGN
    before = signal.signal(signal.SIGINT, signal.default_int_handler)  # as bench's own run has
    try:
        starts_clean(process)
    finally:
        signal.signal(signal.SIGINT, before)


def starts_clean(process: Harness[ProcessDriver]) -> None:
    """A command the launcher starts has the signal masks of one Popen starts."""
    driver = process.driver()
    assert driver.launcher is not None
    output: Instance[None] = Instance(driver.resource_name("sleep"), time.monotonic_ns())
    sleeper = driver.launcher.start(output, Request(["/bin/sleep", "30"]))
    plain = subprocess.Popen(["/bin/sleep", "30"])  # restore_signals: as a command expects them
    try:
        time.sleep(0.5)  # both past their own start-up (glibc installs a handler of its own)
        ours, theirs = signal_masks(sleeper.pid), signal_masks(plain.pid)
        pythons = (1 << (signal.SIGPIPE - 1)) | (1 << (signal.SIGXFSZ - 1))
        inherited = signal_masks(os.getpid())["SigIgn"] & ~pythons
        assert ours == theirs and ours["SigBlk"] == 0 and ours["SigIgn"] == inherited, (
            ours, theirs, inherited)
    finally:
        plain.kill()
        plain.wait()
        sleeper.kill()
        sleeper.wait(10)
        if sleeper.stdin is not None:
            sleeper.stdin.close()


def signal_masks(pid: int) -> dict[str, int]:
    status = Path(f"/proc/{pid}/status").read_text()
    return {key: int(status.split(f"{key}:")[1].split()[0], 16)
            for key in ("SigBlk", "SigIgn", "SigCgt")}


def test_a_failed_step_says_which_and_why_on_the_stream_and_to_the_caller(
        native: Harness[NativeDriver]) -> None:
    driver = native.driver()
    assert driver.launcher is not None
    cgroup = driver.cgroups.create(driver.resource_name("gone"), driver.limits)
    output: Instance[None] = Instance(driver.resource_name("gone"), time.monotonic_ns())
    try:
        gone = driver.launcher.start(output, driver.request(
            output.name, cgroup, ProbeCommand("ready"), rootfs="/nonexistent-rootfs"))
        assert gone.problem == f"bind rootfs: {os.strerror(2)}"
        assert gone.wait(10) == 127
        assert output.output.wait_closed(deadline(10))
        assert output.output.tail() == ("launcher: bind rootfs: No such file or directory",)
    finally:
        driver.cgroups.remove(cgroup)


def test_a_request_the_launcher_cannot_read_starts_nothing(process: Harness[ProcessDriver]) -> None:
    driver = process.driver()
    assert driver.launcher is not None
    output: Instance[None] = Instance(driver.resource_name("bad"), time.monotonic_ns())
    with pytest.raises(InstanceError, match=r"could not start \[\]: no command"):
        driver.launcher.start(output, Request([]))
    assert output.output.wait_closed(deadline(10))  # its pipes went with it
    instance = process.start(driver)  # the next start is as ever
    assert instance.output.find(READY) is not None


def test_starts_at_once_from_many_threads_each_get_their_own_child(
        process: Harness[ProcessDriver]) -> None:
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
    assert len(pids) == 16  # each start its own child, each thread on a stack of its own
    for instance in started:
        child(instance).kill()
    assert sorted(child(instance).wait(10) for instance in started) == [-signal.SIGKILL] * 16


def test_a_threads_child_stack_goes_with_the_thread(process: Harness[ProcessDriver]) -> None:
    """A storm starts each instance from a thread of its own, one storm's threads after
    another's: the stack the launcher maps for a thread's children must not outlive it
    (64 KiB of bench's address space per thread and storm, kept until bench leaves)."""
    driver = process.driver()
    assert driver.launcher is not None
    launcher = driver.launcher

    def one_start() -> None:
        output: Instance[None] = Instance(driver.resource_name("true"), time.monotonic_ns())
        started = launcher.start(output, Request(["/bin/true"]))
        assert started.wait(10) == 0
        if started.stdin is not None:
            started.stdin.close()

    def threads_each_starting_one(count: int) -> None:
        tasks = len(os.listdir("/proc/self/task"))
        for _ in range(count):
            thread = threading.Thread(target=one_start)
            thread.start()
            thread.join(30)
            # gone from the kernel too (join returns before): glibc reuses its stack, and
            # the next thread's is not a new mapping of its own
            wait_until(lambda: len(os.listdir("/proc/self/task")) == tasks, 10,
                       "the thread gone")

    threads_each_starting_one(8)  # Python's and glibc's own per-thread state, made once
    before = anonymous_writable_kib()
    threads_each_starting_one(64)
    grown = anonymous_writable_kib() - before
    # a kept stack would be 64 x 64 KiB; Python's allocator may map one more 1 MiB arena at any
    # moment (a test run alone grew by exactly 1024 KiB in 3 of 6 runs, while 64, 128 and 256
    # threads' starts in one process grew by 0: it does not grow with the starts)
    assert grown < 64 * 64 // 2, f"{grown} KiB more mapped after 64 threads' starts"


def anonymous_writable_kib() -> int:
    """What this process has mapped read-write and anonymous (stacks and heaps; a malloc
    arena's reserve is mapped without access and does not count)."""
    total = 0
    for line in Path("/proc/self/maps").read_text().splitlines():
        fields = line.split()
        if len(fields) == 5 and fields[1] == "rw-p":
            start, end = (int(address, 16) for address in fields[0].split("-"))
            total += (end - start) // 1024
    return total


def test_the_launchers_cgroup_v2_descriptor_clones_the_child_into_it(
        process: Harness[ProcessDriver]) -> None:
    """CLONE_INTO_CGROUP from the library, on a hybrid host's controller-less cgroup2."""
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


def test_the_portable_build_starts_children_through_glibcs_clone(
        process: Harness[ProcessDriver]) -> None:
    """What other architectures than x86-64 run (no CLONE_INTO_CGROUP: a v2 child joins
    through its cgroup.procs), built and tried here."""
    driver = process.driver()
    assert driver.launcher is not None
    driver.launcher.close()
    driver.launcher = Launcher(compile_library(SOURCE, process.cache, (
        *LIBRARY_DEFINES, "LAUNCHER_PORTABLE")), driver.resource_name("launcher"))
    instance = process.start(driver)
    assert list(instance.boot_phases()) == PROCESS_PHASES
    assert parent_pid(child(instance).pid) == os.getpid()
    assert child(instance).pid in driver.cgroups.members(instance.held().cgroup)
