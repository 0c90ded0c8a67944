"""runtimes.host.cgroups against fake cgroup trees in tmp_path: v2 (unified) and v1 (mount per controller).

A fake tree is plain directories and files; `kill` and `rmdir` are injected so no real
process is signalled and "busy" cgroups can be simulated (tests/unit/cgroup_fixtures.py).
"""

from __future__ import annotations

import errno
import signal
from pathlib import Path

import pytest
from pydantic import ValidationError

from foundation.errors import InstanceError
from runtimes.host import cgroups
from runtimes.host.cgroups import CgroupV1, CgroupV2, Limits, detect, sweep
from runtimes.native.driver import NativeOptions
from tests.unit.cgroup_fixtures import FakeKernel, MakeTree, hierarchy, v1_tree, v2_tree

LIMITS = Limits(memory_bytes=64 * 1024**2, pids=16)


# --- detection -----------------------------------------------------------------------

def test_a_root_with_cgroup_controllers_is_v2(tmp_path: Path) -> None:
    found = detect(v2_tree(tmp_path))
    assert isinstance(found, CgroupV2)
    assert found.missing() == []


def test_a_hybrid_host_is_v1(tmp_path: Path) -> None:
    found = detect(v1_tree(tmp_path))
    assert isinstance(found, CgroupV1)
    assert found.controllers() == ["memory", "pids"]
    assert found.missing() == []


def test_missing_controllers_are_named(tmp_path: Path) -> None:
    assert detect(v2_tree(tmp_path / "a", "cpu memory")).missing() == ["pids"]
    assert detect(v1_tree(tmp_path / "b", ("cpu", "pids"))).missing() == ["memory"]
    assert detect(tmp_path / "nothing").missing() == ["memory", "pids"]
    assert detect(v1_tree(tmp_path / "c", ("cpu", "pids"))).missing_reason() == (
        "no cgroup memory controller under /sys/fs/cgroup: mount it (v1) or enable it in "
        "cgroup.subtree_control (v2)")
    assert detect(v2_tree(tmp_path / "d", "cpu memory pids")).missing_reason() is None


# --- cgroup v2 -------------------------------------------------------------------------

def test_v2_create_enables_controllers_and_sets_limits(tmp_path: Path) -> None:
    root = v2_tree(tmp_path)
    tree = hierarchy(root, FakeKernel(root))
    cgroup = tree.create("bench-r1-native-1", LIMITS)
    directory = root / "bench" / "bench-r1-native-1"
    assert cgroup.dirs == (directory,)
    assert (root / "cgroup.subtree_control").read_text() == "+memory +pids"
    assert (root / "bench" / "cgroup.subtree_control").read_text() == "+memory +pids"
    assert (directory / "memory.max").read_text() == str(64 * 1024**2)
    assert (directory / "pids.max").read_text() == "16"
    assert not (directory / "memory.swap.max").exists()  # the host offers no swap control
    assert tree.join_paths(cgroup) == [directory]  # cloned into (CLONE_INTO_CGROUP)
    assert cgroup.procs_files == [directory / "cgroup.procs"]


def test_v2_leaves_enabled_controllers_alone(tmp_path: Path) -> None:
    root = v2_tree(tmp_path)
    (root / "cgroup.subtree_control").write_text("cpu memory pids\n")
    hierarchy(root, FakeKernel(root)).create("bench-r1-native-1", LIMITS)
    assert (root / "cgroup.subtree_control").read_text() == "cpu memory pids\n"


def test_v2_forbids_swap_where_the_host_has_it(tmp_path: Path) -> None:
    root = v2_tree(tmp_path)
    (root / "bench").mkdir()
    (root / "bench" / "memory.swap.max").write_text("max\n")
    hierarchy(root, FakeKernel(root)).create("bench-r1-native-1", LIMITS)
    assert (root / "bench" / "bench-r1-native-1" / "memory.swap.max").read_text() == "0"


