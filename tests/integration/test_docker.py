"""The docker driver against a real dockerd: boot phases, container settings, memory,
syscalls, exec mode, failures, the image cache and the fingerprint.

Every test gets its drivers from the one harness (tests.integration.driver_harness), whose
teardown proves nothing of the test's run id is left. What every driver must do (start,
stop twice, clean after a kill, memory parts, refused options) is in test_conformance.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from foundation.errors import InstanceError, RuntimeUnavailable
from runtimes.docker.driver import DockerDriver, DockerOptions
from runtimes.docker.engine import connect
from runtimes.docker.image import image_tag
from runtimes.host.build import compile_static
from runtimes.host.procs import memory_cgroup_file
from runtimes.instance import Instance
from runtimes.protocol import DONE, IDLE, exit_status, parse_syscalls
from tests.conftest import require
from tests.integration.driver_harness import Harness, deadline, open_harness, require_driver

pytestmark = [pytest.mark.integration, pytest.mark.docker]
QUICK_SYSCALLS = ("syscall", "batches=5", "calls=2000", "warmup=1")


@pytest.fixture
def harness(tmp_path: Path, cache: Path) -> Iterator[Harness[DockerDriver]]:
    require_driver(DockerDriver)
    with open_harness(DockerDriver, tmp_path, cache) as made:
        yield made


@pytest.fixture
def engine(harness: Harness[DockerDriver]) -> Iterator[Any]:
    api = connect(None)
    yield api
    api.close()


@contextmanager
def running(harness: Harness[DockerDriver], driver: DockerDriver,
            *command: str) -> Iterator[Instance]:
    """An instance for the block, stopped at its end (the harness would only at the test's)."""
    instance = harness.start(driver, *command)
    try:
        yield instance
    finally:
        driver.stop(instance)


@pytest.mark.parametrize("seccomp", ["default", "unconfined"])
def test_container_settings(harness: Harness[DockerDriver], engine: Any, seccomp: str) -> None:
    driver = harness.driver({"seccomp": seccomp, "memory_limit": "64MiB", "pids_limit": 16})
    with running(harness, driver) as instance:
        assert list(instance.boot_phases()) == ["create", "attach", "start", "ready"]
        assert DockerDriver.clean(DockerOptions(), harness.run_id, dry_run=True) == [
            f"container {instance.name}"]
        container = engine.inspect_container(instance.name)
        host = container["HostConfig"]
        assert host["NetworkMode"] == "none"
        assert host["Memory"] == 64 * 2**20 and host["PidsLimit"] == 16
        assert host["Runtime"] == "runc"
        assert (host["SecurityOpt"] or []) == (["seccomp=unconfined"] if seccomp == "unconfined"
                                               else [])
        labels = container["Config"]["Labels"]
        assert labels["bench.run"] == harness.run_id and labels["bench.instance"] == instance.name
        assert container["Config"]["Image"].startswith("bench-probe:")
    from docker.errors import NotFound

    with pytest.raises(NotFound):
        engine.inspect_container(instance.name)


def swap_limits(pid: int) -> tuple[str, str] | None:
    """The memory cgroup's (memory limit, memory plus swap limit) on v1, ("0", swap.max) on
    v2: equal when the container may not swap; None where the kernel accounts no swap."""
    charge = memory_cgroup_file(pid)
    assert charge is not None, f"process {pid} shows no memory cgroup"
    cgroup = charge.parent
    if charge.name == "memory.current":
        swap = cgroup / "memory.swap.max"
        return ("0", swap.read_text().strip()) if swap.exists() else None
    memsw = cgroup / "memory.memsw.limit_in_bytes"
    if not memsw.exists():
        return None
    return (cgroup / "memory.limit_in_bytes").read_text().strip(), memsw.read_text().strip()


def test_memory_limit_leaves_no_swap(harness: Harness[DockerDriver], engine: Any) -> None:
    """Like every driver's, a docker memory limit is memory with no swap on top (dockerd's
    default lets a container swap as much again)."""
    driver = harness.driver({"memory_limit": "64MiB"})
    with running(harness, driver) as instance:
        pid = int(engine.inspect_container(instance.name)["State"]["Pid"])
        limits = swap_limits(pid)
        require(limits is not None, "a kernel that accounts swap (memsw or memory.swap.max)")
        assert limits is not None
        assert limits[0] == limits[1]
        assert engine.inspect_container(instance.name)["HostConfig"]["MemorySwap"] == 64 * 2**20
    assert driver.applied["memory_limit_applied"] == 64 * 2**20
    assert driver.applied["memory_swap_applied"] == 64 * 2**20
    assert driver.fingerprint()["memory_swap_applied"] == 64 * 2**20


def test_memory_reading_counts_workload_and_shim(harness: Harness[DockerDriver]) -> None:
    driver = harness.driver()
    with running(harness, driver) as instance:
        instance.output.wait_for(IDLE, deadline(), "docker instance")
        reading = driver.memory(instance)
    assert reading.host_parts["workload"] > 0
    assert reading.host_parts["shim"] > 0
    assert reading.host_pss == reading.host_parts["workload"] + reading.host_parts["shim"]
    assert reading.cgroup is not None and 0 < reading.cgroup < 256 * 2**20
    assert reading.guest_ram is None


@pytest.mark.parametrize("seccomp", ["default", "unconfined"])
def test_syscall_mode_output_parses(harness: Harness[DockerDriver], seccomp: str) -> None:
    driver = harness.driver({"seccomp": seccomp})
    with running(harness, driver, *QUICK_SYSCALLS) as instance:
        instance.output.wait_for(DONE, deadline(60), "docker instance")
        lines = instance.output.text()
    getppid = [b for b in parse_syscalls(lines) if b.name == "getppid"]
    assert [b.batch for b in getppid] == [0, 1, 2, 3, 4]
    assert all(b.ns_per_call > 0 for b in getppid)
    assert exit_status(lines) == 0


def test_exec_mode_runs_each_instance_in_one_container(harness: Harness[DockerDriver],
                                                       engine: Any) -> None:
    run_id = harness.run_id
    driver = harness.driver({"mode": "exec"})
    with running(harness, driver) as first, running(harness, driver) as second:
        for instance in (first, second):
            assert list(instance.boot_phases()) == ["exec_create", "exec_start", "ready"]
            instance.output.wait_for(IDLE, deadline(), "docker exec")
        assert first.handle.container_id == second.handle.container_id
        reading = driver.memory(second)
        assert reading.host_parts["workload"] > 0 and reading.host_parts["shim"] > 0
        assert reading.cgroup is not None and reading.cgroup > 0
        listed = engine.containers(filters={"label": f"bench.run={run_id}"})
        assert len(listed) == 1
    assert first.handle.exit_code == 0 and second.handle.exit_code == 0
    with running(harness, driver, *QUICK_SYSCALLS) as instance:
        instance.output.wait_for(DONE, deadline(60), "docker exec")
        assert any(b.name == "getppid" for b in parse_syscalls(instance.output.text()))
    driver.close()
    assert engine.containers(all=True, filters={"label": f"bench.run={run_id}"}) == []


@pytest.fixture
def throwaway_images(engine: Any) -> Iterator[list[str]]:
    """Tags of images a test builds from a fake probe; removed afterwards (the probe's is kept)."""
    tags: list[str] = []
    yield tags
    for tag in tags:
        engine.remove_image(tag, force=True)


EARLY_EXIT_C = '#include <stdio.h>\nint main(void) { puts("boom: no config"); return 3; }\n'


def test_early_exit_reports_output_and_status(harness: Harness[DockerDriver], tmp_path: Path,
                                              throwaway_images: list[str]) -> None:
    source = tmp_path / "early_exit.c"
    source.write_text(EARLY_EXIT_C)
    fake = compile_static(source, tmp_path / "cache")
    throwaway_images.append(image_tag(fake))
    driver = harness.driver(probe=fake)
    with pytest.raises(InstanceError, match=r"exited with status 3: .*boom: no config"):
        harness.start(driver)


def test_unrunnable_probe_fails_in_one_line(harness: Harness[DockerDriver], tmp_path: Path,
                                   throwaway_images: list[str]) -> None:
    fake = tmp_path / "probe"
    fake.write_text("#!/bin/sh\necho there is no shell in a scratch image\n")
    throwaway_images.append(image_tag(fake))
    driver = harness.driver(probe=fake)
    # runc reports the failed exec either from `start` or as the container's output
    with pytest.raises(InstanceError, match="no such file or directory") as caught:
        harness.start(driver)
    assert "\n" not in str(caught.value)


def test_image_is_reused_while_the_probe_is_unchanged(harness: Harness[DockerDriver],
                                                      engine: Any) -> None:
    first = harness.driver().fingerprint()["image"]
    created = engine.inspect_image(first["Id"])["Created"]
    second = harness.driver().fingerprint()["image"]
    assert second["Id"] == first["Id"]
    assert engine.inspect_image(second["Id"])["Created"] == created
    assert first["RepoTags"] == [image_tag(harness.probe)] and first["Entrypoint"] == ["/probe"]
    assert first["Size"] > 0


def test_fingerprint_names_engine_runtime_and_seccomp(harness: Harness[DockerDriver]) -> None:
    fingerprint = harness.driver({"seccomp": "unconfined"}).fingerprint()
    for key in ("engine_version", "api_version", "storage_driver", "cgroup_driver",
                "cgroup_version", "default_runtime", "runtime_version"):
        assert fingerprint[key], key
    assert fingerprint["seccomp"] == "unconfined"
    assert fingerprint["runtime"] == "runc"


def test_unknown_oci_runtime_is_refused_at_prepare(harness: Harness[DockerDriver]) -> None:
    with pytest.raises(RuntimeUnavailable, match="no OCI runtime 'nonesuch'"):
        harness.driver({"runtime": "nonesuch"})
