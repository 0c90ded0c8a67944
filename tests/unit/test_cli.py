"""The command line's promise without any daemon: one line and exit 2 for bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bench.cli", *args], capture_output=True,
                          text=True, timeout=120)


def test_malformed_config_is_one_line_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("runtimes:\n  p: {driver: process, colour: red}\nworkloads: {i: {mode: ready}}\n")
    run = bench("run", str(path))
    assert run.returncode == 2
    assert run.stderr.strip() == f"bench: {path}: runtimes.p.colour: unknown key"


def test_unknown_runtime_driver(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("runtimes:\n  p: {driver: firecracker}\nworkloads: {i: {mode: ready}}\n")
    run = bench("run", str(path))
    assert run.returncode == 2
    assert ("runtimes.p.driver: unknown driver 'firecracker' (known: docker, libvirt, lxc, native, "
            "oci, podman, process, qemu)") in run.stderr
    assert "Traceback" not in run.stderr


def test_summary_refuses_a_directory_that_is_not_results(tmp_path: Path) -> None:
    run = bench("summary", str(tmp_path))
    assert run.returncode == 2
    assert "not a bench results directory" in run.stderr
