"""The docker driver against a real dockerd: boot phases, memory, syscalls, exec mode, failures.

Every test that starts containers gets its drivers from `make_driver`, whose teardown
removes whatever carries the test's run id and fails the test if anything was left. The
tests at the end need no daemon (stream framing, error sentences, a dead endpoint).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from bench.run_command import new_run_id
from bench.workload.bundle import build_bundle
from foundation.errors import BenchError, InstanceError, RuntimeUnavailable
from runtimes.base import ProbeCommand, RunContext
from runtimes.docker.driver import DockerDriver, DockerOptions
from runtimes.docker.engine import connect
from runtimes.docker.image import image_tag
from runtimes.host.build import compile_static
from runtimes.host.procs import memory_cgroup_file
from runtimes.instance import Instance
from runtimes.protocol import DONE, IDLE, exit_status, parse_syscalls
from tests.conftest import require

MakeDriver = Callable[..., DockerDriver]
READY_IDLE = ProbeCommand("ready", ("idle=120",))
QUICK_SYSCALLS = ProbeCommand("syscall", ("batches=5", "calls=2000", "warmup=1"))


def deadline(seconds: float = 30.0) -> int:
    return time.monotonic_ns() + int(seconds * 1e9)


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_bundle(tmp_path_factory.mktemp("cache")).probe


@pytest.fixture
def dockerd() -> None:
    reason = DockerDriver.unavailable_reason(DockerOptions())
    require(reason is None, f"a running dockerd ({reason})")


@pytest.fixture
def run_id() -> str:
    return new_run_id()


@pytest.fixture
def make_driver(dockerd: None, probe: Path, run_id: str, tmp_path: Path) -> Iterator[MakeDriver]:
    """Prepared drivers for this test; afterwards nothing labelled with its run id may remain."""
    drivers: list[DockerDriver] = []

    def make(probe_path: Path = probe, **options: Any) -> DockerDriver:
        driver = DockerDriver("docker", DockerOptions(**options), RunContext(run_id, tmp_path,
                                                                             tmp_path))
        drivers.append(driver)
        driver.prepare(probe_path)
        return driver

    try:
        yield make
    finally:
        for driver in drivers:
            try:
                driver.close()
            except BenchError as error:  # still clean below; the test reports the leftovers
                print(f"close failed: {error}")
        left = DockerDriver.clean(DockerOptions(), run_id, dry_run=False)
        assert DockerDriver.clean(DockerOptions(), run_id, dry_run=True) == []
        assert left == [], f"containers left behind: {left}"


@pytest.fixture
def engine(dockerd: None) -> Iterator[Any]:
    api = connect(None)
    yield api
    api.close()


@contextmanager
def running(driver: DockerDriver, command: ProbeCommand = READY_IDLE) -> Iterator[Instance]:
    instance = driver.start(command, deadline())
    try:
        yield instance
    finally:
        driver.stop(instance)


@pytest.mark.integration
@pytest.mark.docker
def test_boot_phases_add_up_to_the_ready_marker(make_driver: MakeDriver) -> None:
    driver = make_driver()
    with running(driver) as instance:
        phases = instance.boot_phases()
        assert list(phases) == ["create", "attach", "start", "ready"]
        assert all(ms >= 0 for ms in phases.values())
        assert sum(phases.values()) == pytest.approx(instance.boot_total_ms())
        ready_stamp = instance.output.find("BENCH-READY")
        assert ready_stamp is not None
        assert instance.boot_total_ms() == (ready_stamp[0] - instance.requested_ns) / 1e6


@pytest.mark.integration
@pytest.mark.docker
@pytest.mark.parametrize("seccomp", ["default", "unconfined"])
def test_container_settings(make_driver: MakeDriver, engine: Any, run_id: str,
                            seccomp: str) -> None:
    driver = make_driver(seccomp=seccomp, memory_limit="64MiB", pids_limit=16)
    with running(driver) as instance:
        container = engine.inspect_container(instance.name)
        host = container["HostConfig"]
        assert host["NetworkMode"] == "none"
        assert host["Memory"] == 64 * 2**20 and host["PidsLimit"] == 16
        assert host["Runtime"] == "runc"
        assert (host["SecurityOpt"] or []) == (["seccomp=unconfined"] if seccomp == "unconfined"
                                               else [])
        labels = container["Config"]["Labels"]
        assert labels["bench.run"] == run_id and labels["bench.instance"] == instance.name
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


@pytest.mark.integration
@pytest.mark.docker
def test_memory_limit_leaves_no_swap(make_driver: MakeDriver, engine: Any) -> None:
    """Like every driver's, a docker memory limit is memory with no swap on top (dockerd's
    default lets a container swap as much again)."""
    driver = make_driver(memory_limit="64MiB")
    with running(driver) as instance:
        pid = int(engine.inspect_container(instance.name)["State"]["Pid"])
        limits = swap_limits(pid)
        require(limits is not None, "a kernel that accounts swap (memsw or memory.swap.max)")
        assert limits is not None
        assert limits[0] == limits[1]
        assert engine.inspect_container(instance.name)["HostConfig"]["MemorySwap"] == 64 * 2**20
    assert driver.applied["memory_limit_applied"] == 64 * 2**20
    assert driver.applied["memory_swap_applied"] == 64 * 2**20
    assert driver.fingerprint()["memory_swap_applied"] == 64 * 2**20


@pytest.mark.integration
@pytest.mark.docker
def test_memory_reading_counts_workload_and_shim(make_driver: MakeDriver) -> None:
    driver = make_driver()
    with running(driver) as instance:
        instance.output.wait_for(IDLE, deadline(), "docker instance")
        reading = driver.memory(instance)
    assert reading.host_parts["workload"] > 0
    assert reading.host_parts["shim"] > 0
    assert reading.host_pss == reading.host_parts["workload"] + reading.host_parts["shim"]
    assert reading.cgroup is not None and 0 < reading.cgroup < 256 * 2**20
    assert reading.guest_ram is None


@pytest.mark.integration
@pytest.mark.docker
@pytest.mark.parametrize("seccomp", ["default", "unconfined"])
def test_syscall_mode_output_parses(make_driver: MakeDriver, seccomp: str) -> None:
    driver = make_driver(seccomp=seccomp)
    with running(driver, QUICK_SYSCALLS) as instance:
        instance.output.wait_for(DONE, deadline(60), "docker instance")
        lines = instance.output.text()
    getppid = [b for b in parse_syscalls(lines) if b.name == "getppid"]
    assert [b.batch for b in getppid] == [0, 1, 2, 3, 4]
    assert all(b.ns_per_call > 0 for b in getppid)
    assert exit_status(lines) == 0


@pytest.mark.integration
@pytest.mark.docker
def test_exec_mode_runs_each_instance_in_one_container(make_driver: MakeDriver,
                                                       engine: Any, run_id: str) -> None:
    driver = make_driver(mode="exec")
    with running(driver) as first, running(driver) as second:
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
    with running(driver, QUICK_SYSCALLS) as instance:
        instance.output.wait_for(DONE, deadline(60), "docker exec")
        assert any(b.name == "getppid" for b in parse_syscalls(instance.output.text()))
    driver.close()
    assert engine.containers(all=True, filters={"label": f"bench.run={run_id}"}) == []


@pytest.mark.integration
@pytest.mark.docker
def test_stop_is_idempotent_and_survives_a_cleaned_container(make_driver: MakeDriver,
                                                            run_id: str) -> None:
    driver = make_driver()
    instance = driver.start(READY_IDLE, deadline())
    assert DockerDriver.clean(DockerOptions(), run_id, dry_run=True) == [f"container {instance.name}"]
    assert DockerDriver.clean(DockerOptions(), run_id, dry_run=False) == [f"container {instance.name}"]
    driver.stop(instance)
    driver.stop(instance)
    assert DockerDriver.clean(DockerOptions(), run_id, dry_run=True) == []


@pytest.fixture
def throwaway_images(engine: Any) -> Iterator[list[str]]:
    """Tags of images a test builds from a fake probe; removed afterwards (the probe's is kept)."""
    tags: list[str] = []
    yield tags
    for tag in tags:
        engine.remove_image(tag, force=True)


EARLY_EXIT_C = '#include <stdio.h>\nint main(void) { puts("boom: no config"); return 3; }\n'


@pytest.mark.integration
@pytest.mark.docker
def test_early_exit_reports_output_and_status(make_driver: MakeDriver, tmp_path: Path,
                                              throwaway_images: list[str]) -> None:
    source = tmp_path / "early_exit.c"
    source.write_text(EARLY_EXIT_C)
    fake = compile_static(source, tmp_path / "cache")
    throwaway_images.append(image_tag(fake))
    driver = make_driver(fake)
    with pytest.raises(InstanceError, match=r"exited with status 3: .*boom: no config"):
        driver.start(READY_IDLE, deadline())


@pytest.mark.integration
@pytest.mark.docker
def test_unrunnable_probe_fails_in_one_line(make_driver: MakeDriver, tmp_path: Path,
                                   throwaway_images: list[str]) -> None:
    fake = tmp_path / "probe"
    fake.write_text("#!/bin/sh\necho there is no shell in a scratch image\n")
    throwaway_images.append(image_tag(fake))
    driver = make_driver(fake)
    # runc reports the failed exec either from `start` or as the container's output
    with pytest.raises(InstanceError, match="no such file or directory") as caught:
        driver.start(READY_IDLE, deadline())
    assert "\n" not in str(caught.value)


@pytest.mark.integration
@pytest.mark.docker
def test_image_is_reused_while_the_probe_is_unchanged(make_driver: MakeDriver, engine: Any,
                                                      probe: Path) -> None:
    first = make_driver().fingerprint()["image"]
    created = engine.inspect_image(first["Id"])["Created"]
    second = make_driver().fingerprint()["image"]
    assert second["Id"] == first["Id"]
    assert engine.inspect_image(second["Id"])["Created"] == created
    assert first["RepoTags"] == [image_tag(probe)] and first["Entrypoint"] == ["/probe"]
    assert first["Size"] > 0


@pytest.mark.integration
@pytest.mark.docker
def test_fingerprint_names_engine_runtime_and_seccomp(make_driver: MakeDriver) -> None:
    fingerprint = make_driver(seccomp="unconfined").fingerprint()
    for key in ("engine_version", "api_version", "storage_driver", "cgroup_driver",
                "cgroup_version", "default_runtime", "runtime_version"):
        assert fingerprint[key], key
    assert fingerprint["seccomp"] == "unconfined"
    assert fingerprint["runtime"] == "runc"


@pytest.mark.integration
@pytest.mark.docker
def test_unknown_oci_runtime_is_refused_at_prepare(make_driver: MakeDriver) -> None:
    with pytest.raises(RuntimeUnavailable, match="no OCI runtime 'nonesuch'"):
        make_driver(runtime="nonesuch")


# --- no daemon needed ----------------------------------------------------------------
