"""Ctrl-C keeps what was measured, tears everything down, and --resume finishes the plan."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from bench.results.records import read_lines
from tests.integration.run_harness import bench_cmd

pytestmark = pytest.mark.integration


def write_config(tmp_path: Path, runtimes: dict[str, object]) -> Path:
    config = {"repetitions": 6, "warmup": 0, "settle": 0.3, "cell_timeout": 30,
              "runtimes": runtimes, "workloads": {"idle": {"mode": "ready"}}}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def wait_for_cells(path: Path, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(read_lines(path, "cells.jsonl")) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"fewer than {count} cells finished in {timeout}s")


def test_sigint_then_resume(tmp_path: Path) -> None:
    config = write_config(tmp_path, {"process": {"driver": "process"}, "again": {"driver": "process"}})
    out = tmp_path / "out"
    run = subprocess.Popen(bench_cmd("run", str(config), "-o", str(out)), stderr=subprocess.PIPE,
                           stdout=subprocess.DEVNULL, text=True)
    try:
        wait_for_cells(out, 3)
        run.send_signal(signal.SIGINT)
        _, stderr = run.communicate(timeout=60)
    finally:
        run.kill()
    assert run.returncode == 130, stderr
    assert "interrupted" in stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    done = read_lines(out, "cells.jsonl")
    assert 3 <= len(done) < 12
    leftover = subprocess.run(["pgrep", "-f", "bench/probe-[0-9a-f]{16}/probe"], capture_output=True)
    assert leftover.returncode == 1, "no probe outlives the interrupted run"

    changed = tmp_path / "changed.yaml"
    changed.write_text(config.read_text().replace("repetitions: 6", "repetitions: 7"))
    refused = subprocess.run(bench_cmd("run", str(changed), "--resume", str(out)),
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2
    assert "config changed since this run started (at repetitions)" in refused.stderr

    resumed = subprocess.run(bench_cmd("run", "--resume", str(out)), capture_output=True, text=True,
                             timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    cells = read_lines(out, "cells.jsonl")
    assert sorted(c["cell"] for c in cells) == list(range(12))
    boots = [s for s in read_lines(out, "samples.jsonl") if s["metric"] == "boot.total"]
    assert sorted(s["cell"] for s in boots) == list(range(12)), "each cell measured exactly once"
    assert json.loads((out / "manifest.json").read_text())["status"] == "complete"
