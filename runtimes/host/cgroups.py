"""Per-instance cgroups on cgroup v1 and v2, behind one small interface.

The native runtime puts every instance in a cgroup named after it, under a `bench`
parent, with a memory and a pids limit. Most hosts are pure cgroup v2 (one tree, the
controllers enabled through `cgroup.subtree_control`); some (this project's CI) are
v1 or hybrid (one mount per controller). The root path is a parameter, so the logic
is tested against a fake tree in a temporary folder (whose tests stand in for the kernel's
kill and rmdir).
"""

from __future__ import annotations

import errno
import os
import signal
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from foundation.errors import ExitCause, InstanceError
from runtimes.base import log as runtimes_log

log = runtimes_log.getChild("cgroups")

ROOT = Path("/sys/fs/cgroup")
PARENT = "bench"
CONTROLLERS = ("memory", "pids")
# the largest memory limit bench sets; v1 shows "no limit" as a larger number (PAGE_COUNTER_MAX
# pages, the largest page-aligned long), v2 as "max"
MAX_MEMORY_LIMIT = 1 << 62
# pids.max takes at most PID_MAX_LIMIT (4M tasks); a larger number is refused by the kernel
MAX_PIDS_LIMIT = 4 * 1024 * 1024



@dataclass(frozen=True)
class Limits:
    """What an instance may use: bytes of memory (no swap) and a number of tasks."""

    memory_bytes: int
    pids: int


@dataclass(frozen=True)
class Cgroup:
    """One instance's cgroup: a directory per hierarchy (v2: one; v1: memory and pids)."""

    name: str
    dirs: tuple[Path, ...]

    @classmethod
    def at(cls, relative: str, roots: list[Path]) -> Cgroup:
        """The cgroup at `relative` (a path below a hierarchy's root) in each of these
        hierarchies, named by its last part."""
        path = relative.strip("/")
        return cls(Path(path).name, tuple(root / path for root in roots))

    @property
    def procs_files(self) -> list[Path]:
        """The files a process writes its pid to, to join the cgroup in every hierarchy."""
        return [d / "cgroup.procs" for d in self.dirs]


