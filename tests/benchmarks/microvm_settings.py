"""Which microvm settings boot fastest on this host, beside q35, measured side by side.

Boots the probe (ready, then leaves) through the qemu driver itself, interleaved round by
round so the host's load drifts over every variant alike: microvm with its legacy PIT and
RTC off (QEMU's documented fast set-up), with both on, and q35. Prints each variant's median
boot.total and kernel phase with the ratio to q35, and the load average before and after.
Under TCG the kernel of a microvm without ACPI, PIT and RTC waits for the RTC and cannot
verify its LAPIC timer: that is why the driver keeps both under TCG (docs/vms.md).

    python3 tests/benchmarks/microvm_settings.py --rounds 6       (as root; ~15 s a boot)
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from bench.workload.bundle import build_bundle
from runtimes.base import ProbeCommand, RunContext
from runtimes.qemu.driver import QemuDriver, QemuOptions

VARIANTS = {
    "microvm pit+rtc off": {"machine": "microvm", "pit": "off", "rtc": "off"},
    "microvm pit+rtc on": {"machine": "microvm", "pit": "on", "rtc": "on"},
    "q35": {"machine": "q35"},
}


def boot(driver: QemuDriver) -> dict[str, float]:
    instance = driver.start(ProbeCommand("ready", ("idle=0",)), time.monotonic_ns() + int(300e9))
    try:
        return {"boot.total": instance.boot_total_ms(), **{
            f"boot.{k}": v for k, v in instance.boot_phases().items()}}
    finally:
        driver.stop(instance)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    cache = Path(tempfile.mkdtemp(prefix="microvm-settings-"))
    context = RunContext(f"s{os.getpid()}", cache, cache)
    probe = build_bundle(cache).probe
    drivers = {name: QemuDriver(f"v{i}", QemuOptions.model_validate(options), context)
               for i, (name, options) in enumerate(VARIANTS.items())}
    for driver in drivers.values():
        driver.prepare(probe)
    print("load before:", Path("/proc/loadavg").read_text().strip())
    figures: dict[str, list[dict[str, float]]] = {name: [] for name in drivers}
    try:
        for _ in range(args.rounds):
            for name, driver in drivers.items():
                figures[name].append(boot(driver))
    finally:
        for driver in drivers.values():
            driver.close()
        shutil.rmtree(cache, ignore_errors=True)
    print("load after: ", Path("/proc/loadavg").read_text().strip())
    q35 = statistics.median(row["boot.total"] for row in figures["q35"])
    for name, rows in figures.items():
        total = statistics.median(row["boot.total"] for row in rows)
        kernel = statistics.median(row["boot.kernel_to_init"] for row in rows)
        print(f"{name:22} boot.total {total:8.0f} ms  kernel_to_init {kernel:8.0f} ms  "
              f"x q35 {total / q35:.2f}  (n={len(rows)})")


if __name__ == "__main__":
    main()