def test_v2_reads_charge_and_oom_kills(tmp_path: Path) -> None:
    root = v2_tree(tmp_path)
    tree = hierarchy(root, FakeKernel(root))
    cgroup = tree.create("bench-r1-native-1", LIMITS)
    (cgroup.dirs[0] / "memory.current").write_text("1234567\n")
    (cgroup.dirs[0] / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    assert tree.memory_charge(cgroup) == 1234567
    assert tree.oom_kills(cgroup) == 1


def test_v2_kill_writes_cgroup_kill_when_the_kernel_has_it(tmp_path: Path) -> None:
    root = v2_tree(tmp_path)
    kernel = FakeKernel(root)
    tree = hierarchy(root, kernel)
    cgroup = tree.create("bench-r1-native-1", LIMITS)
    (cgroup.dirs[0] / "cgroup.procs").write_text("41\n42\n")
    (cgroup.dirs[0] / "cgroup.kill").write_text("")
    tree.kill(cgroup)
    assert (cgroup.dirs[0] / "cgroup.kill").read_text() == "1"
    assert kernel.killed == []


def test_v2_kill_signals_each_process_on_older_kernels(tmp_path: Path) -> None:
    root = v2_tree(tmp_path)
    kernel = FakeKernel(root)
    tree = hierarchy(root, kernel)
    cgroup = tree.create("bench-r1-native-1", LIMITS)
    (cgroup.dirs[0] / "cgroup.procs").write_text("41\n42\n")
    tree.kill(cgroup)
    assert kernel.killed == [(41, signal.SIGKILL), (42, signal.SIGKILL)]
    assert tree.members(cgroup) == []


# --- cgroup v1 -------------------------------------------------------------------------

def test_v1_create_sets_limits_in_each_hierarchy(tmp_path: Path) -> None:
    root = v1_tree(tmp_path)
    tree = hierarchy(root, FakeKernel(root))
    cgroup = tree.create("bench-r1-native-1", LIMITS)
    memory, pids = root / "memory/bench/bench-r1-native-1", root / "pids/bench/bench-r1-native-1"
    assert cgroup.dirs == (memory, pids)
    assert (memory / "memory.limit_in_bytes").read_text() == str(64 * 1024**2)
    assert not (memory / "memory.memsw.limit_in_bytes").exists()  # no swap accounting here
    assert (pids / "pids.max").read_text() == "16"
    assert tree.join_paths(cgroup) == [memory / "tasks", pids / "tasks"]
    assert not (root / "cpu" / "bench").exists()


def test_v1_limits_swap_too_when_swap_is_accounted(tmp_path: Path) -> None:
    root = v1_tree(tmp_path)
    (root / "memory" / "bench").mkdir()
    (root / "memory" / "bench" / "memory.memsw.limit_in_bytes").write_text("9223372036854771712")
    hierarchy(root, FakeKernel(root)).create("bench-r1-native-1", LIMITS)
    memsw = root / "memory/bench/bench-r1-native-1/memory.memsw.limit_in_bytes"
    assert memsw.read_text() == str(64 * 1024**2)


def test_v1_reads_charge_and_oom_kills(tmp_path: Path) -> None:
    root = v1_tree(tmp_path)
    tree = hierarchy(root, FakeKernel(root))
    cgroup = tree.create("bench-r1-native-1", LIMITS)
    (cgroup.dirs[0] / "memory.usage_in_bytes").write_text("4096\n")
    oom_control = "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"
    (cgroup.dirs[0] / "memory.oom_control").write_text(oom_control)
    assert tree.memory_charge(cgroup) == 4096
    assert tree.oom_kills(cgroup) == 2


def test_v1_members_are_counted_once_and_killed(tmp_path: Path) -> None:
    root = v1_tree(tmp_path)
    kernel = FakeKernel(root)
    tree = hierarchy(root, kernel)
    cgroup = tree.create("bench-r1-native-1", LIMITS)
    for directory in cgroup.dirs:
        (directory / "cgroup.procs").write_text("7\n8\n")
    assert tree.members(cgroup) == [7, 8]
    tree.kill(cgroup)
    assert kernel.killed == [(7, signal.SIGKILL), (8, signal.SIGKILL)]


def test_members_of_a_cgroup_being_removed_are_none(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A v1 cgroup that its owner (lxc's monitor) is removing answers ENODEV to a read of
    cgroup.procs: that is "gone", as ENOENT is; any other error is still raised."""
    root = v1_tree(tmp_path)
    tree = hierarchy(root, FakeKernel(root))
    cgroup = tree.create("bench-r1-lxc0-1-1", LIMITS)
    failure = [errno.ENODEV]

    def read_text(self: Path, *args: object, **kwargs: object) -> str:
        raise OSError(failure[0], "gone")

    monkeypatch.setattr(Path, "read_text", read_text)
    assert tree.members(cgroup) == []
    failure[0] = errno.EIO
    with pytest.raises(OSError):
        tree.members(cgroup)


def test_a_parent_removed_while_it_is_listed_holds_nothing(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Concurrent `bench clean`s of two runs: one removes the emptied `bench` parent while the
    other lists it. The listing finds nothing, it does not fail the clean."""
    root = v1_tree(tmp_path)
    tree = hierarchy(root, FakeKernel(root))
    tree.create("bench-r1-native-1", LIMITS)

    def vanished(self: Path) -> object:
        raise FileNotFoundError(2, "gone", str(self))

    monkeypatch.setattr(Path, "iterdir", vanished)
    assert tree.find("bench-r1-") == []
    tree.remove_parents()
    assert cgroups.subdirectories(tmp_path / "nowhere") == []


def test_v1_create_failure_removes_what_was_made(tmp_path: Path) -> None:
    root = v1_tree(tmp_path, ("memory",))  # pids hierarchy absent: the second mkdir fails
    tree = hierarchy(root, FakeKernel(root))
    with pytest.raises(InstanceError, match="cannot create cgroup bench-r1-native-1"):
        tree.create("bench-r1-native-1", LIMITS)
    assert not (root / "memory" / "bench" / "bench-r1-native-1").exists()


# --- removal and sweeping (either version) ----------------------------------------------

@pytest.mark.parametrize("make_tree", [v1_tree, v2_tree])
def test_remove_retries_while_busy(tmp_path: Path, make_tree: MakeTree) -> None:
    root = make_tree(tmp_path)
    kernel = FakeKernel(root)
    tree = hierarchy(root, kernel)
    cgroup = tree.create("bench-r1-native-1", LIMITS)
    (cgroup.dirs[0] / "cgroup.procs").write_text("99\n")
    kernel.busy_rmdirs = 2
    tree.remove(cgroup)
    assert all(not d.exists() for d in cgroup.dirs)
    assert (99, signal.SIGKILL) in kernel.killed
    tree.remove(cgroup)  # idempotent


def test_remove_gives_up_with_an_actionable_message(tmp_path: Path) -> None:
    root = v2_tree(tmp_path)
    kernel = FakeKernel(root)
    tree = hierarchy(root, kernel)
    cgroup = tree.create("bench-r1-native-1", LIMITS)
    kernel.busy_rmdirs = 10**6
    with pytest.raises(InstanceError, match="still has processes .*bench clean"):
        tree.remove(cgroup, timeout_s=0.05)


@pytest.mark.parametrize("make_tree", [v1_tree, v2_tree])
def test_sweep_finds_one_run_or_all(tmp_path: Path, make_tree: MakeTree) -> None:
    root = make_tree(tmp_path)
    tree = hierarchy(root, FakeKernel(root))
    for name in ("bench-r1-native-1", "bench-r1-native-2", "bench-r2-native-1"):
        tree.create(name, LIMITS)
    (tree.cgroup("bench-r1-native-2").dirs[0] / "cgroup.procs").write_text("5\n")

    found = sweep(tree, "bench-r1-", dry_run=True)
    assert len(found) == 2 and "bench-r1-native-1" in found[0]
    assert "(1 processes)" in found[1]
    assert [c.name for c in tree.find("bench-")] == ["bench-r1-native-1", "bench-r1-native-2",
                                                     "bench-r2-native-1"]

    assert len(sweep(tree, "bench-r1-", dry_run=False)) == 2
    assert [c.name for c in tree.find("bench-")] == ["bench-r2-native-1"]
    assert all(parent.is_dir() for parent in tree.parents())  # still used by run r2

    assert len(sweep(tree, "bench-", dry_run=False)) == 1
    assert not any(parent.exists() for parent in tree.parents())
    assert sweep(tree, "bench-", dry_run=False) == []


def test_create_after_the_parent_was_swept(tmp_path: Path) -> None:
    root = v2_tree(tmp_path)
    tree = hierarchy(root, FakeKernel(root))
    tree.create("bench-r1-native-1", LIMITS)
    other = hierarchy(root, FakeKernel(root))  # another run sweeps everything
    sweep(other, "bench-", dry_run=False)
    cgroup = tree.create("bench-r1-native-2", LIMITS)
    assert cgroup.dirs[0].is_dir()
    assert (root / "bench" / "cgroup.subtree_control").read_text() == "+memory +pids"


# --- the native driver's options --------------------------------------------------------

def test_native_options_defaults_and_units() -> None:
    defaults = NativeOptions.model_validate({})
    assert int(defaults.memory_limit) == 256 * 1024**2 and defaults.pids_limit == 64
    assert int(NativeOptions.model_validate({"memory_limit": "64MiB"}).memory_limit) == 64 * 1024**2
    with pytest.raises(ValidationError):
        NativeOptions.model_validate({"memroy_limit": "64MiB"})
    with pytest.raises(ValidationError):
        NativeOptions.model_validate({"hostname": "bad name"})



def test_v2_busy_parent_gets_an_actionable_message(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_write = cgroups.write

    def busy_subtree_control(path: Path, value: int | str) -> None:
        if path.name == "cgroup.subtree_control":
            raise OSError(errno.EBUSY, "Device or resource busy", str(path))
        real_write(path, value)

    monkeypatch.setattr(cgroups, "write", busy_subtree_control)
    root = v2_tree(tmp_path)
    with pytest.raises(InstanceError, match="holds processes of its own"):
        hierarchy(root, FakeKernel(root)).create("bench-r1-native-1", LIMITS)


# --- a cgroup that only contains (the process baseline), and a kill nothing escapes ------

@pytest.mark.parametrize("make", [v1_tree, v2_tree])
def test_a_cgroup_without_limits_writes_no_limit_file(tmp_path: Path, make: MakeTree) -> None:
    root = make(tmp_path)
    tree = hierarchy(root, FakeKernel(root))
    cgroup = tree.create("bench-r1-process-1", None)
    written = sorted(p.name for d in cgroup.dirs for p in d.iterdir())
    assert not [name for name in written if name.endswith((".max", "limit_in_bytes"))], written
    names = [f"{p.parent.parent.name}/{p.name}" for p in tree.join_files(cgroup)]
    assert names == (["bench/tasks", "bench/tasks"] if tree.version == 1 else ["bench/cgroup.procs"])


@pytest.mark.parametrize("make", [v1_tree, v2_tree])
def test_forks_are_stopped_before_the_kill(tmp_path: Path, make: MakeTree) -> None:
    """pids.max = 0 first, so a process forking between the listing and the signals cannot
    leave a child behind (v1 has no cgroup.kill; a v2 kernel before 5.14 neither)."""
    root = make(tmp_path)
    kernel = FakeKernel(root)
    tree = hierarchy(root, kernel)
    cgroup = tree.create("bench-r1-process-1", LIMITS)
    seen: list[str] = []
    pids_max = next(d / "pids.max" for d in cgroup.dirs if (d / "pids.max").exists())
    for directory in cgroup.dirs:
        (directory / "cgroup.procs").write_text("7\n")
    tree._kill = lambda pid, sig: (seen.append(pids_max.read_text()),  # type: ignore[method-assign]
                                   kernel.kill(pid, sig))
    tree.kill(cgroup)
    assert seen == ["0"], "forks were stopped before the first signal"
