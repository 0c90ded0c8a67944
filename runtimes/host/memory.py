"""Host-side memory readings shared by every driver: PSS from /proc, split by mapping size."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from runtimes.errors import InstanceError

PROC = Path("/proc")


@dataclass(frozen=True)
class PssSplit:
    """PSS in bytes of a set of processes: mappings at least `large` bytes apart from the rest."""

    small: int
    large: int


def pss_bytes(pid: int) -> int:
    """Proportional set size of one process (smaps_rollup); InstanceError if it is gone:
    a vanished process has no PSS, which is not the same as a PSS of 0."""
    return parse_rollup_pss(read_proc(pid, "smaps_rollup"))


def read_proc(pid: int, name: str) -> str:
    """/proc/PID/NAME; an InstanceError saying the process is gone when it is."""
    try:
        text = (PROC / str(pid) / name).read_text()
    except (FileNotFoundError, ProcessLookupError) as error:
        raise InstanceError(f"process {pid} is gone: its memory cannot be read") from error
    if not text:  # a zombie's smaps are empty
        raise InstanceError(f"process {pid} has exited: its memory cannot be read")
    return text


def parse_rollup_pss(text: str) -> int:
    for line in text.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) * 1024
    raise ValueError("no Pss line in smaps_rollup")


def pss_split(pid: int, large: int) -> PssSplit:
    """PSS of one process with mappings of at least `large` bytes (guest RAM) counted apart."""
    return parse_smaps_split(read_proc(pid, "smaps"), large)


def parse_smaps_split(text: str, large: int) -> PssSplit:
    small = big = 0
    size = 0
    for line in text.splitlines():
        head = line.split(maxsplit=1)[0] if line else ""
        if "-" in head and not head.endswith(":"):
            start, end = (int(x, 16) for x in head.split("-"))
            size = end - start
        elif head == "Pss:":
            value = int(line.split()[1]) * 1024
            if size >= large:
                big += value
            else:
                small += value
    return PssSplit(small, big)


def total_pss(pids: list[int]) -> int:
    """PSS of a set of processes; an empty set is an InstanceError (no process to read is
    not a reading of 0)."""
    if not pids:
        raise InstanceError("no process left to read the memory of")
    return sum(pss_bytes(pid) for pid in pids)


def meminfo() -> dict[str, int]:
    """The host's /proc/meminfo in bytes."""
    values = {}
    for line in (PROC / "meminfo").read_text().splitlines():
        key, rest = line.split(":", 1)
        parts = rest.split()
        values[key] = int(parts[0]) * (1024 if len(parts) > 1 else 1)
    return values
