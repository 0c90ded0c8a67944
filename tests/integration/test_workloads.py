"""Command workloads end to end with the real tools: `bench run` on process, native and
docker (one short guest cell for libvirt), a local image against the host's program, bad
input refused before anything starts, and no scratch storage left behind.

The full configs/workloads.yaml run is not part of the default test run (about 17 minutes
with a TCG guest): `bench run configs/workloads.yaml` (docs/workloads.md).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from runtimes.docker.driver import DockerDriver, DockerOptions
from runtimes.libvirt.driver import LibvirtDriver, LibvirtOptions
from runtimes.native.driver import NativeDriver, NativeOptions
from tests.conftest import require
from tests.integration.sysbench_image import build_sysbench_image

pytestmark = pytest.mark.integration

TOOLS = ("sysbench", "fio", "redis-server", "redis-benchmark")
CPU = {"mode": "command", "argv": ["sysbench", "cpu", "--threads=1", "--time=1", "run"],
       "parser": "sysbench-cpu", "timeout": 60}
DISK = {"mode": "command", "parser": "fio", "scratch": {"size": "64MiB"}, "timeout": 60,
        "argv": ["fio", "--name=rw", "--filename=fio.dat", "--rw=randrw", "--bs=4k",
                 "--size=8M", "--direct=1", "--runtime=1", "--time_based",
                 "--output-format=json"]}
SERVER = {"mode": "command", "timeout": 60,
          "argv": ["redis-server", "--bind", "127.0.0.1", "--port", "16390", "--save", "",
                   "--appendonly", "no"],
          "readiness": {"port": 16390, "send": "PING\r\n", "expect": "+PONG"}}
NET = {"mode": "command", "parser": "redis-benchmark", "timeout": 60,
       "background": {"argv": ["redis-server", "--bind", "127.0.0.1", "--port", "16391",
                               "--save", "", "--appendonly", "no"], "port": 16391},
       "argv": ["redis-benchmark", "-h", "127.0.0.1", "-p", "16391", "-n", "2000", "-t",
                "set,get", "--csv"]}


def bench(*args: str, timeout: int = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bench.cli", *args], capture_output=True,
                          text=True, timeout=timeout)


def require_tools() -> None:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    require(not missing, f"the workload tools ({', '.join(missing)}; .ci/host-setup installs them)")


def run_config(tmp_path: Path, config: dict[str, Any], name: str = "c") -> tuple[
        subprocess.CompletedProcess[str], Path]:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    out = tmp_path / f"{name}-out"
    return bench("run", str(path), "-o", str(out)), out


def summary(out: Path) -> dict[tuple[str, str, str], dict[str, Any]]:
    rows = json.loads(bench("summary", str(out), "--json").stdout)
    return {(r["runtime"], r["workload"], r["metric"]): r for r in rows}


def scratch_left() -> list[str]:
    return [str(p) for p in Path(tempfile.gettempdir()).glob("bench-*/scratch/*")]


def test_every_workload_kind_on_host_runtimes(tmp_path: Path) -> None:
    require_tools()
    require(NativeDriver.unavailable_reason(NativeOptions()) is None, "the native runtime")
    require(DockerDriver.unavailable_reason(DockerOptions()) is None, "dockerd")
    config = {"repetitions": 1, "warmup": 0, "cell_timeout": 60, "settle": 0,
              "runtimes": {"process": {"driver": "process"}, "native": {"driver": "native"},
                           "docker": {"driver": "docker"}},
              "workloads": {"cpu": CPU, "disk": DISK, "server": SERVER, "net": NET}}
    run, out = run_config(tmp_path, config)
    assert run.returncode == 0, run.stderr
    rows = summary(out)
    for runtime in ("process", "native", "docker"):
        for workload, metric in [("cpu", "workload.events_per_s"), ("cpu", "workload.duration"),
                                 ("cpu", "workload.duration_host"), ("cpu", "memory.peak_rss"),
                                 ("disk", "workload.read_iops"), ("disk", "workload.write_clat_p99"),
                                 ("net", "workload.set_rps"), ("server", "start.total"),
                                 ("server", "start.response")]:
            row = rows[(runtime, workload, metric)]
            assert row["n"] == 1 and row["median"] > 0, (runtime, workload, metric)
        assert rows[(runtime, "cpu", "workload.events_per_s")]["direction"] == "higher"
        start = rows[(runtime, "server", "start.total")]["median"]
        assert start >= rows[(runtime, "server", "start.boot")]["median"]
    for runtime in ("native", "docker"):  # a cgroup's peak where the instance has one
        assert rows[(runtime, "disk", "memory.peak")]["median"] > 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["workloads"]["cpu"]["source"] == "host"
    tree = json.loads((out / "trees" / f"{manifest['workloads']['cpu']['digest']}.json").read_text())
    assert any(e["path"].endswith("bin/sysbench") and e["sha256"] for e in tree["entries"])
    assert manifest["drivers"]["native"]["scratch"].startswith("a host directory bound")
    assert manifest["drivers"]["docker"]["scratch_fs"]
    assert not scratch_left()


def test_a_local_image_runs_like_the_host_program(tmp_path: Path) -> None:
    """The same sysbench from a locally built image (files gathered by ldd, not by bench)
    and from the host: both measured; their agreement is benchmarked side by side in
    tests/benchmarks/bench_workload_reference.py."""
    require_tools()
    require(DockerDriver.unavailable_reason(DockerOptions()) is None, "dockerd")
    tag = build_sysbench_image(tmp_path)
    try:
        config = {"repetitions": 1, "warmup": 0, "cell_timeout": 60,
                  "runtimes": {"native": {"driver": "native"}, "docker": {"driver": "docker"}},
                  "workloads": {"host": CPU, "image": {**CPU, "image": tag}}}
        run, out = run_config(tmp_path, config)
        assert run.returncode == 0, run.stderr
        rows = summary(out)
        for runtime in ("native", "docker"):
            for workload in ("host", "image"):
                assert rows[(runtime, workload, "workload.events_per_s")]["median"] > 0
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["workloads"]["image"]["source"] == "image"
        assert manifest["workloads"]["image"]["image_id"].startswith("sha256:")
    finally:
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True, timeout=60)


@pytest.mark.parametrize(("workload", "message"), [
    ({"mode": "command", "argv": ["no-such-tool-here"]},
     "workloads.w: command not found: 'no-such-tool-here' is not on PATH"),
    ({"mode": "command", "image": "bench-no-such-image:never", "argv": ["x"]},
     "workloads.w: no local Docker image 'bench-no-such-image:never'"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, workload: dict[str, Any],
                                          message: str) -> None:
    runtimes = {"native": {"driver": "native"}} if "image" in workload else {"p": {"driver": "process"}}
    run, out = run_config(tmp_path, {"runtimes": runtimes, "workloads": {"w": workload}})
    assert run.returncode == 2
    assert run.stderr.strip().startswith(f"bench: {message}"), run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_unresolvable_library_is_refused(tmp_path: Path) -> None:
    """A program linked against a library that is gone: one line naming both, exit 2."""
    (tmp_path / "lib.c").write_text("int answer(void) { return 42; }\n")
    (tmp_path / "main.c").write_text("int answer(void);\nint main(void) { return answer(); }\n")
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(tmp_path / "libanswer.so"),
                    str(tmp_path / "lib.c")], check=True, timeout=60)
    subprocess.run(["cc", "-o", str(tmp_path / "main"), str(tmp_path / "main.c"),
                    f"-L{tmp_path}", "-lanswer"], check=True, timeout=60)
    (tmp_path / "libanswer.so").unlink()
    run, out = run_config(tmp_path, {"runtimes": {"p": {"driver": "process"}}, "workloads": {
        "w": {"mode": "command", "argv": [str(tmp_path / "main")]}}})
    assert run.returncode == 2
    assert "the library libanswer.so needed by" in run.stderr and "cannot be resolved" in run.stderr
    assert not out.exists()


def test_unreadable_output_fails_the_cell_with_its_tail(tmp_path: Path) -> None:
    require_tools()
    workload = {"mode": "command", "argv": ["sysbench", "--version"], "parser": "sysbench-cpu"}
    run, out = run_config(tmp_path, {"repetitions": 1, "warmup": 0,
                                     "runtimes": {"p": {"driver": "process"}},
                                     "workloads": {"w": workload}})
    assert run.returncode == 3, run.stderr
    cells = [json.loads(line) for line in (out / "cells.jsonl").read_text().splitlines()]
    assert cells[0]["status"] == "failed"
    assert "sysbench-cpu output unreadable: no 'events per second' line" in cells[0]["reason"]
    assert "sysbench 1.0" in cells[0]["reason"]  # the output's tail
    rows = summary(out)
    assert rows[("p", "w", "workload.events_per_s")]["failed"] == 1


@pytest.mark.libvirt
def test_a_guest_runs_the_same_tree_with_scratch_on_a_virtio_disk(tmp_path: Path) -> None:
    require_tools()
    require(LibvirtDriver.unavailable_reason(LibvirtOptions()) is None, "libvirtd and a guest kernel")
    config = {"repetitions": 1, "warmup": 0, "cell_timeout": 300,
              "runtimes": {"libvirt": {"driver": "libvirt"}}, "workloads": {"disk": DISK}}
    run, out = run_config(tmp_path, config)
    assert run.returncode == 0, run.stderr
    rows = summary(out)
    for metric in ("workload.read_iops", "workload.write_bw", "cpu.host_per_guest", "memory.peak"):
        assert rows[("libvirt", "disk", metric)]["median"] > 0, metric
    fingerprint = json.loads((out / "manifest.json").read_text())["drivers"]["libvirt"]
    assert fingerprint["scratch"].startswith("a virtio-blk disk") and "cache=none" in fingerprint["scratch"]
    assert not scratch_left()
