"""Drivers accept only values the kernel and the engine hold as given, record what was applied,
never treat a cgroup they did not create as theirs, and name what they create per attempt."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from foundation.errors import InstanceError
from runtimes.base import RunContext
from runtimes.docker.driver import DockerOptions
from runtimes.host.cgroups import MAX_MEMORY_LIMIT, MAX_PIDS_LIMIT, Limits
from runtimes.host.memory import total_pss
from runtimes.native.driver import NativeOptions
from runtimes.podman.driver import PodmanOptions
from runtimes.process.driver import ProcessDriver
from tests.unit.cgroup_fixtures import FakeKernel, MakeTree, hierarchy, v1_tree, v2_tree

MiB = 1024**2
LIMITS = Limits(memory_bytes=64 * MiB, pids=16)


@pytest.mark.parametrize(("options", "message"), [
    ({"memory_limit": 10**30}, "less than or equal to"),
    ({"memory_limit": MAX_MEMORY_LIMIT + 4096}, "less than or equal to"),
    ({"memory_limit": 64 * MiB + 1}, "whole number of"),
    ({"memory_limit": 4 * MiB}, "greater than"),
    ({"pids_limit": MAX_PIDS_LIMIT + 1}, "less than or equal to"),
    ({"pids_limit": True}, "expected a number"),
])
def test_native_refuses_limits_the_kernel_would_apply_as_something_else(
        options: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        NativeOptions.model_validate(options)


ENGINE_BOUNDS = [
    ({"memory_limit": 0}, "greater than or equal to"),  # dockerd took 0 to mean no limit
    ({"memory_limit": "5MiB"}, "greater than or equal to"),
    ({"memory_limit": 10**30}, "less than or equal to"),
    ({"memory_limit": 64 * MiB + 512}, "whole number of"),
    ({"pids_limit": 0}, "greater than 0"),
    ({"pids_limit": 10**9}, "less than or equal to"),
]


@pytest.mark.parametrize(("options", "message"), ENGINE_BOUNDS)
def test_docker_refuses_limits_the_engine_would_apply_as_something_else(
        options: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        DockerOptions.model_validate(options)


@pytest.mark.parametrize(("options", "message"), ENGINE_BOUNDS)
def test_podman_refuses_what_docker_refuses_in_the_same_words(
        options: dict[str, object], message: str) -> None:
    errors = []
    for options_class in (DockerOptions, PodmanOptions):
        with pytest.raises(ValidationError, match=message) as refused:
            options_class.model_validate(options)
        errors.append([(e["loc"], e["msg"]) for e in refused.value.errors()])
    assert errors[0] == errors[1]


def test_engine_limits_are_held_as_given_and_default_to_none() -> None:
    for options_class in (DockerOptions, PodmanOptions):
        assert (options_class().memory_limit, options_class().pids_limit) == (None, None)
        held = options_class.model_validate({"memory_limit": "64MiB", "pids_limit": 16})
        assert (int(held.memory_limit or 0), held.pids_limit) == (64 * MiB, 16)


@settings(max_examples=50, deadline=None, derandomize=True)
@given(pages=st.integers(1025, MAX_MEMORY_LIMIT // 4096), pids=st.integers(2, MAX_PIDS_LIMIT))
def test_every_accepted_limit_is_held_as_given(pages: int, pids: int) -> None:
    options = NativeOptions.model_validate({"memory_limit": pages * 4096, "pids_limit": pids})
    assert (int(options.memory_limit), options.pids_limit) == (pages * 4096, pids)


@pytest.mark.parametrize("make_tree", [v1_tree, v2_tree])
def test_an_existing_cgroup_is_not_ours_to_use_or_remove(tmp_path: Path,
                                                         make_tree: MakeTree) -> None:
    root = make_tree(tmp_path)
    kernel = FakeKernel(root)
    tree = hierarchy(root, kernel)
    theirs = tree.create("bench-r1-native-1-1", LIMITS)
    (theirs.dirs[0] / "cgroup.procs").write_text("4242\n")
    with pytest.raises(InstanceError, match="exists already: not ours"):
        tree.create("bench-r1-native-1-1", LIMITS)
    assert all(d.is_dir() for d in theirs.dirs), "the other run's cgroup is still there"
    assert kernel.killed == [], "and its processes were not touched"


def test_v1_a_half_existing_cgroup_loses_only_the_half_we_made(tmp_path: Path) -> None:
    root = v1_tree(tmp_path)
    tree = hierarchy(root, FakeKernel(root))
    (root / "pids" / "bench" / "bench-r1-native-1-1").mkdir(parents=True)
    with pytest.raises(InstanceError, match="exists already"):
        tree.create("bench-r1-native-1-1", LIMITS)
    assert not (root / "memory" / "bench" / "bench-r1-native-1-1").exists()
    assert (root / "pids" / "bench" / "bench-r1-native-1-1").is_dir()


@pytest.mark.parametrize("make_tree", [v1_tree, v2_tree])
def test_applied_limits_are_read_back(tmp_path: Path, make_tree: MakeTree) -> None:
    root = make_tree(tmp_path)
    tree = hierarchy(root, FakeKernel(root))
    assert tree.check_limits("bench-r1-native-1-limits", LIMITS) == LIMITS
    assert tree.find("bench-r1-") == [], "the trial cgroup is removed"


def test_a_limit_the_kernel_changed_is_refused(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    root = v2_tree(tmp_path)
    tree = hierarchy(root, FakeKernel(root))
    monkeypatch.setattr(type(tree), "_read_limit",
                        lambda self, cgroup, controller: -1 if controller == "memory" else 16)
    with pytest.raises(InstanceError, match="the kernel applied a memory limit of -1"):
        tree.check_limits("bench-r1-native-1-limits", LIMITS)


@pytest.mark.parametrize("make_tree", [v1_tree, v2_tree])
def test_a_cgroup_that_is_gone_has_no_members_to_read(tmp_path: Path, make_tree: MakeTree) -> None:
    root = make_tree(tmp_path)
    tree = hierarchy(root, FakeKernel(root))
    cgroup = tree.create("bench-r1-native-1-1", LIMITS)
    tree.remove(cgroup)
    assert tree.members(cgroup) == []  # teardown's view: nothing left to kill
    with pytest.raises(InstanceError, match="is gone"):
        tree.members_now(cgroup)  # a measurement's view: not an instance of 0 bytes
    with pytest.raises(InstanceError):
        tree.memory_charge(cgroup)


def test_no_process_is_not_zero_bytes() -> None:
    with pytest.raises(InstanceError, match="no process left"):
        total_pss([])


def test_names_are_unique_per_attempt_and_keep_the_run_prefix(tmp_path: Path) -> None:
    first = ProcessDriver("process", ProcessDriver.Options(), RunContext("ab12cd", tmp_path,
                                                                         tmp_path))
    second = ProcessDriver("process", ProcessDriver.Options(),
                           RunContext("ab12cd", tmp_path, tmp_path, attempt=2))
    names = [first.instance_name(), first.instance_name(), second.instance_name()]
    assert names == ["bench-ab12cd-process-1-1", "bench-ab12cd-process-1-2",
                     "bench-ab12cd-process-2-1"]
    assert second.resource_name("exec") == "bench-ab12cd-process-2-exec"
    assert all(name.startswith("bench-ab12cd-") for name in names)


def test_variants_and_the_root_check_come_from_the_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    """A driver names the option its variants vary and why it needs root; the base makes the
    option sets and the refusal, the same way for every driver."""
    from runtimes.docker.driver import DockerDriver
    from runtimes.lxc.driver import LxcDriver, LxcOptions
    from runtimes.oci.driver import OciDriver
    from runtimes.podman.driver import PodmanDriver
    from runtimes.process.driver import ProcessDriver, ProcessOptions

    for cls in (DockerDriver, OciDriver, PodmanDriver):
        assert {name: options.runtime for name, options in cls.variants().items()} == \
            {"runc": "runc", "crun": "crun", "runsc": "runsc"}
    assert LxcDriver.variants() == {"start": LxcOptions(launcher="start"),
                                    "execute": LxcOptions(launcher="execute")}
    assert ProcessDriver.variants() == {}
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    assert LxcDriver.unavailable_reason(LxcOptions()) == \
        "the lxc driver runs privileged LXC containers: run bench as root"
    assert ProcessDriver.unavailable_reason(ProcessOptions()) == (
        "the process driver puts each instance in a cgroup of its own (under /sys/fs/cgroup): "
        "run bench as root")