class Hierarchy(ABC):
    """The cgroup layout of a host: where instance cgroups live and how limits are set."""

    version: int
    swap_file: str  # the swap limit file, there only where the host accounts swap

    def __init__(self, root: Path = ROOT) -> None:
        self.root = root
        self._parents_ready = False
        self._swap_accounted: bool | None = None

    @abstractmethod
    def controllers(self) -> list[str]:
        """The controllers this host offers that bench can use."""

    @abstractmethod
    def roots(self) -> list[Path]:
        """The root of every hierarchy bench uses (v2: one; v1: memory and pids)."""

    def parents(self) -> list[Path]:
        """The `bench` parent directory in every hierarchy."""
        return [root / PARENT for root in self.roots()]

    @abstractmethod
    def join_paths(self, cgroup: Cgroup) -> list[Path]:
        """What the launcher is given to put the instance in the cgroup (see runtimes/host/launcher.c)."""

    @abstractmethod
    def _prepare_parents(self) -> None:
        """Create the parents and make the controllers available below them."""

    @abstractmethod
    def limit_settings(self, limits: Limits) -> dict[str, int]:
        """The limit files of an instance's cgroup and their values, in the order they are
        written: memory, no swap on top where the host accounts swap, pids. The native
        runtime writes them; LXC's config names them."""

    @abstractmethod
    def _limit_dir(self, cgroup: Cgroup, file_name: str) -> Path:
        """The cgroup's directory that holds this limit file."""

    @abstractmethod
    def _swap_probe_dirs(self) -> list[Path]:
        """Memory cgroups whose swap limit file says whether the host accounts swap."""

    def swap_accounted(self) -> bool:
        """Whether the host accounts swap (so a limit can forbid it), probed once: a kernel
        setting, fixed while bench runs. True, unprobed, while no cgroup to look in exists."""
        if self._swap_accounted is None:
            where = [d for d in self._swap_probe_dirs() if d.is_dir()]
            if not where:
                return True
            self._swap_accounted = any((d / self.swap_file).exists() for d in where)
        return self._swap_accounted

    def _write_limits(self, cgroup: Cgroup, limits: Limits) -> None:
        for file_name, value in self.limit_settings(limits).items():
            write(self._limit_dir(cgroup, file_name) / file_name, value)

    @abstractmethod
    def memory_charge(self, cgroup: Cgroup) -> int:
        """Bytes of memory charged to the cgroup now."""

    @abstractmethod
    def memory_peak(self, cgroup: Cgroup) -> int | None:
        """The cgroup's peak memory charge, in bytes, where the kernel keeps one."""

    @abstractmethod
    def oom_kills(self, cgroup: Cgroup) -> int:
        """How many processes the OOM killer took in this cgroup."""

    def oom_cause(self, cgroup: Cgroup, memory_bytes: int) -> ExitCause | None:
        """An OOM kill in the cgroup, named with the limit it enforced; None when there was
        none, or when the cgroup is gone (an OCI runtime or liblxc removed it)."""
        try:
            killed = self.oom_kills(cgroup)
        except InstanceError:
            return None
        return ExitCause(oom=True, limit=f"the cgroup's {memory_bytes >> 20} MiB limit") if killed else None

    def missing(self) -> list[str]:
        """The needed controllers this host lacks (empty when the runtime can run)."""
        have = self.controllers()
        return [c for c in CONTROLLERS if c not in have]

    def missing_reason(self) -> str | None:
        """Why a driver that limits its instances by cgroup cannot run here; None when it can."""
        lacking = self.missing()
        if not lacking:
            return None
        return (f"no cgroup {' or '.join(lacking)} controller under /sys/fs/cgroup: mount it "
                f"(v1) or enable it in cgroup.subtree_control (v2)")

    def cgroup(self, name: str) -> Cgroup:
        return Cgroup.at(f"{PARENT}/{name}", self.roots())

    def create(self, name: str, limits: Limits | None) -> Cgroup:
        """Make the instance's cgroup and set its limits (none: the host's defaults, for an
        instance the cgroup only contains); raises InstanceError on failure.

        A cgroup of that name that already exists is someone else's (a leftover of a killed
        run, another run's instance): the error says so, and it is left as it is. On any
        failure only what this call created is removed.
        """
        cgroup = self.cgroup(name)
        created: list[Path] = []
        try:
            self._make_dirs(cgroup, created)
            if limits is not None:
                self._write_limits(cgroup, limits)
        except OSError as error:
            self.remove(Cgroup(name, tuple(created)), timeout_s=0.5)
            exists = " (it exists already: not ours to use or remove)" \
                if isinstance(error, FileExistsError) else ""
            raise InstanceError(f"cannot create cgroup {name} under {self.root}: "
                                f"{error.strerror or error}{exists}") from error
        return cgroup

    def _make_dirs(self, cgroup: Cgroup, created: list[Path]) -> None:
        """mkdir in every hierarchy, noting each directory made; the parents are set up once
        (again if removed meanwhile). An existing directory is FileExistsError."""
        if not self._parents_ready:
            self._prepare_parents()
            self._parents_ready = True
        for directory in cgroup.dirs:
            try:
                directory.mkdir()
            except FileNotFoundError:  # another run removed an empty parent
                self._prepare_parents()
                directory.mkdir()
            created.append(directory)

    def applied(self, cgroup: Cgroup) -> Limits:
        """The limits the kernel holds for the cgroup, read back from its files: what was
        applied, which is what a run records (the kernel rounds and caps what it is given)."""
        return Limits(self._read_limit(cgroup, "memory"), self._read_limit(cgroup, "pids"))

    @abstractmethod
    def _read_limit(self, cgroup: Cgroup, controller: str) -> int:
        """The memory limit (bytes) or the pids limit; -1 for none ("max")."""

    def check_limits(self, name: str, limits: Limits) -> Limits:
        """Make a cgroup with these limits, read back what the kernel applied, remove it: the
        applied limits, or an InstanceError when the kernel holds something else."""
        cgroup = self.create(name, limits)
        try:
            applied = self.applied(cgroup)
        finally:
            self.remove(cgroup)
        if applied != limits:
            raise InstanceError(f"the kernel applied a memory limit of {applied.memory_bytes} "
                                f"and a pids limit of {applied.pids} where {limits.memory_bytes} "
                                f"and {limits.pids} were asked")
        return applied

    def members(self, cgroup: Cgroup) -> list[int]:
        """Pids in the cgroup (all hierarchies, each pid once); empty once it is gone (see
        members_now for a reading that must not take "gone" for "empty")."""
        found: dict[int, None] = {}
        for procs in cgroup.procs_files:
            try:
                found.update(dict.fromkeys(int(x) for x in procs.read_text().split()))
            except OSError as error:  # ENODEV: a v1 cgroup being removed (lxc's monitor
                if error.errno in (errno.ENOENT, errno.ENODEV):  # takes its own away)
                    continue
                raise
        return list(found)

    def members_now(self, cgroup: Cgroup) -> list[int]:
        """Pids in the cgroup for a measurement: a cgroup that is gone is an InstanceError,
        never an empty list (whose memory would add up to 0)."""
        if not all(directory.is_dir() for directory in cgroup.dirs):
            raise InstanceError(f"cgroup {cgroup.name} is gone: its processes cannot be read")
        return self.members(cgroup)

    @abstractmethod
    def join_files(self, cgroup: Cgroup) -> list[Path]:
        """The files a single-threaded process writes 0 to, to enter the cgroup itself (the
        probe's join=, bench/workload/probe.c)."""

    def kill(self, cgroup: Cgroup) -> None:
        """SIGKILL every process in the cgroup, forks stopped first (pids.max = 0), so that
        nothing forked between the listing and the signals escapes (the processes may take
        a moment to leave; remove() lists and kills again until the cgroup is empty)."""
        self.stop_forks(cgroup)
        for pid in self.members(cgroup):
            try:
                self._kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue

    def stop_forks(self, cgroup: Cgroup) -> None:
        """pids.max = 0 wherever the cgroup has a pids directory: every fork and clone in it
        fails from now on, which is what freezing it before the kill is for (v1 has no
        cgroup.kill, and the v1 freezer is a hierarchy bench's instances do not join)."""
        for directory in cgroup.dirs:
            limit = directory / "pids.max"
            if limit.exists():
                try:
                    write(limit, 0)
                except OSError as error:  # gone meanwhile, or being removed: kill anyway
                    log.debug("cannot stop forks in %s: %s", directory, error)

    def remove(self, cgroup: Cgroup, timeout_s: float = 2.0) -> None:
        """Kill what is left and rmdir the cgroup everywhere; idempotent.

        rmdir fails (EBUSY) while processes remain, so kill and retry until the deadline.
        """
        deadline = time.monotonic_ns() + int(timeout_s * 1e9)
        for directory in cgroup.dirs:
            while not self._try_rmdir(directory):
                if time.monotonic_ns() >= deadline:
                    raise InstanceError(f"cgroup {directory} still has processes "
                                        f"{self.members(cgroup)} after {timeout_s:g}s: "
                                        f"kill them, then rmdir it (or run `bench clean`)")
                self.kill(cgroup)
                time.sleep(0.005)

    @staticmethod
    def _kill(pid: int, signum: int) -> None:
        os.kill(pid, signum)

    @staticmethod
    def _rmdir(directory: Path) -> None:
        os.rmdir(directory)

    def _try_rmdir(self, directory: Path) -> bool:
        try:
            self._rmdir(directory)
        except FileNotFoundError:
            return True
        except OSError as error:
            if error.errno in (errno.EBUSY, errno.ENOTEMPTY, errno.EAGAIN):
                return False
            raise InstanceError(f"cannot remove cgroup {directory}: {error.strerror}") from error
        return True

    def find(self, prefix: str) -> list[Cgroup]:
        """The instance cgroups whose name starts with prefix (in any hierarchy)."""
        names = {child.name for parent in self.parents() for child in subdirectories(parent)
                 if child.name.startswith(prefix)}
        return [self.cgroup(name) for name in sorted(names)]

    def remove_parents(self) -> None:
        """Remove the `bench` parents if no instance cgroup is left in them (best effort)."""
        self._parents_ready = False
        for parent in self.parents():
            if parent.is_dir() and not subdirectories(parent):
                try:
                    self._rmdir(parent)
                except OSError:
                    continue  # another run is using it

    def describe(self, cgroup: Cgroup) -> str:
        return ", ".join(str(d.relative_to(self.root)) for d in cgroup.dirs)


