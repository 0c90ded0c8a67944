"""Hostile moments of a real `bench run`: an instance killed during the settle, two writers of
one results directory, `bench clean` and `--resume` while the run is alive, SIGHUP and a
second Ctrl-C, a signal during the compile, a resume after SIGKILL, a disk that is full or
read-only. Each ends in a failed cell with its reason or one line and its exit code, a
manifest that says what happened, and nothing left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from bench.leftovers import clean_leftovers, live_runs
from bench.results.records import read_lines
from runtimes.docker.driver import DockerDriver, DockerOptions
from runtimes.host.cgroups import detect
from runtimes.host.spawn import tagged_processes
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


def write_config(tmp_path: Path, runtimes: dict[str, Any], **top: Any) -> Path:
    config = {"repetitions": 1, "warmup": 0, "settle": 0.2, "cell_timeout": 60,
              "runtimes": runtimes, "workloads": {"idle": {"mode": "ready"}}, **top}
    path = tmp_path / f"c{len(list(tmp_path.glob('c*.yaml')))}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def manifest(out: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((out / "manifest.json").read_text())
    return loaded


def finish(run: subprocess.Popen[str], timeout: float = 300) -> str:
    try:
        _, stderr = run.communicate(timeout=timeout)
    finally:
        run.kill()
    return stderr


# --- an instance killed during the settle ------------------------------------------------

def probe_pids(driver: str, run_id: str) -> list[int]:
    """The host pids of the run's instance probes (never a trial cgroup or container)."""
    prefix = f"bench-{run_id}-"
    if driver == "process":
        return [pid for pid, _ in tagged_processes(prefix)]
    if driver == "native":
        hierarchy = detect()
        return [pid for cgroup in hierarchy.find(prefix) for pid in hierarchy.members(cgroup)]
    import docker

    api = docker.APIClient()
    try:
        found = api.containers(filters={"label": f"bench.run={run_id}"})
        return [pid for c in found if (pid := api.inspect_container(c["Id"])["State"]["Pid"]) > 0]
    finally:
        api.close()


@pytest.mark.parametrize("driver", ["process", "native", pytest.param("docker",
                                                                       marks=pytest.mark.docker)])
def test_an_instance_killed_during_the_settle_fails_its_cell_with_the_reason(
        tmp_path: Path, driver: str) -> None:
    if driver == "native":
        require(NativeDriver.unavailable_reason(NativeOptions()) is None, "the native runtime")
    if driver == "docker":
        require(DockerDriver.unavailable_reason(DockerOptions()) is None, "a running dockerd")
    config = write_config(tmp_path, {"victim": {"driver": driver}}, settle=3)
    out = tmp_path / "out"
    run = start("run", str(config), "-o", str(out))
    try:
        run_id = run_id_of(out)
        pids = wait_until(lambda: probe_pids(driver, run_id), 60, "no instance started")
        time.sleep(1.0)  # ready and idle (milliseconds), and well inside the 3 s settle
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        stderr = finish(run)
    finally:
        run.kill()
    assert run.returncode == 3, stderr
    [cell] = read_lines(out, "cells.jsonl")
    assert cell["status"] == "failed"
    assert "during the settle" in cell["reason"] and "SIGKILL" in cell["reason"], cell["reason"]
    samples = read_lines(out, "samples.jsonl")
    assert not [s for s in samples if s["metric"].startswith("memory.")], "no memory reading at all"
    assert [s["status"] for s in samples] == ["failed"] and samples[0]["value"] is None
    assert mine(run_id) == []


# --- one writer, a live run left alone, SIGHUP, then a resume -----------------------------

