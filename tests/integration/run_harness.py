"""What the tests of whole `bench run`s share: the command line, a run started in the
background on a config, its run id once it has one, what it left on the host, and the
cleanup that leaves nothing of a run behind when a test fails half-way through it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import yaml

from tests.conftest import leftovers

T = TypeVar("T")
CLEAN_TIMEOUT_S = 300


def bench_cmd(*args: str) -> list[str]:
    """`bench ARGS` as this interpreter runs it (the checkout under test, not an installed one)."""
    return [sys.executable, "-m", "bench.cli", *args]


def wait_until(condition: Callable[[], T], seconds: float, failure: str) -> T:
    """Poll until condition() is truthy and return what it returned; fail after `seconds`."""
    deadline = time.monotonic() + seconds
    while not (found := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{failure} within {seconds:.0f} s")
        time.sleep(0.05)
    return found


def start(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """`bench ARGS` in the background: stdout dropped, stderr kept for the assertions."""
    return subprocess.Popen(bench_cmd(*args), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, env=env)


def start_run(folder: Path, document: dict[str, Any],
              env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], Path]:
    """`bench run` in the background on this config (written to folder/c.yaml); its results
    directory, folder/out."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "c.yaml"
    path.write_text(yaml.safe_dump(document))
    out = folder / "out"
    return start("run", str(path), "-o", str(out), env=env), out


def written_run_id(out: Path) -> str | None:
    """The run id in out's manifest, or None while there is none (or it is half written)."""
    try:
        return str(json.loads((out / "manifest.json").read_text())["run_id"])
    except (OSError, ValueError, KeyError):
        return None


def run_id_of(out: Path, seconds: float = 120) -> str:
    """The run id of the run writing `out`, once its manifest says it."""
    found = wait_until(lambda: written_run_id(out), seconds, "the run did not start")
    assert found is not None  # wait_until returns only a truthy value
    return found


def mine(run_id: str) -> list[str]:
    """What this run left on the host (every driver's resources, temp dirs, mounts)."""
    return [item for item in leftovers() if run_id in item]


def stop_and_clean(runs: Iterable[tuple[subprocess.Popen[str], Path]]) -> None:
    """For a test's `finally`: kill each run still alive, then `bench clean --run` each one
    whose manifest names its id, so a failed assertion or a timeout leaves no live run and no
    containers, cgroups or processes of one. Its own failure is not raised (it would hide the
    test's); what it could not remove is named by the session's nothing_left_behind check."""
    runs = list(runs)
    for run, _ in runs:
        run.kill()
        run.wait()
    for _, out in runs:
        run_id = written_run_id(out)
        if run_id is not None:
            subprocess.run(bench_cmd("clean", "--run", run_id), capture_output=True,
                           timeout=CLEAN_TIMEOUT_S)
