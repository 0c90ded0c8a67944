"""Cgroups other programs make for our instances: runc, runsc and LXC create an instance's
cgroup themselves, in every hierarchy the host mounts.

On a v1 or hybrid host that is a directory per controller (cpu, cpuset, devices, freezer,
..., the named systemd one, the empty cgroup2), not only the memory and pids ones bench
makes for the native runtime. Their own delete removes them; what a killed run left is
found below a parent of ours (bench/oci, bench/lxc) by the run's name prefix, and removed
with the same code that removes the native runtime's cgroups.
"""

from __future__ import annotations

from pathlib import Path

from foundation.errors import BenchError, RuntimeUnavailable
from runtimes.base import instance_prefix
from runtimes.host.cgroups import Cgroup, Hierarchy, remove_found, subdirectories

MOUNTS = Path("/proc/self/mounts")


class PlacedCgroups:
    """The cgroups a driver's runtime makes below one parent of ours (bench/oci, bench/lxc):
    each instance's read like our own, what the runtime left removed at teardown, the
    parent removed at close, and a killed run's swept by `bench clean`.

    The hierarchies mounted here are read once (the driver's prepare asks, off the timed
    path): mounts of cgroup hierarchies do not change during a run, and a teardown is timed.
    """

    def __init__(self, hierarchy: Hierarchy, parent: str, roots: list[Path] | None = None) -> None:
        self.hierarchy = hierarchy
        self.parent = parent
        self._roots = roots  # the mounted hierarchies; None: read /proc/self/mounts when needed

    def roots(self) -> list[Path]:
        """The mount point of every cgroup hierarchy here, read on first use."""
        if self._roots is None:
            self._roots = mounted_roots()
        return self._roots

    def cgroup(self, name: str) -> Cgroup:
        """The instance's cgroup in the hierarchies bench reads (memory, pids), to read its
        members, charge and OOM kills: known before the runtime makes it."""
        return Cgroup.at(f"{self.parent}/{name}", self.hierarchy.roots())

    def remove(self, name: str) -> None:
        """Whatever the runtime left of the cgroup `name`, in any hierarchy: its processes
        killed and its directories removed (InstanceError when they will not go)."""
        left = spread(f"{self.parent}/{name}", self.roots())
        if left.dirs:
            self.hierarchy.remove(left)

    def close(self) -> None:
        """The parent, and bench's own above it, where no other run is using them."""
        remove_empty(self.parent, self.roots())

    def sweep(self, run_id: str | None, dry_run: bool) -> list[str]:
        """The cgroups of one run (or every run) below the parent in any hierarchy, removed
        unless dry_run; then the parent where it is left empty."""
        try:
            roots = self.roots()
            names = sorted({child.name for root in roots
                            for child in subdirectories(root / self.parent)
                            if child.name.startswith(instance_prefix(run_id))})
            lines = remove_found(self.hierarchy, [spread(f"{self.parent}/{name}", roots)
                                                  for name in names], dry_run)
        except (OSError, BenchError) as error:
            raise RuntimeUnavailable(f"cannot clean the cgroups below {self.parent}: "
                                     f"{error}") from error
        if not dry_run:
            self.close()
        return lines


def mounted_roots(mounts: Path = MOUNTS) -> list[Path]:
    """The mount point of every cgroup hierarchy here: v1 controllers, named ones, cgroup2."""
    try:
        table = [line.split() for line in mounts.read_text().splitlines()]
    except OSError:
        return []
    return sorted({Path(fields[1]) for fields in table
                   if len(fields) >= 3 and fields[2] in ("cgroup", "cgroup2")})


def spread(relative: str, roots: list[Path]) -> Cgroup:
    """The cgroup at `relative` in every hierarchy where it exists now."""
    everywhere = Cgroup.at(relative, roots)
    return Cgroup(everywhere.name, tuple(d for d in everywhere.dirs if d.is_dir()))


def remove_empty(relative: str, roots: list[Path]) -> None:
    """rmdir `relative` and then each of its parents, in every hierarchy, while they are
    empty; best effort (another run may be using one)."""
    parts = Path(relative.strip("/")).parts
    for depth in range(len(parts), 0, -1):
        for root in roots:
            try:
                (root.joinpath(*parts[:depth])).rmdir()
            except OSError:
                continue
