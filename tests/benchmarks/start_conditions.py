"""What a start's surroundings do to it: bench's process start and `bench verify`'s reference
for it, each taken after the same things, in one sitting, interleaved in a shuffled order.

Conditions (before x pause):
- before: `process` (a process instance, `ready idle=0`, started and torn down),
  `native` (a native-unconfined instance started and torn down: its pid and net namespaces
  go away in kernel workers afterwards), `references` (a whole `bench verify` reference of
  the process launch: hyperfine, untilready and its calibration), `native-refs` (the same
  for the native-unconfined launch: what precedes a process cell in a verify sitting),
  `process-cell` and `native-cell` (an idle instance as bench.runner measures one: started,
  0.5 s idle, its memory read, torn down: a plain run's neighbour), `quiet3` and `quiet8`
  (3 or 8 s in which bench starts nothing), `primed8` (8 s of that, then one untimed run of
  the reference launch: `bench verify`'s primer, bench.verify.launches.prime_launch);
- pause: seconds between that and the start (a run's `pause`; the reference's --settle).
bench: the process driver's boot.total - boot.cgroup (and its `ready` phase); reference:
one hyperfine -N run of the probe entering a cgroup made beforehand, through untilready, raw
(untilready's own cost, measured per round after a 0.2 s pause, is printed apart).

Run: PYTHONPATH=$PWD python3 tests/benchmarks/start_conditions.py [ROUNDS] [PAUSE...] [BEFORE...]
(defaults: 10 rounds, pauses 0.2 0.5 2, every `before`; all of them take about 75 s a round).
What it found on 2026-12-05 is in docs/methodology.md ("Not yet agreed").
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.verify.launches import launch_of, prime_launch, time_launch
from bench.verify.references import Launches, run_tool
from bench.workload.bundle import build_bundle
from runtimes.base import ProbeCommand, instance_prefix
from runtimes.native.driver import NativeDriver, NativeOptions
from runtimes.process.driver import ProcessDriver, ProcessOptions
from runtimes.protocol import IDLE as IDLE_LINE
from tests.benchmarks.sitting import CACHE, READY_ONCE, deadline, sitting

BEFORE = ["process", "native", "references", "native-refs", "process-cell", "native-cell",
          "quiet3", "quiet8", "primed8"]
IDLE = ProbeCommand("ready", ("idle=60",))


def main(rounds: int, pauses: list[float], befores: list[str]) -> None:
    options, native_options = ProcessOptions(), NativeOptions.model_validate({"seccomp": "unconfined"})
    print("load before:", Path("/proc/loadavg").read_text().strip())
    with sitting(ProcessDriver, options, "sc", also=[(NativeDriver, native_options)]) as context:
        process = ProcessDriver("process", options, context)
        native = NativeDriver("native-unconfined", native_options, context)
        timer = Launches(CACHE, f"{instance_prefix(context.run_id)}hyperfine")
        probe = build_bundle(CACHE).probe
        process.prepare(probe)
        native.prepare(probe)

        def started(driver: Any) -> dict[str, float]:
            instance = driver.start(READY_ONCE, deadline())
            phases: dict[str, float] = instance.boot_phases()
            phases["total"] = instance.boot_total_ms() - phases["cgroup"]
            driver.stop(instance)
            return phases

        def reference(pause: float) -> float:
            launch = launch_of(process, context.run_id)
            assert launch is not None
            try:
                timed = [str(timer.helper), "--pidfile", str(timer.pidfile), *launch.argv]
                wait = [str(timer.helper), "--wait", str(timer.pidfile)]
                [times] = timer.hyperfine([timed], 1, None,
                                          prepare=[*wait, "--settle", str(int(pause * 1000))])
                run_tool(wait)
                return times[0]
            finally:
                for step in launch.cleanup:
                    step()

        def cell(driver: Any) -> None:  # as bench.runner measures an idle cell
            instance = driver.start(IDLE, deadline())
            instance.output.wait_for(IDLE_LINE, deadline(), driver.name)
            time.sleep(0.5)
            driver.memory(instance)
            driver.stop(instance)

        def primed(quiet: float) -> None:
            time.sleep(quiet)
            prime_launch(process, context.run_id, timer)

        actions: dict[str, Callable[[], object]] = {
            "quiet3": lambda: time.sleep(3), "quiet8": lambda: time.sleep(8),
            "primed8": lambda: primed(8),
            "process": lambda: started(process), "native": lambda: started(native),
            "references": lambda: time_launch(process, context.run_id, timer),
            "native-refs": lambda: time_launch(native, context.run_id, timer),
            "process-cell": lambda: cell(process), "native-cell": lambda: cell(native)}
        bench: dict[tuple[str, float], list[float]] = defaultdict(list)
        ready: dict[tuple[str, float], list[float]] = defaultdict(list)
        theirs: dict[tuple[str, float], list[float]] = defaultdict(list)
        overhead: list[float] = []
        try:
            for _ in range(2):  # warm-up
                started(process)
                reference(0.2)
            for number in range(rounds):
                order = [(side, before, pause) for side in ("bench", "reference")
                         for before in befores for pause in pauses]
                random.shuffle(order)
                for side, before, pause in order:
                    actions[before]()
                    if side == "bench":
                        time.sleep(pause)
                        phases = started(process)
                        bench[before, pause].append(phases["total"])
                        ready[before, pause].append(phases["ready"])
                    else:
                        theirs[before, pause].append(reference(pause))
                overhead.append(timer.overhead_ms())
                print(f"round {number + 1}/{rounds} done, load {os.getloadavg()[0]:.2f}",
                      flush=True)
        finally:
            timer.close()
            process.close()
            native.close()
    print("load after:", Path("/proc/loadavg").read_text().strip())
    print(f"untilready's own cost (after 0.2 s): median {statistics.median(overhead):.3f} ms")
    print(f"{'before':>10} {'pause':>5}  {'bench':>6} {'ready':>6}  {'ref raw':>7} "
          f"{'ref net':>7}  bench/ref-net   (medians, ms; n={rounds})")
    cost = statistics.median(overhead)
    for before in befores:
        for pause in pauses:
            ours = statistics.median(bench[before, pause])
            raw = statistics.median(theirs[before, pause])
            print(f"{before:>10} {pause:>5}  {ours:6.3f} "
                  f"{statistics.median(ready[before, pause]):6.3f}  {raw:7.3f} "
                  f"{raw - cost:7.3f}  {ours / (raw - cost) - 1:+.1%}")


if __name__ == "__main__":
    arguments = sys.argv[1:]
    chosen = [x for x in arguments[1:] if x in BEFORE] or BEFORE
    main(int(arguments[0]) if arguments else 10,
         [float(x) for x in arguments[1:] if x not in BEFORE] or [0.2, 0.5, 2.0], chosen)
