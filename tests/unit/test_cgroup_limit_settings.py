"""The limit files an instance's cgroup gets, named once by the Hierarchy for the native
runtime (which writes them) and LXC (whose config names them), with the host's swap
accounting probed once; against small fake cgroup trees in tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest

from foundation.errors import InstanceError
from runtimes.base import ProbeCommand, RunContext
from runtimes.host.cgroups import Hierarchy, Limits, detect, read_limit
from runtimes.instance import Instance
from runtimes.lxc.driver import LxcDriver, LxcOptions

LIMITS = Limits(memory_bytes=64 << 20, pids=16)


def fake_v1(root: Path, swap: bool) -> Hierarchy:
    for controller in ("memory", "pids"):
        (root / controller).mkdir(parents=True)
        (root / controller / "cgroup.procs").write_text("")
    if swap:  # the kernel shows memsw files in every memory cgroup, the root too
        (root / "memory" / "memory.memsw.limit_in_bytes").write_text("9223372036854771712\n")
    return detect(root)


def fake_v2(root: Path, swap: bool | None) -> Hierarchy:
    """swap None: bench's parent does not exist yet, so nothing says whether swap is accounted."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "cgroup.controllers").write_text("memory pids\n")
    if swap is not None:
        (root / "bench").mkdir()
        if swap:
            (root / "bench" / "memory.swap.max").write_text("max\n")
    return detect(root)


@pytest.mark.parametrize(("version", "swap", "expected"), [
    (1, True, {"memory.limit_in_bytes": 64 << 20, "memory.memsw.limit_in_bytes": 64 << 20,
               "pids.max": 16}),
    (1, False, {"memory.limit_in_bytes": 64 << 20, "pids.max": 16}),
    (2, True, {"memory.max": 64 << 20, "memory.swap.max": 0, "pids.max": 16}),
    (2, False, {"memory.max": 64 << 20, "pids.max": 16}),
    (2, None, {"memory.max": 64 << 20, "memory.swap.max": 0, "pids.max": 16}),
])
def test_limit_settings_forbid_swap_only_where_the_host_accounts_it(
        tmp_path: Path, version: int, swap: bool | None, expected: dict[str, int]) -> None:
    tree = fake_v1(tmp_path, bool(swap)) if version == 1 else fake_v2(tmp_path, swap)
    settings = tree.limit_settings(LIMITS)
    assert settings == expected and list(settings) == list(expected)  # memory before swap


def test_swap_accounting_is_probed_once(tmp_path: Path) -> None:
    tree = fake_v1(tmp_path, swap=True)
    assert tree.swap_accounted()
    (tmp_path / "memory" / "memory.memsw.limit_in_bytes").unlink()
    assert tree.swap_accounted()  # cached: a kernel setting does not change during a run


def test_an_unanswerable_probe_is_asked_again_once_there_is_a_cgroup_to_look_in(
        tmp_path: Path) -> None:
    tree = fake_v2(tmp_path, swap=None)
    assert tree.swap_accounted()  # no bench parent yet: keep asking for no swap
    (tmp_path / "bench").mkdir()
    assert not tree.swap_accounted()
    (tmp_path / "bench" / "memory.swap.max").write_text("max\n")
    assert not tree.swap_accounted()  # answered now, and kept


@pytest.mark.parametrize(("version", "limit_lines"), [
    (1, ["lxc.cgroup.memory.limit_in_bytes = 67108864",
         "lxc.cgroup.memory.memsw.limit_in_bytes = 67108864", "lxc.cgroup.pids.max = 8"]),
    (2, ["lxc.cgroup2.memory.max = 67108864", "lxc.cgroup2.memory.swap.max = 0",
         "lxc.cgroup2.pids.max = 8"]),
])
def test_lxc_config_names_the_hierarchys_limit_files(tmp_path: Path, version: int,
                                                     limit_lines: list[str]) -> None:
    driver = LxcDriver("l", LxcOptions.model_validate({"pids_limit": 8, "memory_limit": "64MiB"}),
                       RunContext("r1", tmp_path, tmp_path))
    driver.cgroups = (fake_v1 if version == 1 else fake_v2)(tmp_path / "cgroup", True)
    first: Instance[object] = Instance("bench-r1-l-1", 0)
    second: Instance[object] = Instance("bench-r1-l-2", 0)
    text = driver.config(first, ProbeCommand("ready", ("idle=5",)))  # type: ignore[arg-type]
    assert text.splitlines() == [
        "lxc.uts.name = bench-r1-l-1",
        f"lxc.rootfs.path = dir:{driver.rootfs}",
        "lxc.rootfs.options = ro",
        "lxc.net.0.type = empty",
        "lxc.mount.auto = proc:mixed",
        "lxc.mount.entry = tmpfs tmp tmpfs nosuid,nodev,size=16m,mode=1777 0 0",
        "lxc.autodev = 1",
        "lxc.cgroup.dir.container = bench/lxc/bench-r1-l-1",
        "lxc.cgroup.dir.monitor = bench/lxc/bench-r1-l-1.monitor",
        *limit_lines,
        "lxc.cap.keep = none",
        "lxc.no_new_privs = 1",
        "lxc.console.path = none",
        "lxc.tty.max = 0",
        "lxc.environment = BENCH_INSTANCE=bench-r1-l-1",
        "lxc.init.cmd = /probe ready idle=5",
    ] and text.endswith("\n")
    again = driver.config(second, ProbeCommand("ready", ("idle=5",)))  # type: ignore[arg-type]
    assert again == text.replace("bench-r1-l-1", "bench-r1-l-2")


@pytest.mark.parametrize(("text", "value"), [("max\n", -1), ("4096\n", 4096)])
def test_read_limit_reads_a_number_or_max(tmp_path: Path, text: str, value: int) -> None:
    (tmp_path / "pids.max").write_text(text)
    assert read_limit(tmp_path / "pids.max") == value


def test_read_limit_names_the_file_it_cannot_read(tmp_path: Path) -> None:
    (tmp_path / "pids.max").write_text("lots\n")
    with pytest.raises(InstanceError, match="cannot read .*pids.max"):
        read_limit(tmp_path / "pids.max")
    with pytest.raises(InstanceError, match="cannot read .*memory.max"):
        read_limit(tmp_path / "memory.max")
