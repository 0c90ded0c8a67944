"""The process and native boots before and after the launcher (issue 23, points 1 and 2), side
by side in one sitting.

    python -m tests.benchmarks.bench_launcher [--before REV] [--rounds 30]

"Before" is how the drivers started an instance as of REV (default bbc24b8, the main branch
this change started from): the process baseline's probe by subprocess.Popen (pipes, a reader
thread, the probe entering its cgroup itself through join=), native's `nsrun` (REV's
runtimes/native/nsrun.c, compiled here) by subprocess.Popen, which moves itself into the cgroup
and clones the instance. "After" is the checkout's drivers (the launcher, in-process). Each
round runs one instance of each, for process, native and native-unconfined, in alternating
order, through the same driver classes otherwise (the same cgroups, rootfs, filter, probe).
It prints each side's median boot.total, after / before with its 95 % interval
(bench.results.estimates), and the median of each of the launcher's phases. Everything a round
starts is removed (tests.benchmarks.sitting checks it).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.results.estimates import ratio_of_medians
from bench.workload.bundle import build_bundle
from runtimes.base import AnyDriver, ProbeCommand
from runtimes.host.build import compile_static
from runtimes.host.launched import Contained
from runtimes.host.spawn import spawn
from runtimes.instance import Instance
from runtimes.native.driver import NativeDriver, NativeOptions
from runtimes.process.driver import ProcessDriver, ProcessOptions
from tests.benchmarks.sitting import CACHE, READY_ONCE, deadline, sitting

SETTLE_S = 0.2


class Popened(ProcessDriver):
    """The process driver as it started its probe before the launcher."""

    def launch(self, instance: Instance[Contained], command: ProbeCommand) -> None:
        cgroup = self.cgroups.create(instance.name, None)
        handle = instance.handle = Contained(cgroup)
        instance.mark("cgroup")
        argv = [str(self.probe), *command.argv(),
                *(f"join={path}" for path in self.cgroups.join_files(cgroup))]
        handle.process = spawn(instance, argv, self.options.cpus)  # type: ignore[assignment]
        instance.mark("spawn")

    def after_ready(self, instance: Instance[Contained]) -> None:
        return None


class NsrunNative(NativeDriver):
    """The native driver as it started an instance before the launcher: `nsrun` (its source
    as of a revision) by subprocess.Popen."""

    nsrun: Path

    def launch(self, instance: Instance[Contained], command: ProbeCommand) -> None:
        cgroup = self.cgroups.create(instance.name, self.limits)
        handle = instance.handle = Contained(cgroup)
        instance.mark("cgroup")
        seccomp = ["--seccomp", str(self.filter_file)] if self.seccomp else []
        argv = [str(self.nsrun), *seccomp, str(self.rootfs), self.options.hostname_of(instance.name),
                *map(str, self.cgroups.join_paths(cgroup)), "--", *self.command_argv(command)]
        handle.process = spawn(instance, argv, self.options.cpus)  # type: ignore[assignment]
        instance.mark("spawn")

    def after_ready(self, instance: Instance[Contained]) -> None:
        return None


def nsrun_of(rev: str, folder: Path) -> Path:
    source = folder / "nsrun.c"  # named so: the binary takes the source's stem
    source.write_text(subprocess.run(["git", "show", f"{rev}:runtimes/native/nsrun.c"],
                                     capture_output=True, text=True, timeout=30,
                                     check=True).stdout)
    return compile_static(source, CACHE)


def boot(driver: AnyDriver) -> tuple[float, dict[str, float]]:
    instance = driver.start(READY_ONCE, deadline())
    try:
        return instance.boot_total_ms(), instance.boot_phases()
    finally:
        driver.stop(instance)


def run(rev: str, rounds: int) -> None:
    kinds: dict[str, tuple[type[AnyDriver], type[AnyDriver], Any]] = {
        "process": (Popened, ProcessDriver, ProcessOptions()),
        "native": (NsrunNative, NativeDriver, NativeOptions()),
        "native-unconfined": (NsrunNative, NativeDriver, NativeOptions(seccomp="unconfined")),
    }
    times: dict[tuple[str, str], list[float]] = {}
    phases: dict[str, list[dict[str, float]]] = {kind: [] for kind in kinds}
    with sitting(NativeDriver, NativeOptions(), "ba", also=[(ProcessDriver, ProcessOptions())]) \
            as context, tempfile.TemporaryDirectory() as folder:
        probe = build_bundle(CACHE).probe
        nsrun = nsrun_of(rev, Path(folder))
        drivers: dict[tuple[str, str], AnyDriver] = {}
        for kind, (before, after, options) in kinds.items():
            for side, cls in (("before", before), ("after", after)):
                driver = drivers[kind, side] = cls(f"{kind}-{side}", options, context)
                driver.nsrun = nsrun  # type: ignore[attr-defined]
                driver.prepare(probe)
        try:
            for number in range(rounds):
                for kind in kinds:
                    order = ("before", "after") if number % 2 else ("after", "before")
                    for side in order:
                        time.sleep(SETTLE_S)
                        total, found = boot(drivers[kind, side])
                        times.setdefault((kind, side), []).append(total)
                        if side == "after":
                            phases[kind].append(found)
        finally:
            for driver in drivers.values():
                driver.close()
    report(kinds, times, phases, rev)


def report(kinds: dict[str, Any], times: dict[tuple[str, str], list[float]],
           phases: dict[str, list[dict[str, float]]], rev: str) -> None:
    load = Path("/proc/loadavg").read_text().split()[0]
    print(f"boot.total (ms), before ({rev}) and after, load {load}")
    for kind in kinds:
        before, after = times[kind, "before"], times[kind, "after"]
        ratio = ratio_of_medians(after, before)
        interval = f"[{ratio.low:.3f} .. {ratio.high:.3f}]" if ratio and ratio.low else "[-]"
        print(f"  {kind:18s} before {statistics.median(before):6.3f}  after "
              f"{statistics.median(after):6.3f}  after/before {ratio.point if ratio else 0:.3f} "
              f"{interval}  n={len(after)}")
        names = list(phases[kind][0])
        medians = {name: round(statistics.median(p.get(name, 0.0) for p in phases[kind]), 3)
                   for name in names}
        print(f"    after's phases (medians): {medians}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", default="bbc24b8", help="the revision before the launcher")
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    run(args.before, args.rounds)


if __name__ == "__main__":
    main()
