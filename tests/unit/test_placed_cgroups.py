"""PlacedCgroups, the steps the oci and lxc drivers share for the cgroups their runtimes make,
against a fake v1 tree in tmp_path (empty directories: a real rmdir removes them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtimes.host import placed_cgroups
from runtimes.host.cgroups import Cgroup, detect
from runtimes.host.placed_cgroups import PlacedCgroups, mounted_roots, spread

PARENT = "bench/oci"


def placed(root: Path) -> PlacedCgroups:
    """A v1 host mounting memory, pids and cpu; bench reads memory and pids."""
    for controller in ("memory", "pids", "cpu"):
        (root / controller).mkdir(parents=True)
        (root / controller / "cgroup.procs").write_text("")
    mounts = [root / c for c in ("cpu", "memory", "pids")]
    return PlacedCgroups(detect(root), PARENT, mounts)


def make(root: Path, name: str, controllers: tuple[str, ...] = ("memory", "pids", "cpu")) -> None:
    for controller in controllers:
        (root / controller / PARENT / name).mkdir(parents=True)


def test_an_instance_cgroup_is_read_in_benchs_hierarchies_before_it_exists(tmp_path: Path) -> None:
    cgroups = placed(tmp_path)
    assert cgroups.cgroup("bench-r1-runc-1") == Cgroup("bench-r1-runc-1", (
        tmp_path / "memory/bench/oci/bench-r1-runc-1", tmp_path / "pids/bench/oci/bench-r1-runc-1"))


def test_remove_takes_what_is_left_in_any_hierarchy_and_close_the_empty_parents(
        tmp_path: Path) -> None:
    cgroups = placed(tmp_path)
    make(tmp_path, "bench-r1-runc-1", ("cpu", "memory"))
    make(tmp_path, "bench-r2-runc-1", ("pids",))  # another run's
    assert spread(f"{PARENT}/bench-r1-runc-1", cgroups.roots()).dirs == (
        tmp_path / "cpu/bench/oci/bench-r1-runc-1", tmp_path / "memory/bench/oci/bench-r1-runc-1")
    cgroups.remove("bench-r1-runc-1")
    cgroups.remove("bench-r1-runc-1")  # idempotent: nothing left is nothing to do
    assert spread(f"{PARENT}/bench-r1-runc-1", cgroups.roots()).dirs == ()
    cgroups.close()
    assert not (tmp_path / "cpu/bench").exists() and not (tmp_path / "memory/bench").exists()
    assert (tmp_path / "pids/bench/oci/bench-r2-runc-1").is_dir()  # in use: left


def test_sweep_finds_one_runs_cgroups_by_name(tmp_path: Path) -> None:
    cgroups = placed(tmp_path)
    make(tmp_path, "bench-r1-runc-1")
    make(tmp_path, "bench-r1-runc-1.monitor", ("memory",))
    make(tmp_path, "bench-r2-runc-1", ("cpu",))
    lines = cgroups.sweep("r1", dry_run=True)
    assert len(lines) == 2 and all("bench-r1-runc-1" in line for line in lines)
    assert (tmp_path / "memory/bench/oci/bench-r1-runc-1").is_dir()  # dry run
    assert len(cgroups.sweep("r1", dry_run=False)) == 2
    assert sorted(p.name for p in (tmp_path / "cpu/bench/oci").iterdir()) == ["bench-r2-runc-1"]
    assert not (tmp_path / "memory/bench").exists()


def test_the_mounts_are_read_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[int] = []

    def counted() -> list[Path]:
        reads.append(1)
        return [tmp_path]

    monkeypatch.setattr(placed_cgroups, "mounted_roots", counted)
    cgroups = PlacedCgroups(detect(tmp_path), PARENT)
    for _ in range(3):
        cgroups.remove("bench-r1-runc-1")
    cgroups.close()
    assert cgroups.roots() == [tmp_path] and len(reads) == 1


def test_mounted_roots_are_the_cgroup_mounts(tmp_path: Path) -> None:
    mounts = tmp_path / "mounts"
    mounts.write_text("proc /proc proc rw 0 0\n"
                      "cgroup /sys/fs/cgroup/memory cgroup rw,memory 0 0\n"
                      "cgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\n")
    assert mounted_roots(mounts) == [Path("/sys/fs/cgroup/memory"), Path("/sys/fs/cgroup/unified")]
    assert mounted_roots(tmp_path / "absent") == []
