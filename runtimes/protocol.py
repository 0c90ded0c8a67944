"""The probe's line protocol (see bench/workload/probe.c): its markers, and parsers that turn
its lines into typed records."""

from __future__ import annotations

from dataclasses import dataclass

from foundation.errors import InstanceError

READY = "BENCH-READY"
IDLE = "BENCH-IDLE"
DONE = "BENCH-DONE"


@dataclass(frozen=True)
class SyscallBatch:
    name: str
    batch: int
    ns_per_call: float


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
            if len(parts) != 4:
                raise InstanceError(f"malformed probe line: {line!r}")
            batches.append(SyscallBatch(parts[1], int(parts[2]), float(parts[3])))
    return batches


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
    for line in lines:
        if line.startswith("BENCH-DONE"):
            return int(line.split()[1])
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


def parse_command(lines: list[str]) -> CommandReport | None:
    for line in lines:
        if line.startswith(COMMAND + " "):
            try:
                fields = {key: int(value) for key, value in
                          (item.split("=", 1) for item in line.split()[1:])}
                return CommandReport(**fields)
            except (TypeError, ValueError) as error:
                raise InstanceError(f"malformed probe line: {line!r}") from error
    return None


def command_output(lines: list[str], prefix: str = STDOUT) -> list[str]:
    """The command's own output lines (stdout by default), without the probe's prefix."""
    return [line[len(prefix):] for line in lines if line.startswith(prefix)
            or line == prefix.rstrip()]


GUEST_CLOCK = "BENCH-GUEST-CLOCK"


def parse_guest_clock(lines: list[str]) -> int | None:
    """The guest kernel's own clock (CLOCK_BOOTTIME, ns since it started counting, the clock
    behind /proc/uptime) when the probe began as a guest's /init; None when not reported."""
    for line in lines:
        if line.startswith(GUEST_CLOCK + " "):
            fields = dict(item.split("=", 1) for item in line.split()[1:] if "=" in item)
            try:
                return int(fields["boottime_ns"])
            except (KeyError, ValueError) as error:
                raise InstanceError(f"malformed probe line: {line!r}") from error
    return None
