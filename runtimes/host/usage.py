"""Host CPU time and peak memory of host processes, from /proc: what an instance costs
while its command runs (runtimes.base.Usage)."""

from __future__ import annotations

import os
from pathlib import Path

from foundation.errors import InstanceError

TICK_NS = 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def stat_fields(pid: int) -> list[str]:
    """/proc/PID/stat after the command name (which may hold blanks and parentheses)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError as error:
        raise InstanceError(f"process {pid} is gone: {error.strerror}") from error
    return text.rsplit(")", 1)[1].split()


def process_cpu_ns(pid: int, children: bool = True) -> int:
    """User and system time of a process (all its threads), plus, with `children`, that of
    the children it has reaped (utime, stime, cutime, cstime: fields 14-17)."""
    fields = stat_fields(pid)
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks * TICK_NS


def peak_rss_bytes(pid: int) -> int:
    """The process's peak resident set (VmHWM)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError as error:
        raise InstanceError(f"process {pid} is gone: {error.strerror}") from error
    raise InstanceError(f"process {pid} shows no VmHWM")
