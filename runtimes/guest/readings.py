"""What a guest's probe says of itself (its memory, its kernel's clock at /init) and what its
VMM process costs the host while it runs: read the same way for every VM driver."""

from __future__ import annotations

from typing import Any

from foundation.errors import InstanceError
from runtimes.base import Usage
from runtimes.host.usage import TICK_NS, peak_rss_bytes, process_cpu_ns
from runtimes.instance import Instance
from runtimes.protocol import GUEST_CLOCK, parse_guest_clock, parse_meminfo

INIT_LINE = "Run /init as init process"  # the guest kernel's last line before the probe


def guest_meminfo(instance: Instance[Any]) -> dict[str, int]:
    """The guest's own MemTotal/MemAvailable (bytes) from the probe's BENCH-MEMINFO line."""
    seen = parse_meminfo(instance.output.text())
    if seen is None:
        return {}
    return {"guest_mem_total": seen.total, "guest_mem_available": seen.available}


def console_phases(instance: Instance[Any], deadline_ns: int) -> None:
    """The boot phases only a guest's console tells, from stamps its reader already took:
    first_byte (the first byte on the serial console: firmware or the kernel's setup code)
    and kernel_to_init (the kernel's "Run /init" line); then the guest kernel's own clock."""
    if instance.output.first_byte_ns is not None:
        instance.mark("first_byte", instance.output.first_byte_ns)
    init = next((t for t, line in list(instance.output.lines) if INIT_LINE in line), None)
    if init is not None:
        instance.mark("kernel_to_init", init)
    record_guest_clock(instance, deadline_ns)


def record_guest_clock(instance: Instance[Any], deadline_ns: int) -> None:
    """The guest kernel's clock when the probe began as /init (the line right after the ready
    marker), as instance.guest_phases["kernel_to_init"] in ms: how long the guest kernel itself
    counted from its clock's start to running /init. No line by the deadline: no figure."""
    try:
        instance.output.wait_for(GUEST_CLOCK, deadline_ns, "the guest's clock line")
    except InstanceError:
        return
    boottime_ns = parse_guest_clock(instance.output.text())
    if boottime_ns is not None:
        instance.guest_phases["kernel_to_init"] = boottime_ns / 1e6


def vmm_usage(pid: int) -> Usage:
    """A VMM's CPU time (every thread: vCPUs, I/O, emulation) and its peak resident set (the
    guest RAM it touched included)."""
    return Usage(cpu_ns=process_cpu_ns(pid, children=False), cpu_source="QEMU's CPU time "
                 "(/proc/PID/stat, every thread)", cpu_resolution_ns=TICK_NS,
                 peak_bytes=peak_rss_bytes(pid),
                 peak_source="QEMU's peak resident set (VmHWM), guest RAM included")
