"""`bench clean --run ID` after a killed run removes the scratch storage its config put
anywhere (scratch.dir), without being given the config: the run's ledger in the cache names
it (issue 20, point 15)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml

from bench.cache.ledger import read_ledgers

pytestmark = pytest.mark.integration
BLOB_BYTES = 20 << 20


def kill_commands_under(folder: Path) -> None:
    """The command bench started in its scratch storage outlives a SIGKILL of bench (that is
    the contain branch's to settle): the test ends what it started there, by working dir."""
    for process in psutil.process_iter(["cwd"]):
        cwd = process.info["cwd"] or ""
        if cwd.startswith(str(folder)):
            process.kill()


def test_clean_run_removes_scratch_storage_wherever_the_config_put_it(tmp_path: Path) -> None:
    scratch = tmp_path / "elsewhere"
    scratch.mkdir()
    config = tmp_path / "scratch.yaml"
    config.write_text(yaml.safe_dump({
        "repetitions": 1, "warmup": 0, "settle": 0.1, "cell_timeout": 120,
        "runtimes": {"process": {"driver": "process"}},
        "workloads": {"disk": {"mode": "command", "timeout": 120, "scratch": {"dir": str(scratch)},
                               "argv": ["/bin/sh", "-c",
                                        f"head -c {BLOB_BYTES} /dev/zero > blob && sleep 100"],
                               "executables": ["head", "sleep"]}}}))
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "BENCH_STORE": "none"}
    out = tmp_path / "results"
    run = subprocess.Popen([sys.executable, "-m", "bench.cli", "run", str(config), "-o", str(out)],
                           env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 180
        blobs: list[Path] = []
        while time.monotonic() < deadline and run.poll() is None:
            blobs = [b for b in scratch.glob("*/blob") if b.stat().st_size == BLOB_BYTES]
            if blobs:
                break
            time.sleep(0.2)
        assert blobs, run.stderr.read().decode() if run.poll() is not None and run.stderr else ""
        run_id = json.loads((out / "manifest.json").read_text())["run_id"]
        [ledger] = read_ledgers(tmp_path / "cache" / "bench")
        assert (ledger.run_id, ledger.live, ledger.scratch_dirs) == (run_id, True, (str(scratch),))
        run.send_signal(signal.SIGKILL)  # no teardown: what bench clean is for
        run.wait(30)
        kill_commands_under(scratch)
        assert blobs[0].exists()
        cleaned = subprocess.run([sys.executable, "-m", "bench.cli", "clean", "--run", run_id],
                                 env=env, capture_output=True, text=True, timeout=300)
        assert cleaned.returncode == 0, cleaned.stderr
        assert f"removed scratch {blobs[0].parent}" in cleaned.stdout, cleaned.stdout
        assert list(scratch.iterdir()) == []  # 20 MB gone, not only reported
        assert read_ledgers(tmp_path / "cache" / "bench") == []
    finally:
        if run.poll() is None:
            run.kill()
            run.wait(30)
        kill_commands_under(scratch)