def test_a_live_run_is_one_writer_left_alone_by_clean_and_stops_cleanly_on_sighup(
        tmp_path: Path) -> None:
    require(NativeDriver.unavailable_reason(NativeOptions()) is None, "the native runtime")
    config = write_config(tmp_path, {"process": {"driver": "process"},
                                     "native": {"driver": "native"}}, repetitions=30, settle=1)
    out = tmp_path / "out"
    run = start("run", str(config), "-o", str(out))
    try:
        run_id = run_id_of(out)
        wait_until(lambda: read_lines(out, "cells.jsonl"), 60, "no cell finished")
        second = subprocess.run(bench_cmd("run", str(config), "-o", str(out)), capture_output=True,
                                text=True, timeout=120)
        resumed = subprocess.run(bench_cmd("run", "--resume", str(out)), capture_output=True,
                                 text=True, timeout=120)
        clean = subprocess.run(bench_cmd("clean", "--run", run_id), capture_output=True,
                               text=True, timeout=120)
        listed = clean_leftovers(None, dry_run=True)
        run.send_signal(signal.SIGHUP)
        stderr = finish(run, 120)
    finally:
        run.kill()
    for refused in (second, resumed):
        assert refused.returncode == 2, refused.stderr
        lines = refused.stderr.strip().splitlines()
        assert len(lines) == 1 and "another bench run is writing" in lines[0], refused.stderr
    assert clean.returncode == 0 and f"left run {run_id} alone" in clean.stdout, clean.stdout
    assert not [line for line in listed if run_id in line], "a live run is nobody's leftover"
    assert run.returncode == 128 + signal.SIGHUP, stderr
    assert "Traceback" not in stderr
    state = manifest(out)
    assert (state["status"], state["signal"]) == ("interrupted", "SIGHUP")
    assert (out / "report.html").stat().st_size > 0, "the report of what was kept"
    assert mine(run_id) == [], "SIGHUP tears down like Ctrl-C"
    done = len(read_lines(out, "cells.jsonl"))
    assert 1 <= done < 60, "the live run was not disturbed, and stopped early"


def test_a_second_ctrl_c_during_teardown_changes_nothing(tmp_path: Path) -> None:
    config = write_config(tmp_path, {"process": {"driver": "process"}}, repetitions=30, settle=0.5)
    out = tmp_path / "out"
    run = start("run", str(config), "-o", str(out))
    try:
        run_id = run_id_of(out)
        wait_until(lambda: read_lines(out, "cells.jsonl"), 60, "no cell finished")
        run.send_signal(signal.SIGINT)
        time.sleep(0.05)
        run.send_signal(signal.SIGINT)
        run.send_signal(signal.SIGTERM)
        stderr = finish(run, 120)
    finally:
        run.kill()
    assert run.returncode == 128 + signal.SIGINT, stderr
    assert "Traceback" not in stderr
    assert manifest(out)["signal"] == "SIGINT"
    assert mine(run_id) == []


def test_two_runs_started_at_once_on_one_directory_one_is_refused(tmp_path: Path) -> None:
    config = write_config(tmp_path, {"process": {"driver": "process"}})
    out = tmp_path / "out"
    runs = [start("run", str(config), "-o", str(out)) for _ in range(2)]
    errors = [finish(run, 120) for run in runs]
    codes = sorted(run.returncode for run in runs)
    assert codes == [0, 2], errors
    refused = errors[[run.returncode for run in runs].index(2)].strip().splitlines()
    assert len(refused) == 1 and ("another bench run is writing" in refused[0]
                                  or "exists and is not empty" in refused[0]), refused
    assert len(read_lines(out, "cells.jsonl")) == 1, "one run's cells, not two runs' mixed"


# --- a resume after SIGKILL ---------------------------------------------------------------

