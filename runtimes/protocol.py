"""The probe's line protocol (see bench/workload/probe.c): its markers, and parsers that turn
its lines into typed records."""

from __future__ import annotations

import re
from dataclasses import dataclass

from foundation.errors import InstanceError, ProtocolError

READY = "BENCH-READY"
# a number as the probe prints one: ASCII digits (no sign but minus, no exponent), int64-sized
INTEGER = re.compile(r"-?[0-9]{1,19}")
IDLE = "BENCH-IDLE"
DONE = "BENCH-DONE"


@dataclass(frozen=True)
class SyscallBatch:
    name: str
    batch: int
    ns_per_call: float  # the call's cost: raw_ns less the loop's (never negative)
    raw_ns: float | None = None  # ns per iteration of the batch, the loop included


@dataclass(frozen=True)
class LoopCost:
    """What the probe subtracted from one call's batches: the loop's ns per iteration (the
    least empty batch interleaved with them, `empty`, or, when `bounded`, the least batch
    with the call, which ran the loop too)."""

    ns_per_iter: float
    empty: float
    bounded: bool


# statfs(2) magic numbers of the filesystems a probe's own file may sit on
FILESYSTEMS = {0xEF53: "ext4", 0x794C7630: "overlayfs", 0x01021994: "tmpfs", 0x858458F6: "ramfs",
               0x58465342: "xfs", 0x9123683E: "btrfs", 0x6969: "nfs", 0x65735546: "fuse"}


@dataclass(frozen=True)
class SyscallTarget:
    """What the probe's open_close and stat reach: its own file, by one name relative to its
    directory, on this filesystem (a runtime's layout decides it: ext4, overlayfs, ramfs)."""

    name: str
    filesystem: str


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
            if len(parts) not in (4, 5):
                raise InstanceError(f"malformed probe line: {line!r}")
            raw = float(parts[4]) if len(parts) == 5 else None
            batches.append(SyscallBatch(parts[1], int(parts[2]), float(parts[3]), raw))
    return batches


def parse_loops(lines: list[str]) -> dict[str, LoopCost]:
    """Per call timed, the loop cost the probe subtracted (BENCH-LOOP lines)."""
    loops = {}
    for line in lines:
        parts = line.split()
        if line.startswith("BENCH-LOOP ") and len(parts) > 1 and "=" not in parts[1]:
            fields = dict(item.split("=", 1) for item in parts[2:] if "=" in item)
            try:
                loops[parts[1]] = LoopCost(float(fields["ns_per_iter"]), float(fields["empty"]),
                                           fields.get("bounded") == "1")
            except (KeyError, ValueError):
                raise InstanceError(f"malformed probe line: {line!r}") from None
    return loops


def parse_target(lines: list[str]) -> SyscallTarget | None:
    for line in lines:
        if line.startswith("BENCH-TARGET "):
            fields = dict(item.split("=", 1) for item in line.split()[1:] if "=" in item)
            magic = int(fields.get("fs", "0"), 16)
            return SyscallTarget(fields.get("name", "?"), FILESYSTEMS.get(magic, hex(magic)))
    return None


def parse_meminfo(lines: list[str]) -> GuestMemory | None:
    for line in lines:
        if line.startswith("BENCH-MEMINFO "):
            fields = dict(item.split("=", 1) for item in line.split()[1:])
            return GuestMemory(int(fields["MemTotal"]) * 1024, int(fields["MemAvailable"]) * 1024)
    return None


def probe_errors(lines: list[str]) -> list[str]:
    return [line.removeprefix("BENCH-ERROR ").strip() for line in lines if line.startswith("BENCH-ERROR")]


def exit_status(lines: list[str]) -> int | None:
    """The status BENCH-DONE announced; None without one, or with one that is not a status."""
    for line in lines:
        if line.startswith("BENCH-DONE"):
            parts = line.split()
            if len(parts) == 2 and INTEGER.fullmatch(parts[1]) and -1 <= int(parts[1]) <= 255:
                return int(parts[1])
            return None
    return None


STARTED = "BENCH-STARTED"
EXITED = "BENCH-EXITED"
RESPONSE = "BENCH-RESPONSE"
COMMAND = "BENCH-COMMAND"
STDOUT = "BENCH-OUT "
STDERR = "BENCH-ERR "


