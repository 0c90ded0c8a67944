"""`bench verify` end to end on a small config: bench's cells and, interleaved, the
independent references (perf bench, hyperfine, smaps_rollup, the cgroup's file), with one
line per headline figure in verify.json and in the report."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from pathlib import Path

import pytest

from bench.cli import main
from bench.results.crosschecks import CrossCheck, read_checks
from bench.results.lock import DirectoryLock
from bench.results.manifest import read_manifest
from bench.verify import verifying as verify_command
from runtimes.docker.driver import DockerDriver, DockerOptions
from runtimes.lxc.driver import LxcDriver, LxcOptions
from runtimes.native.driver import NativeDriver, NativeOptions
from runtimes.oci.driver import OciDriver, OciOptions
from tests.conftest import require

pytestmark = pytest.mark.integration

CONFIG = """\
repetitions: 2
warmup: 0
cell_timeout: 60
settle: 0.2
runtimes:
  process: {driver: process}
  native: {driver: native}
workloads:
  idle: {mode: ready}
  syscalls: {mode: syscall, batches: 5, calls: 2000, warmup: 1}
"""


def verified(tmp_path: Path, config_text: str, results: Path) -> tuple[int, list[CrossCheck]]:
    """`bench verify` of this config into results: its exit code and its lines."""
    config = tmp_path / "config.yaml"
    config.write_text(config_text)
    code = main(["verify", str(config), "-o", str(results)])
    checks = read_checks(results)
    assert checks is not None
    return code, checks


def test_verify_puts_every_headline_figure_beside_its_reference(tmp_path: Path) -> None:
    require(NativeDriver.unavailable_reason(NativeOptions()) is None, "the native runtime")
    for tool in ("perf", "hyperfine"):
        require(shutil.which(tool) is not None, f"{tool} (.ci/host-setup installs it)")
    results = tmp_path / "results"
    code, checks = verified(tmp_path, CONFIG, results)
    lines = {(c.figure, c.runtime, c.reference): c for c in checks}
    assert set(lines) == {
        ("boot.total - boot.cgroup", "process", "hyperfine -N"),
        ("boot.total - boot.cgroup", "native", "hyperfine -N"),
        ("syscall.getppid", "process", "perf bench syscall basic"),
        ("memory.host_pss", "process", "smaps_rollup"),
        ("memory.host_pss", "native", "smaps_rollup"),
        ("memory.cgroup", "native", "cgroup file"),
    }
    for line in checks:
        result = line.agreement()
        assert result.verdict != "failed", f"{line.figure} {line.runtime}: {result.reason}"
        assert len(line.bench) == 2 and len(line.reference_values) == 2  # a pair per instance
        # a timing's reference is taken right after its cell, and compared cell by cell
        assert line.by_cell == (not line.figure.startswith("memory.")), line.figure
    # read from the same instance a moment apart: these agree whatever the host's load
    for key in [k for k in lines if k[0].startswith("memory.")]:
        assert lines[key].agreement().verdict == "agree", lines[key].agreement()
    # 1 when a launch or syscall line disagrees (a busy host), else 0: what the lines say
    assert code == (1 if any(line.agreement().verdict == "disagree" for line in checks) else 0)
    document = json.loads((results / "verify.json").read_text())
    assert {"perf", "hyperfine"} <= set(document["tools"])
    cells = [json.loads(line) for line in (results / "cells.jsonl").read_text().splitlines()]
    assert all({"load_before", "load_after", "steal_percent"} <= set(c["noise"]) for c in cells)
    assert "Cross-checks" in (results / "report.html").read_text()
    assert primed_cells(results) == {c["key"]: "/idle/" in c["key"] for c in cells}
    # process and native join their cgroups through `tasks`: no grace period, no quiet
    assert "--quiet" not in (results / "run.log").read_text()


def primed_cells(results: Path) -> dict[str, bool]:
    """Per cell in run.log: whether an untimed run of its reference launch (untilready run
    directly, not through hyperfine) came between the cell before it and its own start."""
    primed: dict[str, bool] = {}
    since_cell = False
    for line in (results / "run.log").read_text().splitlines():
        if "bench.runner: cell " in line and line.endswith(": start"):
            primed[line.split("bench.runner: cell ", 1)[1].split()[1].rstrip(":")] = since_cell
            since_cell = False
        elif "bench.runtimes: run [" in line and "untilready', '--pidfile'" in line:
            since_cell = True
        elif "bench.runtimes: run [" in line and "hyperfine'" in line:
            since_cell = False  # a reference, after its cell: not the next cell's lead-in
    return primed


ENGINE_CONFIG = """\
repetitions: 2
warmup: 0
cell_timeout: 120
settle: 0.2
runtimes:
  oci: {driver: oci, options: {runtime: runc}}
  lxc: {driver: lxc}
  docker: {driver: docker}
