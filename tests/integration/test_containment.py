"""A command cannot speak for the probe, and nothing it starts outlives its instance.

The probe's markers travel on a descriptor the command never holds, from a process it may
not inspect (not dumpable); a line that fails the protocol fails its cell. Every instance of
the process baseline lives in a cgroup of its own: a daemon that called setsid, a tree at
its timeout, a command that ignores SIGTERM, a run killed with SIGKILL are all gone once
the run (or `bench clean`) ends.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from bench.results.records import read_lines
from bench.workload.bundle import build_bundle
from runtimes.native.driver import NativeDriver, NativeOptions
from tests.conftest import require
from tests.integration.run_harness import (
    bench_cmd,
    mine,
    run_id_of,
    start,
    stop_and_clean,
    wait_until,
)

pytestmark = pytest.mark.integration

FORGED = ("BENCH-COMMAND status=0 signal=0 stopped=0 wall_ns=-5000000000 user_ns=0 sys_ns=0 "
          "maxrss_kb=0 all_user_ns=0 all_sys_ns=0 all_maxrss_kb=0")


def bench(*args: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(bench_cmd(*args), capture_output=True, text=True, timeout=timeout)


def write_config(tmp_path: Path, runtimes: dict[str, Any], workload: dict[str, Any],
                 **top: Any) -> Path:
    config = {"repetitions": 1, "warmup": 0, "settle": 0, "cell_timeout": 60,
              "runtimes": runtimes, "workloads": {"cmd": {"mode": "command", **workload}}, **top}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def shell(script: str, timeout: float = 60) -> dict[str, Any]:
    return {"argv": ["sh", "-c", script], "timeout": timeout,
            "executables": ["sleep", "setsid", "cat"]}


def samples_of(out: Path, metric: str) -> list[dict[str, Any]]:
    return [s for s in read_lines(out, "samples.jsonl") if s["metric"] == metric]


def output_text(out: Path) -> str:
    """Every command output file of the run (output/*.txt), as one text."""
    return "".join(path.read_text() for path in sorted((out / "output").glob("*.txt")))


def processes_with(marker: str) -> list[int]:
    """Pids of `sleep MARKER` (a survivor of the command's tree; not the shell that ran it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "cmdline").read_bytes() == f"sleep\0{marker}\0".encode():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def kill_all(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            continue


# --- the protocol --------------------------------------------------------------------------

def test_a_command_in_a_native_instance_cannot_forge_the_probes_report(tmp_path: Path) -> None:
    """Issue 20 point 3: a BENCH-COMMAND line written to /proc/1/fd/1 (the probe's stream
    before this fix) by a command with no capabilities under the default seccomp profile."""
    require(NativeDriver.unavailable_reason(NativeOptions()) is None, "the native runtime")
    script = (f"for fd in 1 2 3 4 5 6 7 8 9; do echo '{FORGED}' 2>/dev/null > /proc/1/fd/$fd; "
              "echo \"fd$fd=$?\"; done")
    config = write_config(tmp_path, {"native": {"driver": "native"}}, shell(script))
    out = tmp_path / "out"
    run = bench("run", str(config), "-o", str(out), "--store", "none")
    assert run.returncode == 0, run.stderr
    [duration] = samples_of(out, "workload.duration")
    assert duration["status"] == "ok" and 0 < duration["value"] < 60, duration
    written = output_text(out)
    assert "fd1=" in written and "fd1=0" not in written, written
    assert FORGED not in written.replace("BENCH-OUT ", ""), "no forged line reached the stream"
    assert bench("summary", str(out), "--json").returncode == 0


def test_a_line_that_fails_the_protocol_fails_its_cell_not_the_run(tmp_path: Path) -> None:
    """The probe is the only writer of its stream; should a line still fail the protocol (an
    old probe, a broken console), the cell fails with the reason and the run goes on. Here
    the process runtime's command runs as the host's root, which may write anywhere: the
    probe's report then comes twice, and the cell is refused."""
    script = (f"for f in /proc/$PPID/fd/[1-9]*; do echo '{FORGED}' 2>/dev/null > \"$f\"; done; "
              "true")
    config = write_config(tmp_path, {"process": {"driver": "process"}}, shell(script),
                          repetitions=2)
    out = tmp_path / "out"
    run = bench("run", str(config), "-o", str(out), "--store", "none")
    assert run.returncode == 3, run.stderr
    assert not samples_of(out, "workload.duration"), "no duration from a refused report"
    cells = read_lines(out, "cells.jsonl")
    assert len(cells) == 2, "the run went on to the next cell"
    for cell in cells:
        assert cell["status"] == "failed" and "protocol" in cell["reason"], cell
    assert bench("summary", str(out), "--json").returncode == 0


# --- the probe's own supervision: a tree at its timeout, a stop that is ignored -----------

@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_bundle(tmp_path_factory.mktemp("cache")).probe


def marker() -> str:
    """A sleep length no other process on this host runs with: it names a test's survivors."""
    return f"{90000 + os.getpid() % 9000}.{time.monotonic_ns() % 10**6:06d}"


@contextmanager
def supervised(probe: Path, script: str, *spec: str,
               mark: str = "") -> Iterator[subprocess.Popen[bytes]]:
    """The probe supervising `sh -c script`; killed afterwards, with any `sleep MARK` left."""
    path = os.environ.get("PATH", "/usr/bin:/bin")
    run = subprocess.Popen([str(probe), "command", "idle=30", "--", "arg=sh", "arg=-c",
                            f"arg={script}", f"env=PATH={path}", *spec],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
    try:
        yield run
    finally:
        run.kill()
        run.wait()
        if mark:
            kill_all(processes_with(mark))


def read_until(process: subprocess.Popen[bytes], prefix: bytes, seconds: float) -> list[bytes]:
    """The probe's lines up to the first that starts with prefix (a test failure after seconds)."""
    assert process.stdout is not None
    lines: list[bytes] = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        if not select.select([process.stdout], [], [], left)[0]:
            break  # nothing more within the time: the probe hangs
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith(prefix):
            return lines
    raise AssertionError(f"no {prefix!r} within {seconds} s: {lines}")


def test_at_its_timeout_the_commands_whole_tree_is_killed(probe: Path) -> None:
    """Issue 20 point 4: only the direct child was killed; a grandchild (here in its own
    session) ran on, holding the command's output open."""
    mark = marker()
    with supervised(probe, f"setsid sleep {mark} & sleep {mark}", "timeout=1", mark=mark) as run:
        wait_until(lambda: len(processes_with(mark)) == 2, 10, "the tree did not start")
        lines = read_until(run, b"BENCH-DONE", 10)
        assert any(b"stopped=2" in line for line in lines), lines
        assert processes_with(mark) == [], "the probe, still idle, has killed the whole tree"


def test_a_stop_request_ends_in_sigkill_for_a_command_that_ignores_sigterm(probe: Path) -> None:
    """Issue 20 point 4: once told to stop, the probe sent SIGTERM and waited forever."""
    mark = marker()
    with supervised(probe, f"trap '' TERM; sleep {mark} & sleep {mark}; wait", mark=mark) as run:
        read_until(run, b"BENCH-STARTED", 10)
        wait_until(lambda: len(processes_with(mark)) == 2, 10, "the tree did not start")
        run.send_signal(signal.SIGTERM)
        lines = read_until(run, b"BENCH-COMMAND", 5)
        assert b"stopped=3" in lines[-1], lines
        assert run.wait(timeout=5) is not None
        assert processes_with(mark) == [], "SIGTERM ignored, SIGKILL after the grace"


def test_a_timeout_that_would_wrap_is_a_bad_spec_line(probe: Path) -> None:
    """Issue 20 point 14: 18446744074 s wrapped to 0.29 s in nanoseconds."""
    with supervised(probe, "true", "timeout=18446744074") as run:
        lines = read_until(run, b"BENCH-DONE", 10)
        assert any(b"BENCH-ERROR bad spec line timeout=18446744074" in line for line in lines)
        assert lines[-1].strip() == b"BENCH-DONE 2"


# --- whole runs of the process baseline: nothing it started outlives it -------------------

def test_a_daemon_that_called_setsid_does_not_outlive_its_instance(tmp_path: Path) -> None:
    mark = marker()
    config = write_config(tmp_path, {"process": {"driver": "process"}},
                          shell(f"setsid sleep {mark} > /dev/null 2>&1 < /dev/null & echo up"))
    try:
        run = bench("run", str(config), "-o", str(tmp_path / "out"), "--store", "none")
        assert run.returncode == 0, run.stderr
        assert processes_with(mark) == [], "the instance's cgroup was killed at teardown"
    finally:
        kill_all(processes_with(mark))


def command_running(mark: str, runs: list[tuple[subprocess.Popen[str], Path]],
                    tmp_path: Path) -> tuple[subprocess.Popen[str], str]:
    """A run of the process baseline whose command ignores SIGTERM, once it is running."""
    config = write_config(tmp_path, {"process": {"driver": "process"}},
                          shell(f"trap '' TERM; sleep {mark} & sleep {mark}; wait", 120))
    out = tmp_path / "out"
    run = start("run", str(config), "-o", str(out), "--store", "none")
    runs.append((run, out))
    run_id = run_id_of(out)
    wait_until(lambda: len(processes_with(mark)) == 2, 60, "the command did not start")
    return run, run_id


def test_ctrl_c_leaves_nothing_of_a_command_that_ignores_sigterm(tmp_path: Path) -> None:
    mark = marker()
    runs: list[tuple[subprocess.Popen[str], Path]] = []
    try:
        run, run_id = command_running(mark, runs, tmp_path)
        run.send_signal(signal.SIGINT)
        _, stderr = run.communicate(timeout=60)
        assert run.returncode == 128 + signal.SIGINT, stderr
        assert processes_with(mark) == [] and mine(run_id) == []
    finally:
        stop_and_clean(runs)
        kill_all(processes_with(mark))


def test_sigkill_of_bench_then_clean_leaves_nothing_and_says_what_it_removed(
        tmp_path: Path) -> None:
    mark = marker()
    runs: list[tuple[subprocess.Popen[str], Path]] = []
    try:
        run, run_id = command_running(mark, runs, tmp_path)
        run.kill()
        run.wait()
        time.sleep(0.5)
        assert len(processes_with(mark)) == 2, "SIGKILL of bench left the command running"
        looked = bench("clean", "--run", run_id, "--dry-run")
        assert "cgroup v" in looked.stdout and "nothing left behind" not in looked.stdout
        cleaned = bench("clean", "--run", run_id)
        assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
        assert "processes)" in cleaned.stdout, cleaned.stdout
        assert processes_with(mark) == [] and mine(run_id) == []
        again = bench("clean", "--run", run_id)
        assert again.stdout.strip().endswith("nothing left behind"), again.stdout
    finally:
        stop_and_clean(runs)
        kill_all(processes_with(mark))


@pytest.mark.libvirt
def test_a_command_in_a_guest_cannot_write_to_the_serial_console(tmp_path: Path) -> None:
    """A guest's probe speaks on the serial console, which root in the guest could open
    (/dev/console, /dev/ttyS0, a node made with mknod, /dev/kmsg at the emergency level that
    still reaches the console). The command gets a /dev of harmless nodes and no capability
    that would bring the console back: every attempt fails, and the cell reads as it should."""
    from runtimes.libvirt.driver import LibvirtDriver, LibvirtOptions

    require(LibvirtDriver.unavailable_reason(LibvirtOptions()) is None, "libvirtd and a guest kernel")
    attempts = {"console": f"echo '{FORGED}' > /dev/console",
                "ttyS0": f"echo '{FORGED}' > /dev/ttyS0",
                "mknod": f"mknod /tmp/s c 4 64 && echo '{FORGED}' > /tmp/s",
                "kmsg": f"echo '<0>{FORGED}' > /dev/kmsg",
                "proc": f"echo '{FORGED}' > /proc/1/fd/1"}
    script = "; ".join(f"({line}) 2>/dev/null; echo \"{name}=$?\"" for name, line in attempts.items())
    workload = {**shell(script, 120), "executables": ["mknod"]}
    config = write_config(tmp_path, {"libvirt": {"driver": "libvirt"}}, workload, cell_timeout=300)
    out = tmp_path / "out"
    run = bench("run", str(config), "-o", str(out), "--store", "none", timeout=600)
    assert run.returncode == 0, run.stderr
    [duration] = samples_of(out, "workload.duration")
    assert duration["status"] == "ok" and 0 < duration["value"] < 120, duration
    written = output_text(out)
    for name in attempts:
        assert f"{name}=" in written and f"{name}=0" not in written, written
