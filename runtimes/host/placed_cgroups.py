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

from runtimes.host.cgroups import Cgroup, Hierarchy, remove_found, subdirectories

MOUNTS = Path("/proc/self/mounts")


def mounted_roots(mounts: Path = MOUNTS) -> list[Path]:
    """The mount point of every cgroup hierarchy here: v1 controllers, named ones, cgroup2."""
    try:
        table = [line.split() for line in mounts.read_text().splitlines()]
    except OSError:
        return []
    return sorted({Path(fields[1]) for fields in table
                   if len(fields) >= 3 and fields[2] in ("cgroup", "cgroup2")})


def spread(relative: str, roots: list[Path]) -> Cgroup:
    """The cgroup at `relative` in every hierarchy where it exists."""
    path = relative.strip("/")
    return Cgroup(Path(path).name, tuple(root / path for root in roots if (root / path).is_dir()))


def sweep_placed(hierarchy: Hierarchy, parent: str, prefix: str, dry_run: bool,
                 roots: list[Path] | None = None) -> list[str]:
    """Cgroups named with prefix below `parent` in any hierarchy, removed unless dry_run;
    then the parent itself where it is left empty."""
    roots = mounted_roots() if roots is None else roots
    names = sorted({child.name for root in roots for child in subdirectories(root / parent)
                    if child.name.startswith(prefix)})
    lines = remove_found(hierarchy, [spread(f"{parent}/{name}", roots) for name in names], dry_run)
    if not dry_run:
        remove_empty(parent, roots)
    return lines


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
