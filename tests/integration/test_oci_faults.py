"""Faults with the oci, lxc and podman drivers in real `bench run`s: a container killed mid-cell,
and a runtime binary that is missing. (The harness itself SIGKILLed, then each driver's clean,
is in test_conformance, for every driver.)"""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from bench.results.records import read_lines
from runtimes.host.spawn import tagged_processes
from runtimes.lxc.driver import LxcDriver
from runtimes.oci.driver import OciDriver
from runtimes.podman.driver import PodmanDriver
from tests.conftest import require
from tests.integration.driver_harness import require_driver
from tests.integration.run_harness import mine, run_id_of, start_run, stop_and_clean

pytestmark = pytest.mark.integration

NEW_DRIVERS: dict[str, dict[str, Any]] = {
    "oci-runc": {"driver": "oci", "options": {"runtime": "runc"}},
    "lxc": {"driver": "lxc"},
    "podman": {"driver": "podman"},
}


def require_new_drivers() -> None:
    require_driver(OciDriver, runtime="runc")
    require_driver(LxcDriver)
    require_driver(PodmanDriver)


def probes_of(run_id: str) -> dict[int, str]:
    """pid -> instance name of the run's live probes (each carries its instance's tag)."""
    found = {}
    for pid, name in tagged_processes(f"bench-{run_id}-"):
        try:
            if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"/probe"):
                found[pid] = name
        except OSError:
            continue
    return found


def test_a_container_killed_mid_cell_is_a_failed_cell_and_the_run_goes_on(tmp_path: Path) -> None:
    """The probe of each runtime's first instance is SIGKILLed from the host while the cell
    waits for its memory: that cell fails with the reason, the next one of the runtime works."""
    require_new_drivers()
    run, out = start_run(tmp_path, {"repetitions": 2, "warmup": 0, "settle": 1.5, "cell_timeout": 60,
                                    "runtimes": NEW_DRIVERS, "workloads": {"idle": {"mode": "ready"}}})
    try:
        run_id = run_id_of(out)
        killed: dict[str, str] = {}  # runtime -> instance
        seen: dict[int, float] = {}  # probe pid -> when it was first seen

        def killer() -> None:
            while run.poll() is None:
                for pid, name in probes_of(run_id).items():
                    # bench-<run id>-<runtime>-<attempt>-<serial>
                    runtime = name.removeprefix(f"bench-{run_id}-").rsplit("-", 2)[0]
                    first = seen.setdefault(pid, time.monotonic())
                    # past its ready line (printed first thing) and inside the settle
                    if runtime not in killed and time.monotonic() - first > 0.5:
                        killed[runtime] = name
                        os.kill(pid, signal.SIGKILL)
                time.sleep(0.05)

        thread = threading.Thread(target=killer, daemon=True)
        thread.start()
        _, stderr = run.communicate(timeout=600)
        thread.join(timeout=10)
        assert run.returncode == 3, stderr
        assert sorted(killed) == ["lxc", "oci-runc", "podman"]
        cells = {c["key"]: c for c in read_lines(out, "cells.jsonl")}
        assert len(cells) == 6, "the run went on to the end"
        for runtime in killed:
            statuses = sorted(cells[f"{runtime}/idle/{rep}"]["status"] for rep in (0, 1))
            assert statuses == ["failed", "ok"], runtime
            reason = next(c["reason"] for c in cells.values()
                          if c["key"].startswith(f"{runtime}/") and c["status"] == "failed")
            assert killed[runtime] in reason and ("exited" in reason or "killed" in reason), reason
        assert mine(run_id) == []
    finally:  # a failed assertion or a timeout must not leave the run going, containers live
        stop_and_clean([(run, out)])


def test_a_missing_binary_refuses_the_run_or_is_skipped_with_the_reason(tmp_path: Path) -> None:
    """With runc gone from PATH: one line and nothing created, or, with skip_unavailable, the
    run of the rest with the reason in the manifest and the report."""
    require(shutil.which("cc") is not None, "a C compiler (the probe is built from source)")
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "cc").symlink_to(shutil.which("cc") or "cc")
    env = {**os.environ, "PATH": str(tools)}
    document = {"repetitions": 1, "warmup": 0, "settle": 0,
                "runtimes": {"process": {"driver": "process"}, "oci": {"driver": "oci"}},
                "workloads": {"idle": {"mode": "ready"}}}
    refused, out = start_run(tmp_path / "refused", document, env)
    _, stderr = refused.communicate(timeout=120)
    assert refused.returncode == 1
    assert stderr.strip().splitlines() == [
        "bench: runtime 'oci' (oci) is unavailable: runc is not installed (not on PATH): install "
        "it (Debian: apt-get install runc, or run .ci/host-setup)"]
    assert not out.exists()

    skipping, out = start_run(tmp_path / "skipping", {**document, "skip_unavailable": True}, env)
    _, stderr = skipping.communicate(timeout=300)
    assert skipping.returncode == 0, stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert list(manifest["skipped"]) == ["oci"] and "runc is not installed" in manifest["skipped"]["oci"]
    assert {c["key"] for c in read_lines(out, "cells.jsonl")} == {"process/idle/0"}
    assert "runc is not installed" in (out / "report.html").read_text()