class CgroupV2(Hierarchy):
    """The unified hierarchy: one tree; controllers are enabled for children by the parent."""

    version = 2
    swap_file = "memory.swap.max"

    def controllers(self) -> list[str]:
        try:
            return (self.root / "cgroup.controllers").read_text().split()
        except OSError:
            return []

    def roots(self) -> list[Path]:
        return [self.root]

    def join_paths(self, cgroup: Cgroup) -> list[Path]:
        """The directory: the launcher clones the instance into it (CLONE_INTO_CGROUP)."""
        return list(cgroup.dirs)

    def join_files(self, cgroup: Cgroup) -> list[Path]:
        return [d / "cgroup.procs" for d in cgroup.dirs]

    def _prepare_parents(self) -> None:
        parent = self.root / PARENT
        enable_controllers(self.root)
        parent.mkdir(exist_ok=True)
        enable_controllers(parent)

    def limit_settings(self, limits: Limits) -> dict[str, int]:
        swap = {self.swap_file: 0} if self.swap_accounted() else {}
        return {"memory.max": limits.memory_bytes, **swap, "pids.max": limits.pids}

    def _limit_dir(self, cgroup: Cgroup, file_name: str) -> Path:
        return cgroup.dirs[0]

    def _swap_probe_dirs(self) -> list[Path]:
        """bench's parent: the root cgroup has no memory.swap.* files."""
        return [self.parents()[0]]

    def _read_limit(self, cgroup: Cgroup, controller: str) -> int:
        name = "memory.max" if controller == "memory" else "pids.max"
        return read_limit(cgroup.dirs[0] / name)

    def memory_charge(self, cgroup: Cgroup) -> int:
        return read_int(cgroup.dirs[0] / "memory.current")

    def memory_peak(self, cgroup: Cgroup) -> int | None:
        """The cgroup's peak charge since it was made (memory.peak, Linux 5.19+)."""
        peak = cgroup.dirs[0] / "memory.peak"
        return read_int(peak) if peak.exists() else None

    def oom_kills(self, cgroup: Cgroup) -> int:
        return keyed_value(cgroup.dirs[0] / "memory.events", "oom_kill")

    def kill(self, cgroup: Cgroup) -> None:
        """cgroup.kill (Linux 5.14+) kills everything at once, forks included."""
        kill_file = cgroup.dirs[0] / "cgroup.kill"
        if kill_file.exists():
            try:
                write(kill_file, 1)
                return
            except FileNotFoundError:
                return  # the cgroup went away meanwhile
        super().kill(cgroup)


