"""A command cannot speak for the probe, and nothing it starts outlives its instance.

The probe's markers travel on a descriptor the command never holds, from a process it may
not inspect (not dumpable); a line that fails the protocol fails its cell. Every instance of
the process baseline lives in a cgroup of its own: a daemon that called setsid, a tree at
its timeout, a command that ignores SIGTERM, a run killed with SIGKILL are all gone once
the run (or `bench clean`) ends.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from bench.results.records import read_lines
from runtimes.native.driver import NativeDriver, NativeOptions
from tests.conftest import require
from tests.integration.run_harness import (
    bench_cmd,
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
    """Pids whose command line holds `marker` (a survivor of the command's tree)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
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
