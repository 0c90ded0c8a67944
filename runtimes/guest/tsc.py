"""The host's TSC frequency, for a TCG guest that cannot time its TSC itself.

Under TCG a guest's TSC is the host's (QEMU returns the host's counter for the guest's
rdtsc). A PC has an HPET and an ACPI PM timer to time it against; a microvm has neither, and
its calibration against the PIT fails (the PIT's gate at port 0x61 is not there): the kernel
then marks the TSC unstable and, on a busy host, was seen to hang there. Handed the
frequency (tsc_early_khz=), it calibrates nothing. Measured by a small static helper
(tsckhz.c: rdtsc against CLOCK_MONOTONIC_RAW, the median of five 20 ms windows).
"""

from __future__ import annotations

import functools
from pathlib import Path

from foundation.errors import InstanceError, RuntimeUnavailable
from runtimes.host.build import compile_static
from runtimes.host.tools import run_tool

SOURCE = Path(__file__).with_name("tsckhz.c")


@functools.cache
def host_tsc_khz(cache_dir: Path) -> int:
    """kHz of the host's TSC, measured once per process."""
    helper = compile_static(SOURCE, cache_dir)
    try:
        done = run_tool([str(helper)], "measure the host's TSC frequency", timeout=30)
        khz = int(done.stdout.strip())
    except (InstanceError, ValueError) as error:
        raise RuntimeUnavailable(f"cannot measure the host's TSC frequency: {error}") from error
    if khz <= 0:
        raise RuntimeUnavailable("the host's TSC does not advance: a TCG microvm cannot keep time")
    return khz