class CgroupV1(Hierarchy):
    """One mount per controller (v1 or hybrid): the instance has a directory in each."""

    version = 1
    swap_file = "memory.memsw.limit_in_bytes"

    def controllers(self) -> list[str]:
        return [c for c in CONTROLLERS if (self.root / c / "cgroup.procs").exists()]

    def roots(self) -> list[Path]:
        return [self.root / c for c in CONTROLLERS]

    def join_paths(self, cgroup: Cgroup) -> list[Path]:
        """The `tasks` files: moving one thread there skips the costly threadgroup lock."""
        return [d / "tasks" for d in cgroup.dirs]

    def join_files(self, cgroup: Cgroup) -> list[Path]:
        return self.join_paths(cgroup)

    def _prepare_parents(self) -> None:
        for parent in self.parents():
            parent.mkdir(exist_ok=True)

    def limit_settings(self, limits: Limits) -> dict[str, int]:
        """memsw is memory plus swap: set to the memory limit, it leaves no swap."""
        swap = {self.swap_file: limits.memory_bytes} if self.swap_accounted() else {}
        return {"memory.limit_in_bytes": limits.memory_bytes, **swap, "pids.max": limits.pids}

    def _limit_dir(self, cgroup: Cgroup, file_name: str) -> Path:
        """The directory in the file's controller's hierarchy (memory.*, pids.*)."""
        return cgroup.dirs[CONTROLLERS.index(file_name.partition(".")[0])]

    def _swap_probe_dirs(self) -> list[Path]:
        """bench's parent in the memory hierarchy, and that hierarchy's root (v1 has the
        swap files in every memory cgroup, the root too)."""
        return [self.parents()[0], self.roots()[0]]

    def _read_limit(self, cgroup: Cgroup, controller: str) -> int:
        memory, pids = cgroup.dirs
        if controller == "memory":
            value = read_int(memory / "memory.limit_in_bytes")
            return -1 if value > MAX_MEMORY_LIMIT else value
        return read_limit(pids / "pids.max")

    def memory_charge(self, cgroup: Cgroup) -> int:
        return read_int(cgroup.dirs[0] / "memory.usage_in_bytes")

    def memory_peak(self, cgroup: Cgroup) -> int | None:
        return read_int(cgroup.dirs[0] / "memory.max_usage_in_bytes")

    def oom_kills(self, cgroup: Cgroup) -> int:
        return keyed_value(cgroup.dirs[0] / "memory.oom_control", "oom_kill")


