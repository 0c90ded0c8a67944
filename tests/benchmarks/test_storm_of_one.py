"""A storm of one against an ordinary start of the same driver, side by side in one sitting.

A storm asks for its instances from worker threads released by a barrier (bench/storm.py);
an ordinary cell asks from the runner's thread. At N=1 both are one `Driver.start`, timed
from the request to the ready line, so their medians must agree: what the storm machinery
adds (a thread, a barrier) must not show. Interleaved round by round for the process and
native drivers; fails when a ratio of medians leaves 1 +- 10 %.
"""

from __future__ import annotations

from typing import Any

import pytest

from bench.config import StormWorkload
from bench.plan import Cell
from bench.storm import Storm
from bench.workload.bundle import build_bundle
from runtimes.base import AnyDriver
from runtimes.native.driver import NativeDriver, NativeOptions
from runtimes.process.driver import ProcessDriver, ProcessOptions
from tests.benchmarks.sitting import (
    CACHE,
    READY_ONCE,
    Measured,
    check_ratio,
    driver_boot,
    side_by_side,
    sitting,
)

ROUNDS = 40
WARMUP = 3
BOUND = (0.9, 1.1)  # storm of one over an ordinary start
ONE = StormWorkload.model_validate({"mode": "storm", "concurrency": [1]})


def storm_of_one(driver: AnyDriver) -> Measured:
    storm = Storm(driver, ONE, Cell(0, driver.name, "storm", 0, False, 1), timeout=60)
    try:
        storm.unleash()
    except BaseException:
        storm.close()
        raise
    [instance] = storm.instances
    return instance.boot_total_ms(), storm.close


@pytest.mark.parametrize(("cls", "options"), [(ProcessDriver, ProcessOptions()),
                                              (NativeDriver, NativeOptions())])
def test_a_storm_of_one_is_an_ordinary_start(benchmark: Any, cls: type[AnyDriver],
                                             options: Any) -> None:
    with sitting(cls, options, "s1") as context:
        driver = cls(cls.kind, options, context)
        driver.prepare(build_bundle(CACHE).probe)
        try:
            ours, theirs = side_by_side(
                benchmark, lambda: storm_of_one(driver),
                {"start": lambda: finished(driver_boot(driver, READY_ONCE))},
                rounds=ROUNDS, warmup=WARMUP)
        finally:
            driver.close()
    check_ratio(benchmark, f"{cls.kind}: storm of one / ordinary start", ours, theirs["start"],
                *BOUND)


def finished(measured: Measured) -> float:
    value, cleanup = measured
    cleanup()
    return value
