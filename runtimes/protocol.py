"""The probe's line protocol (see bench/workload/probe.c): its markers, and parsers that turn
its lines into typed records."""

from __future__ import annotations

from dataclasses import dataclass

from runtimes.errors import InstanceError

READY = "BENCH-READY"
IDLE = "BENCH-IDLE"
DONE = "BENCH-DONE"


@dataclass(frozen=True)
class SyscallBatch:
    name: str
    batch: int
    ns_per_call: float


@dataclass(frozen=True)
class GuestMemory:
    """The instance's own view of its memory (bytes), from /proc/meminfo inside."""

    total: int
    available: int


def parse_syscalls(lines: list[str]) -> list[SyscallBatch]:
    batches = []
    for line in lines:
        if line.startswith("BENCH-SYSCALL "):
            parts = line.split()
            if len(parts) != 4:
                raise InstanceError(f"malformed probe line: {line!r}")
            batches.append(SyscallBatch(parts[1], int(parts[2]), float(parts[3])))
    return batches


def parse_meminfo(lines: list[str]) -> GuestMemory | None:
    for line in lines:
        if line.startswith("BENCH-MEMINFO "):
            fields = dict(item.split("=", 1) for item in line.split()[1:])
            return GuestMemory(int(fields["MemTotal"]) * 1024, int(fields["MemAvailable"]) * 1024)
    return None


def probe_errors(lines: list[str]) -> list[str]:
    return [line.removeprefix("BENCH-ERROR ").strip() for line in lines if line.startswith("BENCH-ERROR")]


def exit_status(lines: list[str]) -> int | None:
    for line in lines:
        if line.startswith("BENCH-DONE"):
            return int(line.split()[1])
    return None
