"""Host-side memory readings shared by every driver: PSS from /proc, and a VMM's PSS split
by what its mappings hold (guest RAM, a TCG translation cache, the VMM itself)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from foundation.errors import InstanceError

PROC = Path("/proc")


@dataclass(frozen=True)
class Mapping:
    """One mapping of a process (/proc/PID/smaps), sizes in bytes."""

    start: int
    end: int
    perms: str
    path: str
    rss: int = 0
    pss: int = 0

    @property
    def size(self) -> int:
        return self.end - self.start

    @property
    def anonymous(self) -> bool:
        return not self.path


@dataclass(frozen=True)
class VmmSplit:
    """PSS in bytes of a VMM process, by what each mapping holds.

    guest_ram: the guest's RAM block (the one anonymous read-write mapping of exactly the
    guest's memory size); code_cache: the translation cache of a TCG guest (anonymous
    executable mappings, or QEMU's tcg-jit memfd when it maps the cache twice); vmm: the rest.
    """

    guest_ram: int
    code_cache: int
    vmm: int
    guest_ram_mapping: Mapping


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


def mappings(pid: int) -> list[Mapping]:
    """Every mapping of a process with its Rss and Pss; InstanceError if it is gone."""
    return parse_smaps(read_proc(pid, "smaps"))


def parse_smaps(text: str) -> list[Mapping]:
    found: list[Mapping] = []
    for line in text.splitlines():
        fields = line.split(maxsplit=5)
        if not fields:
            continue
        if not fields[0].endswith(":"):  # a mapping's header: range, perms, offset, dev, inode, path
            start, end = (int(x, 16) for x in fields[0].split("-"))
            found.append(Mapping(start, end, fields[1], fields[5].strip() if len(fields) > 5 else ""))
        elif fields[0] == "Rss:" and found:
            found[-1] = replace(found[-1], rss=int(fields[1]) * 1024)
        elif fields[0] == "Pss:" and found:
            found[-1] = replace(found[-1], pss=int(fields[1]) * 1024)
    return found


def vmm_split(pid: int, guest_ram_bytes: int) -> VmmSplit:
    """A VMM's PSS split into the guest's RAM, a TCG translation cache and the rest."""
    return split_vmm(mappings(pid), guest_ram_bytes, pid)


def split_vmm(maps: list[Mapping], guest_ram_bytes: int, pid: int = 0) -> VmmSplit:
    """guest RAM is the one anonymous read-write mapping of exactly the guest's size: QEMU maps
    each RAM block on its own, with a guard page after it, so nothing merges into it. A
    size match alone is not enough ("at least that large" also caught QEMU's 1 GiB code
    buffer), and two candidates are refused rather than guessed between."""
    ram = [m for m in maps if m.anonymous and m.size == guest_ram_bytes and m.perms.startswith("rw")
           and "x" not in m.perms]
    if len(ram) != 1:
        raise InstanceError(f"cannot tell the guest's RAM in process {pid}: {len(ram)} anonymous "
                            f"read-write mappings of exactly {guest_ram_bytes} bytes")
    cache = sum(m.pss for m in maps if is_code_cache(m))
    rest = sum(m.pss for m in maps) - ram[0].pss - cache
    return VmmSplit(guest_ram=ram[0].pss, code_cache=cache, vmm=rest, guest_ram_mapping=ram[0])


def is_code_cache(mapping: Mapping) -> bool:
    """TCG's translation cache: an anonymous executable mapping (a JIT buffer), or both views
    of QEMU's tcg-jit memfd when it maps the cache writable and executable apart."""
    return (mapping.anonymous and "x" in mapping.perms) or "tcg-jit" in mapping.path


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