@dataclass(frozen=True)
class CommandReport:
    """What the probe says of a command it supervised (durations measured inside: a
    duration needs no shared clock). `stopped`: 1 when the probe stopped a server after its
    first answer, as asked; 2 when it killed the command at its timeout; 3 when told to stop."""

    status: int
    signal: int
    stopped: int
    wall_ns: int
    user_ns: int
    sys_ns: int
    maxrss_kb: int
    all_user_ns: int
    all_sys_ns: int
    all_maxrss_kb: int

    @property
    def cpu_ns(self) -> int:
        """CPU time of every process the probe reaped: the command, its helper, orphans."""
        return self.all_user_ns + self.all_sys_ns


# the largest count of nanoseconds, kilobytes or anything else the probe reports (int64)
MOST = (1 << 63) - 1
# each field of BENCH-COMMAND and its range: a value outside it is a broken report, not data
COMMAND_FIELDS: dict[str, tuple[int, int]] = {
    "status": (-1, 255), "signal": (0, 64), "stopped": (0, 3), "wall_ns": (0, MOST),
    "user_ns": (0, MOST), "sys_ns": (0, MOST), "maxrss_kb": (0, MOST),
    "all_user_ns": (0, MOST), "all_sys_ns": (0, MOST), "all_maxrss_kb": (0, MOST)}
# markers the probe prints at most once per instance: a second one is someone else's
ONCE = ("BENCH-READY", "BENCH-GUEST-CLOCK", "BENCH-MEMINFO", "BENCH-TARGET", "BENCH-STARTED",
        "BENCH-RESPONSE", "BENCH-EXITED", "BENCH-COMMAND", "BENCH-DONE", "BENCH-IDLE")
# markers the probe prints at most once per system call it times (the call's name follows)
ONCE_PER_CALL = ("BENCH-LOOP",)
KNOWN = (*ONCE, *ONCE_PER_CALL, "BENCH-SYSCALL", "BENCH-ERROR", "BENCH-OUT", "BENCH-ERR",
         "BENCH-BG")


def check_protocol(lines: list[str]) -> None:
    """Every BENCH- line is one the probe prints, and each once-only marker is there at most
    once; a ProtocolError names the first line that breaks this."""
    seen: set[str] = set()
    for line in lines:
        if not line.startswith("BENCH-"):
            continue  # a guest console's kernel lines, a shell's echo: not the protocol
        marker = line.split(" ", 1)[0]
        if marker not in KNOWN:
            raise ProtocolError(f"unknown marker {marker[:40]!r}", line=line)
        key = " ".join(line.split()[:2]) if marker in ONCE_PER_CALL else marker
        if marker in ONCE or marker in ONCE_PER_CALL:
            if key in seen:
                raise ProtocolError(f"{key} came twice", line=line)
            seen.add(key)


def parse_command(lines: list[str]) -> CommandReport | None:
    """The probe's report on the command (None before it came): the line checked against the
    protocol first, every field present once, known and in its range."""
    check_protocol(lines)
    line = next((line for line in lines if line.startswith(COMMAND + " ")), None)
    return None if line is None else command_report(line)


def command_report(line: str) -> CommandReport:
    fields: dict[str, int] = {}
    for item in line.split()[1:]:
        key, sep, text = item.partition("=")
        if not sep or key not in COMMAND_FIELDS or key in fields:
            raise ProtocolError(f"field {key[:40]!r} is unknown, repeated or has no value",
                                line=line)
        low, high = COMMAND_FIELDS[key]
        if not INTEGER.fullmatch(text) or not low <= int(text) <= high:
            raise ProtocolError(f"{key}={text[:40]} is outside {low}..{high}", line=line)
        fields[key] = int(text)
    missing = sorted(set(COMMAND_FIELDS) - set(fields))
    if missing:
        raise ProtocolError(f"fields {', '.join(missing)} are missing", line=line)
    report = CommandReport(**fields)
    if report.all_user_ns < report.user_ns or report.all_sys_ns < report.sys_ns:
        raise ProtocolError("every process's CPU time is less than the command's", line=line)
    return report


GUEST_CLOCK = "BENCH-GUEST-CLOCK"


def parse_guest_clock(lines: list[str]) -> int | None:
    """The guest kernel's own clock (CLOCK_BOOTTIME, ns since it started counting, the clock
    behind /proc/uptime) when the probe began as a guest's /init; None when not reported."""
    for line in lines:
        if line.startswith(GUEST_CLOCK + " "):
            fields = dict(item.split("=", 1) for item in line.split()[1:] if "=" in item)
            text = fields.get("boottime_ns", "")
            if not INTEGER.fullmatch(text) or not 0 <= int(text) <= MOST:
                raise ProtocolError(f"boottime_ns={text[:40]} is not a count of nanoseconds",
                                    line=line)
            return int(text)
    return None
