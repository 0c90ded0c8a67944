"""How the libvirt driver's boot compares with plain QEMU booting the same kernel and initramfs.

    python -m tests.benchmarks.bench_libvirt_boot [--n 5] [--warmup 1]
    python -m tests.benchmarks.bench_libvirt_boot --extra quiet    # both boots quiet
    python -m tests.benchmarks.bench_libvirt_boot --variants [--n 3]

Boot, one guest at a time (2 cores: a second guest would steal the first one's CPU),
interleaved with the order flipped every round so drift cancels:
- driver: LibvirtDriver.start (createXML paused, console stream, resume) until the host
  reads BENCH-READY from the console stream: the driver's own boot.total;
- qemu: `qemu-system-x86_64 -accel tcg -nodefaults -no-user-config -nographic -serial
  stdio -kernel K -initrd I -append '<the driver's command line>' -m <same> -net none`,
  spawned from here and timed with monotonic_ns from just before the spawn until its
  stdout carries BENCH-READY. Same kernel, initramfs, memory, vCPUs, machine, CPU model
  and accel; the difference is what libvirt adds (its RPC, QMP set-up, cgroups, pty).
--variants instead compares driver configurations (machine pc/q35, verbose/quiet kernel)
to justify the defaults. Every process and domain carries the sitting's run id.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from bench.workload.bundle import build_bundle
from runtimes.base import ProbeCommand, RunContext
from runtimes.errors import InstanceError
from runtimes.libvirt.domain import kernel_cmdline
from runtimes.libvirt.driver import LibvirtDriver, LibvirtOptions
from tests.benchmarks.sitting import run_sitting

READY_ONCE = ProbeCommand("ready", ("idle=0",))
TIMEOUT_S = 180.0
Boot = Callable[[], float]


def deadline() -> int:
    return time.monotonic_ns() + int(TIMEOUT_S * 1e9)


def driver_boot(driver: LibvirtDriver, phases: list[dict[str, float]] | None = None) -> float:
    """ms from the request to the ready marker, as the driver measures every boot."""
    instance = driver.start(READY_ONCE, deadline())
    try:
        if phases is not None:
            phases.append(instance.boot_phases())
        return instance.boot_total_ms()
    finally:
        driver.stop(instance)


def qemu_argv(driver: LibvirtDriver, name: str) -> list[str]:
    """The plain QEMU equivalent of the driver's guest."""
    info: dict[str, Any] = driver.fingerprint()
    initrd = info["initramfs"]  # the driver's cached initramfs: the very same bytes
    if not initrd or shutil.which("qemu-system-x86_64") is None:
        raise InstanceError("no initramfs or no qemu-system-x86_64 on this host")
    kvm = info["accel"] == "kvm"
    return ["qemu-system-x86_64", "-name", name, "-accel", info["accel"],
            "-machine", info["machine"], "-cpu", "host" if kvm else info["cpu_model"],
            "-m", f"{info['memory_bytes'] >> 20}M", "-smp", str(info["vcpus"]),
            "-nodefaults", "-no-user-config", "-nographic", "-serial", "stdio", "-net", "none",
            "-no-reboot", "-kernel", info["kernel"], "-initrd", initrd,
            "-append", kernel_cmdline(info["cmdline_extra"], READY_ONCE.argv())]


def qemu_boot(driver: LibvirtDriver, name: str) -> float:
    """ms from spawning QEMU to its stdout carrying the ready line; then kill it."""
    argv = qemu_argv(driver, name)
    started = time.monotonic_ns()
    qemu = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    try:
        return (read_until_ready(qemu) - started) / 1e6
    finally:
        qemu.kill()
        qemu.wait(timeout=30)
        if qemu.stdout is not None:
            qemu.stdout.close()


def read_until_ready(qemu: subprocess.Popen[bytes]) -> int:
    """monotonic_ns when the chunk holding BENCH-READY arrived on QEMU's stdout."""
    if qemu.stdout is None:
        raise InstanceError("qemu has no stdout pipe")
    seen, fd, limit = b"", qemu.stdout.fileno(), deadline()
    while b"BENCH-READY" not in seen:
        chunk = os.read(fd, 65536)
        if not chunk or time.monotonic_ns() > limit:
            raise InstanceError(f"qemu ended or timed out before BENCH-READY: {seen[-200:]!r}")
        seen += chunk
    return time.monotonic_ns()