def detect(root: Path = ROOT) -> Hierarchy:
    """v2 when the root itself is a cgroup2 mount, else per-controller v1 mounts.

    A hybrid host (an empty cgroup2 at root/unified) is v1 for bench's purposes.
    """
    if (root / "cgroup.controllers").exists():
        return CgroupV2(root)
    return CgroupV1(root)


def enable_controllers(directory: Path) -> None:
    """Make memory and pids available to the children of a v2 cgroup."""
    control = directory / "cgroup.subtree_control"
    enabled = control.read_text().split() if control.exists() else []
    wanted = [c for c in CONTROLLERS if c not in enabled and f"+{c}" not in enabled]
    if not wanted:
        return
    try:
        write(control, " ".join(f"+{c}" for c in wanted))
    except OSError as error:
        if error.errno != errno.EBUSY:
            raise
        raise InstanceError(f"cannot enable {', '.join(wanted)} in {control}: that cgroup holds "
                            f"processes of its own (a v2 rule); run bench from a cgroup whose "
                            f"parent has none, e.g. move it to a leaf first") from error


def sweep(hierarchy: Hierarchy, prefix: str, dry_run: bool) -> list[str]:
    """Find instance cgroups by name prefix; unless dry_run, kill their processes and rmdir."""
    lines = remove_found(hierarchy, hierarchy.find(prefix), dry_run)
    if not dry_run:
        hierarchy.remove_parents()
    return lines


def subdirectories(parent: Path) -> list[Path]:
    """The directories in `parent`; none when it is gone, even while it is being listed (a
    concurrent `bench clean` of another run may remove an emptied `bench` parent)."""
    try:
        return [child for child in parent.iterdir() if child.is_dir()]
    except FileNotFoundError:
        return []


def remove_found(hierarchy: Hierarchy, cgroups: list[Cgroup], dry_run: bool) -> list[str]:
    """One line per cgroup (and how many processes it holds); unless dry_run, kill its
    processes and rmdir it everywhere."""
    lines = []
    for cgroup in cgroups:
        pids = hierarchy.members(cgroup)
        lines.append(f"cgroup v{hierarchy.version} {hierarchy.describe(cgroup)}"
                     + (f" ({len(pids)} processes)" if pids else ""))
        if not dry_run:
            hierarchy.kill(cgroup)
            hierarchy.remove(cgroup)
    return lines


def write(path: Path, value: int | str) -> None:
    """One write(2) of the whole value, as cgroupfs expects (and fast: this is the start path)."""
    log.debug("cgroup write %s = %s", path, value)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, str(value).encode())
    finally:
        os.close(fd)


def read_int(path: Path) -> int:
    try:
        text = path.read_text()
    except OSError as error:
        raise InstanceError(f"cannot read {path}: {error}") from error
    return parse_int(path, text)


def parse_int(path: Path, text: str) -> int:
    """The first number in a cgroup file's text (read once by the caller)."""
    try:
        return int(text.split()[0])
    except (ValueError, IndexError) as error:
        raise InstanceError(f"cannot read {path}: {error}") from error


def whole_pages(value: int) -> int:
    """A memory limit the kernel keeps as given: a whole number of pages (it rounds down)."""
    page = os.sysconf("SC_PAGE_SIZE")
    if value % page:
        raise ValueError(f"must be a whole number of {page >> 10} KiB pages (the kernel would "
                         f"round {value} down)")
    return value


def read_limit(path: Path) -> int:
    """A v2-style limit file: a number, or "max" (no limit, returned as -1)."""
    try:
        text = path.read_text().strip()
    except OSError as error:
        raise InstanceError(f"cannot read {path}: {error.strerror}") from error
    return -1 if text == "max" else parse_int(path, text)


def keyed_value(path: Path, key: str) -> int:
    """A value from a `key value` per line file (memory.events, memory.oom_control); 0 if absent."""
    try:
        text = path.read_text()
    except OSError as error:
        raise InstanceError(f"cannot read {path}: {error.strerror}") from error
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == key:
            return int(parts[1])
    return 0
