"""untilready, the static helper every launch reference runs through: its --quiet holds the
launch back after its own start, and the calibration that is taken off a launch holds the same
wait, so none of it is left in a reference; the launches that get it (lxc, oci) and those that
do not (process, native)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from bench.tick import TICK_S
from bench.verify.references import QUIET_MS, UNTIL_READY, Launches
from runtimes.host.build import compile_static

pytestmark = pytest.mark.integration


def test_quiet_starts_the_command_only_after_its_wait(tmp_path: Path) -> None:
    helper = str(compile_static(UNTIL_READY, tmp_path))
    pidfile = tmp_path / "launch.pid"
    asked = time.monotonic()
    run = subprocess.Popen([helper, "--pidfile", str(pidfile), "--quiet", "600",
                            helper, "--ready"])
    time.sleep(0.2)
    early = pidfile.read_text() if pidfile.exists() else ""
    assert run.wait(timeout=10) == 0
    took = time.monotonic() - asked
    assert early == "", f"the command was started {early!r} before the quiet ended"
    assert pidfile.read_text().strip().isdigit()  # it was started, after the quiet
    assert took >= 0.6


def test_quiet_without_a_command_is_misuse(tmp_path: Path) -> None:
    helper = str(compile_static(UNTIL_READY, tmp_path))
    done = subprocess.run([helper, "--quiet", "10"], capture_output=True, text=True, check=False)
    assert done.returncode == 2 and "usage" in done.stderr


def test_the_calibration_holds_the_quiet_that_each_launch_waits(tmp_path: Path) -> None:
    """What is taken off a launch is at least the quiet each launch run waits: the quiet is
    untilready's, not the launch's."""
    timer = Launches(tmp_path, "bench-test-untilready")
    try:
        assert "--quiet" in timer.through(["true"], QUIET_MS)
        assert "--quiet" not in timer.through(["true"])
        assert timer.overhead_ms(runs=3, quiet_ms=QUIET_MS) >= QUIET_MS
    finally:
        timer.close()


def test_a_wait_ends_a_random_part_of_one_kernel_tick_after_its_settle(tmp_path: Path) -> None:
    """--wait's pause ends at a uniform random phase of the tick (bench/tick.py says why): over
    40 waits on a launch already gone, the extra spreads over more than half a tick. Load can
    only widen a spread; without the draw it is a tenth of a millisecond here."""
    helper = str(compile_static(UNTIL_READY, tmp_path))
    pidfile = tmp_path / "gone.pid"
    gone = subprocess.Popen(["true"])
    gone.wait()
    pidfile.write_text(str(gone.pid))
    took = []
    for _ in range(40):
        asked = time.monotonic()
        subprocess.run([helper, "--wait", str(pidfile), "--settle", "1"], check=True, timeout=10)
        took.append(time.monotonic() - asked)
    assert min(took) >= 0.001  # the settle itself
    assert max(took) - min(took) > TICK_S / 2, sorted(took)
