"""bench/tick.py: each pause before a timed start ends at a random phase of the kernel's tick,
uniform over the whole tick, and the runner pauses that way before every cell."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from bench import tick
from tests.unit.test_runner import run


def test_the_tick_is_the_coarse_clocks_step() -> None:
    assert time.clock_getres(tick.CLOCK_MONOTONIC_COARSE) == tick.TICK_S
    assert 1 / 1000 <= tick.TICK_S <= tick.SLOWEST_TICK_S  # Linux builds with HZ 100 to 1000


def test_a_pause_sleeps_its_seconds_and_a_part_of_one_tick_drawn_uniformly(
        monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr(tick.time, "sleep", slept.append)
    monkeypatch.setattr(tick, "_draws", random.Random(7))
    extras = [tick.pause(0.2) for _ in range(4000)]
    assert slept == [0.2 + extra for extra in extras]
    assert all(0 <= extra <= tick.TICK_S for extra in extras)
    quarters = [sum(q * tick.TICK_S / 4 <= e < (q + 1) * tick.TICK_S / 4 for e in extras)
                for q in range(4)]
    assert all(900 <= n <= 1100 for n in quarters), quarters  # the whole tick, evenly


def test_the_runner_pauses_so_before_every_cell(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    paused: list[float] = []
    monkeypatch.setattr("bench.runner.pause", lambda seconds: paused.append(seconds) or 0.0)
    _, failed = run(tmp_path, {"process": {"driver": "fake"}}, reps=2)
    assert failed == 0
    assert paused == [0.2] * len(paused) and len(paused) == 2 * (2 + 1)  # warm-up cells too
