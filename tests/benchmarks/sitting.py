"""What every benchmark does around its measurements: a scratch run context whose leftovers
are swept, bench's side and the reference's interleaved in one sitting, and the bound
between them checked and recorded (pytest-benchmark's extra_info)."""

from __future__ import annotations

import os
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.results.estimates import ratio_of_medians
from bench.tick import pause
from bench.verify.references import SETTLE_S
from runtimes.base import AnyDriver, ProbeCommand, RunContext
from runtimes.host.spawn import spawn, stop_process
from runtimes.instance import Instance
from runtimes.protocol import READY
from tests.conftest import require

CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "bench"
READY_ONCE = ProbeCommand("ready", ("idle=0",))
TIMEOUT_S = 180.0
# (value, cleanup): bench's side returns what it measured and how to tear it down after
Measured = tuple[float, Callable[[], None]]


def deadline() -> int:
    return time.monotonic_ns() + int(TIMEOUT_S * 1e9)


@contextmanager
def sitting(driver: type[AnyDriver], options: Any, tag: str,
            also: Sequence[tuple[type[AnyDriver], Any]] = ()) -> Iterator[RunContext]:
    """A run context for one benchmark; afterwards, whatever the driver (and each driver in
    `also`, with its options: others the benchmark runs in the same context) left is removed
    and the benchmark fails if there was any. Only `driver` is required to be available."""
    require(driver.unavailable_reason(options) is None,
            f"the {driver.kind} driver ({driver.unavailable_reason(options)})")
    run_id = tag + secrets.token_hex(2)
    with tempfile.TemporaryDirectory(prefix=f"bench-{run_id}-") as scratch:
        try:
            yield RunContext(run_id, CACHE, Path(scratch))
        finally:
            left = [line for cls, opts in ((driver, options), *also)
                    for line in cls.clean(opts, run_id, dry_run=False)]
    assert not left, f"the benchmark left these behind: {left}"


def driver_boot(driver: AnyDriver, command: ProbeCommand = READY_ONCE) -> Measured:
    """bench's boot.total of one instance; its teardown comes after, off the clock."""
    instance = driver.start(command, deadline())
    return instance.boot_total_ms(), lambda: driver.stop(instance)


def spawn_to_ready(argv: list[str], name: str) -> Measured:
    """ms from asking to spawn argv to the host reading its ready line, through bench's Popen
    spawn (runtimes/host/spawn.py: a reader thread per child) and its line stamping. No driver
    starts this way any more (the host drivers start through the launcher); the benchmarks use
    it for a command they time beside a driver (test_native_boot's `runc run`)."""
    instance: Instance[Any] = Instance(name, time.monotonic_ns())
    process = spawn(instance, argv)
    stamp, _ = instance.output.wait_for(READY, deadline(), name)
    return (stamp - instance.requested_ns) / 1e6, lambda: _end(process)


def _end(process: Any) -> None:
    stop_process(process, 2.0)


def side_by_side(benchmark: Any, ours: Callable[[], Measured],
                 references: dict[str, Callable[[], float]], rounds: int,
                 warmup: int = 1) -> tuple[list[float], dict[str, list[float]]]:
    """bench's side timed by pytest-benchmark, each round preceded by every reference (its
    setup), so the two alternate all through the sitting; `warmup` rounds are dropped.

    Each side starts SETTLE_S after the previous launch or teardown (bench verify's
    settle), so neither is slowed by the other's teardown finishing in the background, and a
    random part of the kernel's tick later (bench/tick.py), so neither is held at one phase.
    """
    ours_values: list[float] = []
    reference_values: dict[str, list[float]] = {name: [] for name in references}
    pending: list[Callable[[], None]] = []

    def tidy() -> None:
        while pending:
            pending.pop()()

    def one_round() -> tuple[tuple[()], dict[str, Any]]:
        tidy()
        for name, reference in references.items():
            pause(SETTLE_S)
            reference_values[name].append(reference())
        pause(SETTLE_S)
        return (), {}

    def measure() -> None:
        value, cleanup = ours()
        pending.append(cleanup)
        ours_values.append(value)

    try:
        for _ in range(warmup):
            one_round()
            measure()
        benchmark.pedantic(measure, setup=one_round, rounds=rounds, iterations=1)
    finally:
        tidy()
    return ours_values[warmup:], {k: v[warmup:] for k, v in reference_values.items()}


def check_ratio(benchmark: Any, name: str, ours: list[float], theirs: list[float],
                low: float, high: float) -> None:
    """median(ours) / median(theirs), with its 95 % interval (or why it has none), recorded;
    the benchmark fails when the point estimate leaves [low, high]."""
    ratio = ratio_of_medians(ours, theirs)
    assert ratio is not None, f"{name}: the reference's median is not positive: {theirs}"
    benchmark.extra_info[name] = {"ratio": ratio.point, "ci_low": ratio.low,
                                  "ci_high": ratio.high, "ci_note": ratio.note,
                                  "ours_median": statistics.median(ours),
                                  "reference_median": statistics.median(theirs),
                                  "bound": [low, high], "n": [len(ours), len(theirs)],
                                  "load": os.getloadavg()[0]}
    interval = f"95% CI {ratio.low:.3f} .. {ratio.high:.3f}" \
        if ratio.low is not None and ratio.high is not None else f"no interval: {ratio.note}"
    print(f"\n{name}: {ratio.point:.3f} ({interval}), bound {low} .. {high}, "
          f"load {os.getloadavg()[0]:.2f}")
    assert low <= ratio.point <= high, (f"{name}: {ratio.point:.3f} outside {low} .. {high} "
                                        f"(ours {statistics.median(ours):.4g}, reference "
                                        f"{statistics.median(theirs):.4g})")