workloads:
  idle: {mode: ready}
"""


@pytest.mark.docker
def test_verify_times_each_runtimes_own_launch_and_reads_its_memory(tmp_path: Path) -> None:
    """oci/runc against `runc run`, lxc against `lxc-start`, docker against `docker run` less
    the CLI's floor; each memory line from processes found without the driver's code."""
    for cls, options in ((OciDriver, OciOptions(runtime="runc")), (LxcDriver, LxcOptions()),
                         (DockerDriver, DockerOptions())):
        require(cls.unavailable_reason(options) is None, f"the {cls.kind} driver")  # type: ignore[arg-type]
    require(shutil.which("hyperfine") is not None, "hyperfine (.ci/host-setup installs it)")
    code, checks = verified(tmp_path, ENGINE_CONFIG, tmp_path / "results")
    lines = {(c.figure, c.runtime): c for c in checks}
    assert set(lines) == {(figure, runtime) for runtime in ("oci", "lxc", "docker")
                          for figure in ("boot.total", "memory.host_pss", "memory.cgroup")}
    for key, line in lines.items():
        result = line.agreement()
        assert result.verdict != "failed", f"{key}: {result.reason}"
        assert line.tolerance == (0.10 if key[0] == "boot.total" else line.tolerance)
        if key[0].startswith("memory."):  # the same instance, a moment apart
            assert result.verdict == "agree", (key, result)
    how = {runtime: lines[("boot.total", runtime)].how for runtime in ("oci", "lxc", "docker")}
    assert "`runc run`" in how["oci"] and "`lxc-start`" in how["lxc"]
    assert "CLI's own floor" in how["docker"]
    timed = [line for line in (tmp_path / "results" / "run.log").read_text().splitlines()
             if "bench.runtimes: run [" in line and "hyperfine'" in line]
    for marker, quiet in (("lxc-start -F ", True), (" run --bundle ", True), (" run --rm -i ", False)):
        runs = [line for line in timed if marker in line]  # lxc's, oci's and docker's launches
        assert runs and all(("--quiet" in line) == quiet for line in runs), marker
    assert code == (1 if any(c.agreement().verdict == "disagree" for c in checks) else 0)


def test_a_sigterm_while_verify_writes_its_checks_ends_the_run_and_unlocks_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # verify runs under the same signal handling as bench run: the manifest ends in a final
    # state, the report of what was kept is written, and only then is the lock released
    def terminated(*_: object) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises here

    monkeypatch.setattr(verify_command, "write_checks", terminated)
    config = tmp_path / "process.yaml"
    config.write_text("repetitions: 1\nwarmup: 0\ncell_timeout: 60\nsettle: 0.1\n"
                      "runtimes:\n  process: {driver: process}\n"
                      "workloads:\n  idle: {mode: ready}\n")
    results = tmp_path / "results"
    code = main(["verify", str(config), "-o", str(results)])
    assert code == 128 + signal.SIGTERM
    assert read_manifest(results).status == "interrupted"
    assert (results / "report.html").exists()
    DirectoryLock.acquire(results).release()
