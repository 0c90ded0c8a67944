"""How the docker driver compares with `docker run`, and what seccomp costs a system call.

    python -m tests.benchmarks.bench_docker_boot [--n 20] [--syscall-runs 5]

Boot, in one sitting and interleaved (the order flips every round, so drift cancels):
- driver: DockerDriver.start (create, attach, start through the Engine API) until the
  host reads BENCH-READY from the attached stream: the driver's own boot.total;
- cli: `docker run --rm -i --network none <the same image> ready idle=0`, spawned from
  here and timed with perf_counter_ns from just before the spawn until its stdout
  carries BENCH-READY. Both clocks are CLOCK_MONOTONIC; both runs attach stdin, have no
  network, use the default seccomp profile and runc, and are read the same way (the
  first chunk holding the ready line). The CLI's own start-up (process, config, version
  handshake) is part of what `docker run` costs, so it is inside its interval.
Syscalls: the probe's getppid batches (and the other calls) in a container with the
default seccomp profile, with seccomp unconfined, and as a plain host process.
Every container carries the sitting's run id and is removed at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import time
from collections.abc import Callable
from functools import partial

from bench.workload.bundle import build_bundle
from runtimes.base import AnyDriver, DriverOptions, ProbeCommand, RunContext
from runtimes.docker.driver import DockerDriver, DockerOptions
from runtimes.errors import InstanceError
from runtimes.process import ProcessDriver
from runtimes.protocol import DONE, parse_syscalls
from tests.benchmarks.sitting import run_sitting

READY_ONCE = ProbeCommand("ready", ("idle=0",))
SYSCALLS = ProbeCommand("syscall", ("batches=30", "calls=20000", "warmup=3"))
TIMEOUT_S = 60.0


def deadline() -> int:
    return time.monotonic_ns() + int(TIMEOUT_S * 1e9)


def driver_boot(driver: AnyDriver) -> float:
    """ms from the request to the ready marker, as the driver measures every boot."""
    instance = driver.start(READY_ONCE, deadline())
    try:
        return instance.boot_total_ms()
    finally:
        driver.stop(instance)


def cli_boot(image: str, name: str, run_id: str) -> float:
    """ms from spawning `docker run` to its stdout carrying the ready line; then let it finish."""
    argv = ["docker", "run", "--rm", "-i", "--network", "none", "--name", name,
            "--label", f"bench.run={run_id}", "--label", f"bench.instance={name}",
            image, *READY_ONCE.argv()]
    started = time.perf_counter_ns()
    cli = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
    try:
        ready = read_until_ready(cli)
        elapsed = (ready - started) / 1e6
    finally:
        _, errors = cli.communicate(timeout=TIMEOUT_S)  # closes stdin, waits for --rm
    if cli.returncode != 0:
        raise InstanceError(f"docker run exited {cli.returncode}: {errors.decode().strip()}")
    return elapsed


def read_until_ready(cli: subprocess.Popen[bytes]) -> int:
    """perf_counter_ns when the chunk holding BENCH-READY arrived on the CLI's stdout."""
    if cli.stdout is None:
        raise InstanceError("docker run has no stdout pipe")
    seen, fd = b"", cli.stdout.fileno()
    while b"BENCH-READY" not in seen:
        chunk = os.read(fd, 65536)
        if not chunk:
            raise InstanceError(f"docker run ended before BENCH-READY: {seen[-200:]!r}")
        seen += chunk
    return time.perf_counter_ns()


def interleaved_boots(driver: DockerDriver, image: str, run_id: str, rounds: int,
                      warmup: int) -> tuple[list[float], list[float]]:
    """Driver and CLI boots in alternating order; the first `warmup` rounds are dropped."""
    by_driver: list[float] = []
    by_cli: list[float] = []
    for index in range(warmup + rounds):
        runs: list[tuple[list[float], Callable[[], float]]] = [
            (by_driver, partial(driver_boot, driver)),
            (by_cli, partial(cli_boot, image, f"bench-{run_id}-cli-{index}", run_id))]
        for samples, run in runs if index % 2 == 0 else reversed(runs):
            value = run()
            if index >= warmup:
                samples.append(value)
    return by_driver, by_cli


def syscall_medians(drivers: dict[str, AnyDriver], runs: int) -> dict[str, dict[str, float]]:
    """Median ns per call, per syscall and per driver, over every batch of every run."""
    batches: dict[str, dict[str, list[float]]] = {name: {} for name in drivers}
    names = list(drivers)
    for run in range(runs):
        for name in names[run % len(names):] + names[:run % len(names)]:
            instance = drivers[name].start(SYSCALLS, deadline())
            try:
                instance.output.wait_for(DONE, deadline(), name)
                for batch in parse_syscalls(instance.output.text()):
                    batches[name].setdefault(batch.name, []).append(batch.ns_per_call)
            finally:
                drivers[name].stop(instance)
    return {name: {call: statistics.median(values) for call, values in calls.items()}
            for name, calls in batches.items()}


def spread(values: list[float]) -> str:
    quartiles = statistics.quantiles(values, n=4)
    return (f"median {statistics.median(values):7.1f}  q1 {quartiles[0]:7.1f}  "
            f"q3 {quartiles[2]:7.1f}  min {min(values):7.1f}  max {max(values):7.1f}")


def report_boots(by_driver: list[float], by_cli: list[float]) -> None:
    print(f"boot to ready, ms (n={len(by_driver)} each, interleaved)")
    print(f"  driver (Engine API)  {spread(by_driver)}")
    print(f"  docker run (CLI)     {spread(by_cli)}")
    ratio = statistics.median(by_cli) / statistics.median(by_driver)
    print(f"  ratio cli/driver (medians) {ratio:.2f}")


def report_syscalls(medians: dict[str, dict[str, float]], baseline: str) -> None:
    calls = list(medians[baseline])
    print("syscall ns per call, medians of all batches (ratio to the host process)")
    print("  " + "".join(f"{name:>28}" for name in medians))
    for call in calls:
        base = medians[baseline][call]
        cells = "".join(f"{medians[name][call]:>20.1f} ({medians[name][call] / base:4.2f}x)"
                        for name in medians)
        print(f"  {call:<13}{cells}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=20, help="boots of each kind (default 20)")
    parser.add_argument("--warmup", type=int, default=2, help="unmeasured rounds first")
    parser.add_argument("--syscall-runs", type=int, default=5, help="probe runs per config")
    args = parser.parse_args(argv)
    return run_sitting(DockerDriver, "bb",
                       lambda context: sitting(context, args.n, args.warmup, args.syscall_runs))


def sitting(context: RunContext, rounds: int, warmup: int, syscall_runs: int) -> int:
    probe = build_bundle(context.cache_dir).probe
    docker = DockerDriver("docker", DockerOptions(), context)
    drivers: dict[str, AnyDriver] = {
        "docker seccomp=default": docker,
        "docker seccomp=unconfined": DockerDriver("docker-unconfined",
                                                  DockerOptions(seccomp="unconfined"), context),
        "host process": ProcessDriver("process", DriverOptions(), context)}
    try:
        for driver in drivers.values():
            driver.prepare(probe)
        image = docker.fingerprint()["image"]["RepoTags"][0]
        print(f"image {image}, run id {context.run_id}")
        report_boots(*interleaved_boots(docker, image, context.run_id, rounds, warmup))
        report_syscalls(syscall_medians(drivers, syscall_runs), "host process")
    finally:
        for driver in drivers.values():
            driver.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