def test_a_resume_after_sigkill_sweeps_the_leftovers_and_names_its_instances_anew(
        tmp_path: Path) -> None:
    require(NativeDriver.unavailable_reason(NativeOptions()) is None, "the native runtime")
    config = write_config(tmp_path, {"process": {"driver": "process"},
                                     "native": {"driver": "native"}}, settle=3)
    out = tmp_path / "out"
    run = start("run", str(config), "-o", str(out))
    try:
        run_id = run_id_of(out)
        wait_until(lambda: probe_pids("native", run_id), 60, "no native instance started")
        os.kill(run.pid, signal.SIGKILL)
        run.wait(30)
        # bench clean leaves a run alone while its lock is held. In CI once (2026-12-05) the
        # list below read [] right after the kill (the test passes alone): a child between its
        # clone and its exec holds a copy of the lock's descriptor (close-on-exec) for a
        # moment, one way the lock can outlive the run briefly. A lock held for longer is a
        # leak, and fails here.
        wait_until(lambda: run_id not in live_runs(), 10, "the killed run's lock released")
        left = mine(run_id)
        assert any("cgroup" in item for item in left), left  # else this proves nothing
        resumed = subprocess.run(bench_cmd("run", "--resume", str(out)), capture_output=True,
                                 text=True, timeout=300)
        assert resumed.returncode == 0, resumed.stderr
        assert "leftovers of the stopped attempt removed" in resumed.stderr
        assert "File exists" not in (out / "run.log").read_text()
        assert f"bench-{run_id}-native-2-1" in (out / "run.log").read_text(), "attempt 2's names"
        assert sorted(c["cell"] for c in read_lines(out, "cells.jsonl")) == [0, 1]
        resumes = manifest(out)["resumed"]  # (format version 2: each resume keeps its sweep)
        assert manifest(out)["status"] == "complete" and resumes[-1]["swept"]
        assert resumes[-1]["stopped"]["status"] == "killed"  # its writer never said
        assert mine(run_id) == []
    finally:  # a failed assertion must not leave the killed run's cgroups and processes
        stop_and_clean([(run, out)])


# --- a signal during the compile ----------------------------------------------------------

def compiler_children(parent: int) -> list[int]:
    """The compiler bench started to build a static binary (not a `cc --version`)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError):
            continue
        if int(fields[1]) == parent and b"-static" in argv:
            found.append(int(entry.name))
    return found


def processes_under(folder: Path) -> list[int]:
    """Processes whose environment points their temporary files into `folder`."""
    needle = f"TMPDIR={folder}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if needle in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_a_signal_during_the_compile_leaves_no_compiler_and_no_partial_file(
        tmp_path: Path) -> None:
    config = write_config(tmp_path, {"process": {"driver": "process"}})
    cache = tmp_path / "cache"
    run = start("run", str(config), "-o", str(tmp_path / "out"),
                env={**os.environ, "XDG_CACHE_HOME": str(cache)})
    try:
        wait_until(lambda: compiler_children(run.pid), 60, "the compiler did not start")
        run.send_signal(signal.SIGTERM)
        stderr = finish(run, 60)
    finally:
        run.kill()
    assert run.returncode == 128 + signal.SIGTERM, stderr
    assert len(stderr.strip().splitlines()) == 1 and "SIGTERM" in stderr, stderr
    assert processes_under(cache / "bench") == [], "no compiler outlives bench"
    partial = [p for p in cache.rglob("*") if ".build-" in str(p) or "partial" in p.name]
    assert partial == []
    assert not (tmp_path / "out").exists()


# --- a disk that is full or read-only -----------------------------------------------------

@contextmanager
def tmpfs(path: Path, options: str) -> Iterator[Path]:
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], check=True,
                   timeout=30)
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True, timeout=30)


@pytest.mark.parametrize(("options", "message"), [("size=64k", "No space left on device"),
                                                  ("ro,size=64k", "Read-only file system")])
def test_an_output_on_a_full_or_read_only_disk_is_one_line_and_exit_2(
        tmp_path: Path, options: str, message: str) -> None:
    require(os.geteuid() == 0, "root (to mount a small tmpfs)")
    config = write_config(tmp_path, {"process": {"driver": "process"}})
    with tmpfs(tmp_path / "disk", options) as disk:
        if "ro" not in options:
            filler = subprocess.run(["dd", "if=/dev/zero", f"of={disk / 'fill'}", "bs=4k"],
                                    capture_output=True, timeout=30)
            assert filler.returncode != 0, "the disk is full"
        run = subprocess.run(bench_cmd("run", str(config), "-o", str(disk / "out")),
                             capture_output=True, text=True, timeout=120)
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 2, run.stderr
    assert len(lines) == 1 and message in lines[0], run.stderr