def interleaved(boots: dict[str, Boot], rounds: int, warmup: int) -> dict[str, list[float]]:
    """Each boot once per round, the order rotated every round; `warmup` rounds dropped."""
    samples: dict[str, list[float]] = {name: [] for name in boots}
    names = list(boots)
    for index in range(warmup + rounds):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            value = boots[name]()
            print(f"  round {index}{' (warm-up)' if index < warmup else ''} {name}: {value:.0f} ms",
                  flush=True)
            if index >= warmup:
                samples[name].append(value)
    return samples


def spread(values: list[float]) -> str:
    return (f"median {statistics.median(values):8.1f}  min {min(values):8.1f}  "
            f"max {max(values):8.1f}  n {len(values)}")


def report(samples: dict[str, list[float]], baseline: str) -> None:
    print("boot to ready, ms (interleaved, one guest at a time)")
    for name, values in samples.items():
        print(f"  {name:<28} {spread(values)}")
    base = statistics.median(samples[baseline])
    for name, values in samples.items():
        if name != baseline:
            print(f"  ratio {name} / {baseline} (medians) {statistics.median(values) / base:.3f}")


def report_phases(phases: list[dict[str, float]]) -> None:
    print("driver phases, median ms: " + "  ".join(
        f"{name} {statistics.median(p[name] for p in phases if name in p):.1f}"
        for name in phases[0]))


def sitting(context: RunContext, rounds: int, warmup: int, options: dict[str, Any]) -> int:
    probe = build_bundle(context.cache_dir).probe
    driver = LibvirtDriver("libvirt", LibvirtOptions(**options), context)
    try:
        driver.prepare(probe)
        info = driver.fingerprint()
        print(f"run id {context.run_id}; accel {info['accel']} ({info['accel_reason']}); "
              f"machine {info['machine']}; kernel {info['kernel']}; "
              f"extra kernel parameters {info['cmdline_extra']}")
        phases: list[dict[str, float]] = []
        counter = iter(range(1_000_000))
        boots: dict[str, Boot] = {
            "driver": partial(driver_boot, driver, phases),
            "plain qemu": lambda: qemu_boot(driver, f"bench-{context.run_id}-qemu-{next(counter)}")}
        report(interleaved(boots, rounds, warmup), "plain qemu")
        report_phases(phases[warmup:])
    finally:
        driver.close()
    return 0


VARIANTS: dict[str, dict[str, Any]] = {
    "pc verbose": {"machine": "pc"},
    "q35 verbose": {"machine": "q35"},
    "pc quiet": {"machine": "pc", "cmdline_extra": ["quiet"]},
    "q35 quiet": {"machine": "q35", "cmdline_extra": ["quiet"]},
}


def variants(context: RunContext, rounds: int, warmup: int, options: dict[str, Any]) -> int:
    probe = build_bundle(context.cache_dir).probe
    drivers = {name: LibvirtDriver(name.replace(" ", "-"), LibvirtOptions(**(options | variant)),
                                 context)
               for name, variant in VARIANTS.items()}
    try:
        for driver in drivers.values():
            driver.prepare(probe)
        boots: dict[str, Boot] = {name: partial(driver_boot, d) for name, d in drivers.items()}
        report(interleaved(boots, rounds, warmup), "pc verbose")
    finally:
        for driver in drivers.values():
            driver.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=5, help="boots of each kind (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="unmeasured rounds first")
    parser.add_argument("--variants", action="store_true", help="compare driver configurations")
    parser.add_argument("--extra", action="append", default=[], metavar="PARAM",
                        help="an extra kernel parameter for both (e.g. quiet); repeatable")
    args = parser.parse_args(argv)
    options: dict[str, Any] = {"cmdline_extra": args.extra} if args.extra else {}
    body = variants if args.variants else sitting
    return run_sitting(LibvirtDriver, "bl",
                       lambda context: body(context, args.n, args.warmup, options))


if __name__ == "__main__":
    raise SystemExit(main())
