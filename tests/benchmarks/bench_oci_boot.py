"""runc called by the oci driver against `runc run` timed by hyperfine, and the engines' share.

    python -m tests.benchmarks.bench_oci_boot [--n 30] [--block 5]

In one sitting, in alternating blocks of --block runs (so drift hits every side alike):
- oci/runc: OciDriver.start (write the bundle, `runc create`, `runc start`) until the host
  reads BENCH-READY: the driver's boot.total; then its teardown (not timed here);
- `runc run`, timed by an independent tool: `hyperfine -N` (no shell) running
  `runc --root R run --bundle B id` on a bundle the driver's own code wrote (the same
  rootfs, namespaces, limits and seccomp profile; the probe with idle=0, so it exits at
  once). `runc run` is create, start, wait and delete in one process, so it also includes
  what the driver does in two processes, plus the container's exit and its deletion;
- docker/runc and podman/runc: DockerDriver.start and PodmanDriver.start (boot.total),
  where they are available: what the engine adds to the same runtime.
Prints medians, the ratio oci boot.total / hyperfine's `runc run` median (the driver is
held to at most 1.2), each engine's share against oci/runc, and the load average.
Run as root; leaves no container, bundle, state directory or cgroup behind.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.workload.bundle import build_bundle
from runtimes.base import AnyDriver, ProbeCommand, RunContext
from runtimes.docker.driver import DockerDriver, DockerOptions
from runtimes.instance import Instance
from runtimes.oci.bundle import write_bundle
from runtimes.oci.driver import OciDriver, OciOptions
from runtimes.podman.driver import PodmanDriver, PodmanOptions

TIMEOUT_S = 60.0
WARMUP = 2
LIMIT = 1.2


def boot_ms(driver: AnyDriver) -> float:
    instance: Instance[Any] = driver.start(ProbeCommand("ready", ("idle=60",)),
                                           time.monotonic_ns() + int(TIMEOUT_S * 1e9))
    try:
        return instance.boot_total_ms()
    finally:
        driver.stop(instance)


def runc_run_bundle(driver: OciDriver, work: Path) -> Path:
    """A bundle from the driver's own code whose probe exits at once (idle=0)."""
    command = ProbeCommand("ready", ("idle=0",))
    instance: Instance[Any] = Instance(f"bench-{driver.context.run_id}-runc-run", 0)
    return write_bundle(work / "runc-run-bundle", driver.bundle_spec(instance, command),
                        driver.rootfs)


def hyperfine_block(argv: list[str], runs: int, export: Path) -> list[float]:
    """`hyperfine -N` of one command line: its run times in ms."""
    command = " ".join(argv)
    subprocess.run(["hyperfine", "-N", "--style", "none", "--warmup", "1", "--runs", str(runs),
                    "--export-json", str(export), command], check=True, timeout=TIMEOUT_S * runs,
                   stdout=subprocess.DEVNULL)
    times: list[float] = json.loads(export.read_text())["results"][0]["times"]
    return [t * 1000 for t in times]


def engines(context: RunContext, probe: Path) -> dict[str, AnyDriver]:
    found: dict[str, AnyDriver] = {}
    for name, cls, options in (("docker/runc", DockerDriver, DockerOptions(runtime="runc")),
                               ("podman/runc", PodmanDriver, PodmanOptions(runtime="runc"))):
        reason = cls.unavailable_reason(options)  # type: ignore[attr-defined]
        if reason:
            print(f"{name}: not measured ({reason})")
            continue
        driver: AnyDriver = cls(name.replace("/", "-"), options, context)  # type: ignore[operator]
        driver.prepare(probe)
        found[name] = driver
    return found


def sitting(n: int, block: int, work: Path, run_id: str) -> dict[str, list[float]]:
    context = RunContext(run_id, work / "cache", work)
    probe = build_bundle(context.cache_dir).probe
    oci = OciDriver("oci-runc", OciOptions(runtime="runc"), context)
    oci.prepare(probe)
    others = engines(context, probe)
    bundle = runc_run_bundle(oci, work)
    runc_run = [str(oci.cli.path), "--root", str(work / "runc-run-state"), "run", "--bundle",
                str(bundle), f"bench-{run_id}-runc-run"]
    sides: dict[str, Callable[[int], list[float]]] = {
        "oci/runc boot.total": lambda k: [boot_ms(oci) for _ in range(k)],
        "hyperfine -N runc run": lambda k: hyperfine_block(runc_run, k, work / "hyperfine.json"),
        **{f"{name} boot.total": (lambda d: lambda k: [boot_ms(d) for _ in range(k)])(driver)
           for name, driver in others.items()}}
    samples: dict[str, list[float]] = {name: [] for name in sides}
    try:
        for side in sides.values():
            side(WARMUP)
        for round_ in range(-(-n // block)):
            names = list(sides)
            shift = round_ % len(names)
            for name in names[shift:] + names[:shift]:
                samples[name] += sides[name](block)
    finally:
        for driver in [oci, *others.values()]:
            driver.close()
    return {name: values[:n] for name, values in samples.items()}


def report(samples: dict[str, list[float]]) -> None:
    medians = {name: statistics.median(values) for name, values in samples.items()}
    for name, values in samples.items():
        ordered = sorted(values)
        print(f"{name:<28} median {medians[name]:9.2f} ms   min {ordered[0]:9.2f} ms   "
              f"max {ordered[-1]:9.2f} ms   n={len(values)}")
    ratio = medians["oci/runc boot.total"] / medians["hyperfine -N runc run"]
    print(f"ratio oci/runc boot.total / `runc run` (hyperfine): {ratio:.2f} "
          f"({'within' if ratio <= LIMIT else 'ABOVE'} {LIMIT})")
    for name, value in medians.items():
        if name.startswith(("docker", "podman")):
            share = value - medians["oci/runc boot.total"]
            print(f"{name.split()[0]}'s share over runc alone: {share:+.1f} ms "
                  f"({value / medians['oci/runc boot.total']:.2f}x)")
    print(f"load average: {os.getloadavg()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=30, help="measured runs of each (default 30)")
    parser.add_argument("--block", type=int, default=5, help="runs per block (default 5)")
    args = parser.parse_args(argv)
    reason = OciDriver.unavailable_reason(OciOptions(runtime="runc"))
    if reason:
        print(f"oci/runc unavailable: {reason}")
        return 1
    run_id = "ob" + secrets.token_hex(3)
    print(f"load average before: {os.getloadavg()}")
    with tempfile.TemporaryDirectory(prefix=f"bench-{run_id}-") as work:
        try:
            samples = sitting(args.n, args.block, Path(work), run_id)
        finally:
            left = [*OciDriver.clean(OciOptions(), run_id, dry_run=False),
                    *DockerDriver.clean(DockerOptions(), run_id, dry_run=False),
                    *PodmanDriver.clean(PodmanOptions(), run_id, dry_run=False)]
            print(f"left behind and removed now: {left}" if left else "nothing left behind")
    report(samples)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
