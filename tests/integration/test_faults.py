"""Faults during a run: each becomes a failed cell with its reason, and the run goes on."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from bench.config import parse_config
from bench.plan import make_plan
from bench.results.manifest import Manifest, RunConfig
from bench.results.records import read_lines
from bench.results.writer import RunWriter
from bench.runner import Runner
from bench.workload.bundle import Bundle
from runtimes.docker.driver import DockerDriver, DockerOptions
from runtimes.host.build import compile_static
from runtimes.libvirt.driver import LibvirtOptions
from runtimes.native.driver import NativeDriver, NativeOptions
from tests.conftest import leftovers, require
from tests.integration.run_harness import bench_cmd, start_run, stop_and_clean, wait_until

pytestmark = pytest.mark.integration
HERE = Path(__file__).parent


def run_config(tmp_path: Path, document: dict[str, Any]) -> tuple[int, list[dict[str, Any]], Path]:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(document))
    out = tmp_path / "out"
    done = subprocess.run(bench_cmd("run", str(path), "-o", str(out)), capture_output=True,
                          text=True, timeout=600)
    return done.returncode, read_lines(out, "cells.jsonl"), out


def running(name: str) -> bool:
    return subprocess.run(["pgrep", "-x", name], capture_output=True).returncode == 0


def stop_daemon_mid_run(run: subprocess.Popen[str], stop: Callable[[], object],
                        restart: Callable[[], None]) -> str:
    """Stop a daemon under a running `bench run`, let the run finish, bring the daemon back."""
    try:
        stop()
        _, stderr = run.communicate(timeout=300)
    finally:
        run.kill()
        restart()
    return stderr


def memtouch_config(runtime: dict[str, Any]) -> dict[str, Any]:
    return {"repetitions": 1, "warmup": 0, "cell_timeout": 30, "settle": 0,
            "runtimes": {"process": {"driver": "process"}, "boxed": runtime},
            "workloads": {"touch": {"mode": "memtouch", "mib": 96}}}


def test_native_out_of_memory_is_recorded_as_such(tmp_path: Path) -> None:
    require(NativeDriver.unavailable_reason(NativeOptions()) is None, "the native runtime")
    code, cells, _ = run_config(tmp_path, memtouch_config(
        {"driver": "native", "options": {"memory_limit": "32MiB"}}))
    assert code == 3
    by_runtime = {c["key"].split("/")[0]: c for c in cells}
    assert by_runtime["process"]["status"] == "ok"
    assert by_runtime["boxed"]["status"] == "failed"
    assert by_runtime["boxed"]["reason"].startswith("out-of-memory (killed at the cgroup's 32 MiB")


@pytest.mark.docker
def test_docker_out_of_memory_is_recorded_as_such(tmp_path: Path) -> None:
    require(DockerDriver.unavailable_reason(DockerOptions()) is None, "a running dockerd")
    code, cells, _ = run_config(tmp_path, memtouch_config(
        {"driver": "docker", "options": {"memory_limit": "32MiB"}}))
    assert code == 3
    failed = [c for c in cells if c["status"] == "failed"]
    assert [c["key"] for c in failed] == ["boxed/touch/0"]
    assert failed[0]["reason"].startswith("out-of-memory")


def test_a_crashing_probe_is_a_failed_cell_with_the_signal(tmp_path: Path) -> None:
    crasher = compile_static(HERE / "crasher.c", tmp_path)
    config = parse_config({"repetitions": 2, "warmup": 0, "settle": 0, "cell_timeout": 10,
                           "runtimes": {"process": {"driver": "process"}},
                           "workloads": {"idle": {"mode": "ready"}}})
    store = RunWriter.create(tmp_path / "out", Manifest(config=RunConfig(config.model_dump(mode="json"))))
    runner = Runner(config, store, Bundle(crasher, "crash"), "crash1", tmp_path)
    failed = runner.run(make_plan(config), lambda c, e: None, lambda n: None)
    store.close()
    assert failed == 2
    reasons = {c["reason"] for c in read_lines(tmp_path / "out", "cells.jsonl")}
    assert len(reasons) == 1
    assert reasons.pop().startswith("killed by signal SIGSEGV: process instance ended before")


def start_dockerd() -> None:
    log = open("/var/log/bench-dockerd-test.log", "a")  # noqa: SIM115 (the daemon keeps it)
    subprocess.Popen(["dockerd", "--bridge=none", "--iptables=false", "--ip6tables=false"],
                     stdout=log, stderr=log, start_new_session=True)
    wait_until(lambda: DockerDriver.unavailable_reason(DockerOptions()) is None, 60,
               "dockerd did not come back")


@pytest.mark.docker
def test_dockerd_stopped_mid_run(tmp_path: Path) -> None:
    require(DockerDriver.unavailable_reason(DockerOptions()) is None, "a running dockerd")
    config = {"repetitions": 6, "warmup": 0, "settle": 0.2, "cell_timeout": 20,
              "runtimes": {"process": {"driver": "process"}, "docker": {"driver": "docker"}},
              "workloads": {"idle": {"mode": "ready"}}}
    run, out = start_run(tmp_path, config)
    try:
        wait_until(lambda: len(read_lines(out, "cells.jsonl")) >= 4, 120, "4 cells did not finish")
        stderr = stop_daemon_mid_run(run, stop_dockerd, start_dockerd)
        assert run.returncode == 3, stderr
        cells = read_lines(out, "cells.jsonl")
        assert len(cells) == 12, "the run went on to the end"
        process = [c for c in cells if c["key"].startswith("process/")]
        docker_failed = [c for c in cells if c["key"].startswith("docker/") and c["status"] == "failed"]
        assert all(c["status"] == "ok" for c in process)
        assert docker_failed and all("dockerd" in c["reason"] or "docker" in c["reason"]
                                     for c in docker_failed)
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["status"] == "complete"
        subprocess.run(bench_cmd("clean", "--run", manifest["run_id"]), check=True, timeout=120,
                       capture_output=True)
        assert [item for item in leftovers() if manifest["run_id"] in item] == []
    finally:  # the run must not go on if a wait or an assertion fails
        stop_and_clean([(run, out)])


@pytest.mark.docker
def test_sigkill_then_bench_clean_leaves_nothing(tmp_path: Path) -> None:
    require(NativeDriver.unavailable_reason(NativeOptions()) is None, "the native runtime")
    require(DockerDriver.unavailable_reason(DockerOptions()) is None, "a running dockerd")
    config = {"repetitions": 50, "warmup": 0, "settle": 5, "cell_timeout": 60,
              "runtimes": {"process": {"driver": "process"}, "native": {"driver": "native"},
                           "docker": {"driver": "docker"}},
              "workloads": {"idle": {"mode": "ready"}}}
    run, out = start_run(tmp_path, config)
    try:
        deadline = time.monotonic() + 120
        while len(read_lines(out, "cells.jsonl")) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)  # inside a cell's settle: an instance of some runtime is up
        os.kill(run.pid, signal.SIGKILL)
        run.wait()
        run_id = json.loads((out / "manifest.json").read_text())["run_id"]
        mine = [item for item in leftovers() if run_id in item]
        assert mine, "a SIGKILLed run leaves its instance behind (else this test proves nothing)"
        clean = subprocess.run(bench_cmd("clean", "--run", run_id), capture_output=True, text=True,
                               timeout=120)
        assert clean.returncode == 0, clean.stderr
        assert "removed" in clean.stdout
        assert [item for item in leftovers() if run_id in item] == []
    finally:  # a failed assertion must not leave the killed run's instances
        stop_and_clean([(run, out)])


def libvirt_ready() -> bool:
    from runtimes.libvirt.driver import LibvirtDriver

    return LibvirtDriver.unavailable_reason(LibvirtOptions()) is None


@pytest.mark.libvirt
def test_a_guest_that_never_gets_ready_is_killed_at_the_cell_timeout(tmp_path: Path) -> None:
    require(libvirt_ready(), "a running libvirtd")
    code, cells, out = run_config(tmp_path, {
        "repetitions": 1, "warmup": 0, "cell_timeout": 2,
        "runtimes": {"libvirt": {"driver": "libvirt"}}, "workloads": {"idle": {"mode": "ready"}}})
    assert code == 3
    assert [c["status"] for c in cells] == ["failed"]
    assert "did not print BENCH-READY before the cell timeout" in cells[0]["reason"]
    run_id = json.loads((out / "manifest.json").read_text())["run_id"]
    assert [item for item in leftovers() if run_id in item and not item.startswith("log ")] == []


def qemu_of(run_id: str) -> bool:
    return subprocess.run(["pgrep", "-f", f"guest=bench-{run_id}-"], capture_output=True).returncode == 0


def restart_libvirtd() -> None:
    # the old daemon holds its pidfile until it is gone
    wait_until(lambda: not running("libvirtd"), 60, "libvirtd did not stop")
    subprocess.run(["libvirtd", "-d"], check=True, timeout=60)
    wait_until(libvirt_ready, 60, "libvirtd did not come back")


@pytest.mark.libvirt
def test_libvirtd_stopped_mid_run(tmp_path: Path) -> None:
    require(libvirt_ready(), "a running libvirtd")
    config = {"repetitions": 2, "warmup": 0, "settle": 0.2, "cell_timeout": 60,
              "runtimes": {"process": {"driver": "process"}, "libvirt": {"driver": "libvirt"}},
              "workloads": {"idle": {"mode": "ready"}}}
    run, out = start_run(tmp_path, config)
    try:
        wait_until((out / "manifest.json").exists, 60, "the run did not start")
        run_id = json.loads((out / "manifest.json").read_text())["run_id"]
        wait_until(lambda: qemu_of(run_id), 60, "no guest of this run was booting")
        stderr = stop_daemon_mid_run(
            run, lambda: subprocess.run(["pkill", "-TERM", "-x", "libvirtd"], check=True),
            restart_libvirtd)
        assert run.returncode == 3, stderr
        cells = read_lines(out, "cells.jsonl")
        assert len(cells) == 4, "the run went on to the end"
        assert all(c["status"] == "ok" for c in cells if c["key"].startswith("process/"))
        failed = [c for c in cells if c["key"].startswith("libvirt/") and c["status"] == "failed"]
        assert failed and all(c["reason"] for c in failed)
        subprocess.run(bench_cmd("clean", "--run", run_id), check=True, timeout=120, capture_output=True)
        assert [item for item in leftovers() if run_id in item] == []
        deadline = time.monotonic() + 30
        while qemu_of(run_id) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not qemu_of(run_id), "no QEMU of the run outlives it"
    finally:  # the run must not go on, nor its guest, if a wait or an assertion fails
        stop_and_clean([(run, out)])


def stop_dockerd() -> None:
    subprocess.run(["pkill", "-TERM", "-x", "dockerd"], check=True)
    wait_until(lambda: not running("dockerd"), 60, "dockerd did not stop")


@pytest.mark.docker
def test_with_dockerd_stopped_a_docker_run_is_refused_at_once(tmp_path: Path) -> None:
    require(DockerDriver.unavailable_reason(DockerOptions()) is None, "a running dockerd")
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"runtimes": {"docker": {"driver": "docker"}},
                                    "workloads": {"idle": {"mode": "ready"}}}))
    stop_dockerd()
    try:
        started = time.monotonic()
        run = subprocess.run(bench_cmd("run", str(path), "-o", str(tmp_path / "out")),
                             capture_output=True, text=True, timeout=60)
        took = time.monotonic() - started
        runtimes = subprocess.run(bench_cmd("runtimes"), capture_output=True, text=True, timeout=60,
                                  env={**os.environ, "COLUMNS": "300"})
    finally:
        start_dockerd()
    assert run.returncode == 1
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "dockerd is not running" in lines[0], run.stderr
    assert took < 15, "refused before any work, not after a timeout"
    assert not (tmp_path / "out").exists(), "nothing was created for a run that cannot start"
    docker_row = next(line for line in runtimes.stdout.splitlines() if "docker" in line)
    assert "no" in docker_row and "dockerd is not running" in docker_row
