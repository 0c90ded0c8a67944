"""The native runtime for real: namespaces, cgroup limits and privileges, checked from the inside.

"Inside" means the instance's own view, read from the host without entering it where the
kernel allows: /proc/<probe>/root/proc is the procfs the instance mounted (its PID 1, its
processes), /proc/<probe>/mountinfo and /proc/<probe>/net/dev are its mount table and its
network namespace's interfaces; the hostname needs nsenter into its UTS namespace. The
probe's host pid is found through the instance's cgroup. Each test proves at the end that
no cgroup, mount or process of its run is left.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from foundation.errors import InstanceError
from runtimes.base import ProbeCommand
from runtimes.host.build import compile_static
from runtimes.host.cgroups import detect
from runtimes.host.launcher import launcher_command
from runtimes.host.procs import parent_pid
from runtimes.native.driver import MASKED_PATHS, NativeDriver, NativeOptions
from tests.conftest import require
from tests.integration.native_harness import (
    Harness,
    deadline,
    handle,
    hybrid_cgroup2,
    open_harness,
    probe,
    probe_pid,
    status_fields,
)

pytestmark = pytest.mark.integration

FORKER_SOURCE = Path(__file__).with_name("forker.c")
MIB = 1024**2
READ_ONLY_PROC = ("/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus", "/proc/fs")


class ForkerDriver(NativeDriver):
    """The native runtime running the fork helper instead of the probe."""

    def command_argv(self, command: ProbeCommand) -> list[str]:
        return ["/forker", *command.args]


@pytest.fixture
def harness(tmp_path: Path, cache: Path) -> Iterator[Harness]:
    with open_harness(tmp_path, cache) as made:
        yield made


def test_the_probe_is_pid_1_and_alone_in_its_namespaces(harness: Harness) -> None:
    driver = harness.driver()
    instance = harness.start(driver, "ready")
    pid = probe_pid(driver, instance)
    assert status_fields(Path(f"/proc/{pid}/status").read_text())["NSpid"].split() == [str(pid), "1"]
    inside = Path(f"/proc/{pid}/root/proc")  # the procfs the instance mounted
    assert sorted(p.name for p in inside.iterdir() if p.name.isdigit()) == ["1"]
    assert (inside / "1" / "cmdline").read_bytes() == b"/probe\0ready\0"
    for namespace in ("pid", "mnt", "uts", "ipc", "net", "cgroup"):
        assert os.readlink(f"/proc/{pid}/ns/{namespace}") != os.readlink(f"/proc/self/ns/{namespace}")


def test_own_hostname_and_only_loopback(harness: Harness) -> None:
    require(shutil.which("nsenter") is not None, "nsenter (util-linux)")
    named = harness.driver({"hostname": "isolated-probe"})
    default = harness.driver()
    for driver, expected in ((named, "isolated-probe"), (default, None)):
        instance = harness.start(driver, "ready")
        pid = probe_pid(driver, instance)
        seen = subprocess.run(["nsenter", f"--target={pid}", "--uts", "uname", "-n"],
                              capture_output=True, text=True, timeout=10, check=True).stdout.strip()
        assert seen == (expected or instance.name)
        net_dev = Path(f"/proc/{pid}/net/dev").read_text().splitlines()[2:]
        assert [line.split(":")[0].strip() for line in net_dev] == ["lo"]


def test_only_its_own_mounts_on_a_read_only_root(harness: Harness) -> None:
    driver = harness.driver()
    instance = harness.start(driver, "ready")
    mounts = [line.split() for line in
              Path(f"/proc/{probe_pid(driver, instance)}/mountinfo").read_text().splitlines()]
    by_point = {fields[4]: fields for fields in mounts}
    # /proc/sys and the like are read-only binds, /proc/keys and the like masked (where
    # this kernel has them)
    read_only = ["/", *(p for p in READ_ONLY_PROC if Path(p).exists())]
    masked = [p for p in MASKED_PATHS if Path(p).exists()]
    assert sorted(by_point) == sorted({"/", "/proc", "/tmp", *read_only, *masked})
    for point in read_only:
        assert "ro" in by_point[point][5].split(","), point
    for point in masked:  # a file becomes /dev/null, a directory an empty read-only tmpfs
        if Path(point).is_dir():
            assert fs_type(by_point[point]) == "tmpfs" and "ro" in by_point[point][5].split(",")
        else:
            assert by_point[point][3] == "/null", point
    assert fs_type(by_point["/proc"]) == "proc" and fs_type(by_point["/tmp"]) == "tmpfs"
    assert "ro" not in by_point["/tmp"][5].split(",")


def fs_type(mountinfo_fields: list[str]) -> str:
    return mountinfo_fields[mountinfo_fields.index("-") + 1]


def test_no_capabilities_and_no_new_privileges(harness: Harness) -> None:
    driver = harness.driver()
    instance = harness.start(driver, "ready")
    status = status_fields(
        Path(f"/proc/{probe_pid(driver, instance)}/root/proc/1/status").read_text())
    for capability_set in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(status[capability_set], 16) == 0, capability_set
    assert status["NoNewPrivs"] == "1"


def test_memory_limit_kills_what_goes_beyond_it(harness: Harness) -> None:
    driver = harness.driver({"memory_limit": "32MiB"})
    within = harness.start(driver, "memtouch", "mib=8")
    within.output.wait_for("BENCH-IDLE", deadline(10), "memtouch within the limit")
    reading = driver.memory(within)
    assert reading.cgroup is not None and reading.cgroup >= 8 * MIB
    assert reading.host_pss >= 8 * MIB

    beyond = harness.start(driver, "memtouch", "mib=64")
    assert probe(beyond).wait(timeout=10) != 0
    assert beyond.output.wait_closed(deadline(10))
    assert "BENCH-IDLE" not in beyond.output.text()
    assert driver.cgroups.oom_kills(handle(beyond).cgroup) >= 1


def test_pids_limit_stops_forks(harness: Harness) -> None:
    forker = compile_static(FORKER_SOURCE, harness.cache)
    driver = harness.driver({"pids_limit": 8}, cls=ForkerDriver, extra_files={"forker": forker})
    instance = harness.start(driver, "forker", "want=32")
    _, line = instance.output.wait_for("FORKER", deadline(10), "forker")
    found = dict(re.findall(r"(\w+)=(\d+)", line))
    assert int(found["errno"]) == errno.EAGAIN
    assert 0 < int(found["forked"]) < 32
    assert len(driver.cgroups.members(handle(instance).cgroup)) == 8  # the limit, reached


def test_memory_reading_covers_the_instance_and_nothing_of_benchs(harness: Harness) -> None:
    driver = harness.driver()
    instance = harness.start(driver, "ready")
    pids = driver.host_pids(instance)
    # no monitor process waits beside it: bench itself is its parent
    assert pids == [probe_pid(driver, instance)] and os.getpid() not in pids
    assert parent_pid(pids[0]) == os.getpid()
    reading = driver.memory(instance)
    assert reading.host_pss > 0 and reading.cgroup is not None and reading.cgroup > 0
    found = NativeDriver.clean(NativeOptions(), harness.run_id, dry_run=True)
    assert len(found) == 1 and found[0].startswith("cgroup ") and instance.name in found[0]


def test_sigterm_reaches_the_probe_through_its_pidfd(harness: Harness) -> None:
    driver = harness.driver()
    instance = harness.start(driver, "ready")
    instance.output.wait_for("BENCH-IDLE", deadline(10), "probe")
    probe(instance).send_signal(signal.SIGTERM)
    assert probe(instance).wait(timeout=10) == 0  # its status, from the launcher (its parent)
    instance.output.wait_for("BENCH-DONE 0", deadline(10), "probe")


def test_stop_removes_the_cgroup(harness: Harness) -> None:
    driver = harness.driver()
    instance = harness.start(driver, "ready")
    cgroup = handle(instance).cgroup
    assert cgroup.dirs and all(d.is_dir() for d in cgroup.dirs)
    driver.stop(instance)
    assert not any(d.exists() for d in cgroup.dirs)
    assert "BENCH-DONE 0" in instance.output.text()


def test_fingerprint_and_availability(harness: Harness) -> None:
    fingerprint = harness.driver({"memory_limit": "64MiB", "pids_limit": 10}).fingerprint()
    assert fingerprint["cgroup_version"] == detect().version
    assert set(fingerprint["cgroup_controllers"]) >= {"memory", "pids"}
    assert (fingerprint["memory_limit"], fingerprint["pids_limit"]) == (64 * MIB, 10)


def test_launcher_clones_into_a_v2_cgroup(harness: Harness) -> None:
    """The v2 join (clone3 CLONE_INTO_CGROUP) of the launcher as a command, on a hybrid host's
    controller-less cgroup2 mount (test_launcher.py checks the server's)."""
    unified = hybrid_cgroup2()
    driver = harness.driver()
    assert driver.launcher is not None
    cgroup = unified / f"bench-{harness.run_id}-v2"
    cgroup.mkdir()
    try:
        process = subprocess.Popen([str(launcher_command(harness.cache)), "--cgroup", str(cgroup), "--ns",
                                    str(driver.rootfs), "v2", "--", "/probe", "ready"],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT)
        try:
            assert process.stdout is not None
            assert process.stdout.readline().startswith(b"BENCH-READY")
            (pid,) = (int(p) for p in (cgroup / "cgroup.procs").read_text().split())
            assert f"0::/{cgroup.name}" in Path(f"/proc/{pid}/cgroup").read_text()
            assert pid != process.pid  # the launcher itself never moved
        finally:
            process.communicate(timeout=10)
    finally:
        cgroup.rmdir()


def test_a_failed_start_says_why_and_leaves_nothing(harness: Harness) -> None:
    driver = harness.driver()
    (driver.rootfs / "probe").unlink()
    with pytest.raises(InstanceError, match="launcher: /probe: No such file"):
        driver.start(ProbeCommand("ready"), deadline(10))
    assert NativeDriver.clean(NativeOptions(), harness.run_id, dry_run=True) == []
