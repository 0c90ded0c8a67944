"""The libvirt driver against a real libvirtd: a TCG guest boots the probe as /init.

Boots are slow under TCG (about 10 s each), so the module boots two guests in all (one
`syscall` guest, one idle `ready` guest shared by the last tests), plus one that never
gets to boot (a cell timeout), one at a time in file order. The module's drivers come from
the one harness (tests.integration.driver_harness), whose teardown proves no domain of its
run id is left, in libvirt's own list too; what every driver must do (start, stop twice,
clean after a kill, memory parts, refused options) is in test_conformance.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.verify.checks import qemu_pid_file
from bench.verify.references import monitor_guest_ram
from foundation.errors import InstanceTimeout
from runtimes.base import MemoryReading, ProbeCommand
from runtimes.guest.accel import host_virt
from runtimes.instance import Instance
from runtimes.libvirt.driver import LibvirtDriver, LibvirtOptions
from runtimes.libvirt.host import bench_logs, domain_log
from runtimes.protocol import DONE, exit_status, parse_syscalls
from tests.integration import guest_harness
from tests.integration.driver_harness import open_harness, require_driver

pytestmark = [pytest.mark.integration, pytest.mark.libvirt]

MEMORY = 256 << 20
BOOT_TIMEOUT_S = 120.0


def deadline(seconds: float = BOOT_TIMEOUT_S) -> int:
    return time.monotonic_ns() + int(seconds * 1e9)


def listed_domains() -> str:
    result = subprocess.run(["virsh", "-c", "qemu:///system", "list", "--all", "--name"],
                            capture_output=True, text=True, timeout=30, check=True)
    return result.stdout


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LibvirtDriver]:
    require_driver(LibvirtDriver)
    cache = tmp_path_factory.mktemp("cache")
    with open_harness(LibvirtDriver, tmp_path_factory.mktemp("work"), cache,
                      BOOT_TIMEOUT_S) as harness:
        yield harness.driver({"memory": "256MiB"})
        run_id = harness.run_id
    # the harness's clean took the failed boot's log too
    assert bench_logs(f"bench-{run_id}-") == []


def domains(cleaned: list[str]) -> list[str]:
    return [line for line in cleaned if line.startswith("domain ")]


def test_a_guest_that_misses_the_deadline_is_destroyed(driver: LibvirtDriver) -> None:
    with pytest.raises(InstanceTimeout, match="BENCH-READY"):
        driver.start(ProbeCommand("ready", ("idle=300",)), deadline(1.0))
    assert f"bench-{driver.context.run_id}-" not in listed_domains()
    name = driver.resource_name(str(driver.serial))  # the name of the instance just made
    if Path("/var/log/libvirt/qemu").is_dir():
        assert domain_log(name).exists(), "a failed boot keeps its QEMU log for a look"


def test_syscall_guest_reports_getppid_and_powers_itself_off(driver: LibvirtDriver) -> None:
    command = ProbeCommand("syscall", ("batches=3", "calls=2000", "warmup=1"))
    instance = driver.start(command, deadline())
    try:
        instance.output.wait_for(DONE, deadline(60), "libvirt guest")
        lines = instance.output.text()
        getppid = [batch for batch in parse_syscalls(lines) if batch.name == "getppid"]
        assert len(getppid) == 3 and all(batch.ns_per_call > 0 for batch in getppid)
        assert exit_status(lines) == 0
        assert instance.output.wait_closed(deadline(30)), "the guest did not power off"
    finally:
        driver.stop(instance)
    assert instance.name not in listed_domains()
    assert not domain_log(instance.name).exists(), "a good boot leaves no log"


@pytest.fixture(scope="module")
def idle_guest(driver: LibvirtDriver) -> Iterator[tuple[Instance, MemoryReading]]:
    with guest_harness.idle_guest(driver, BOOT_TIMEOUT_S) as guest:
        yield guest


def test_boot_phases_are_ordered_and_add_up(idle_guest: tuple[Instance, MemoryReading]) -> None:
    guest_harness.check_phases(idle_guest[0], [
        "create", "console", "resume", "first_byte", "kernel_to_init", "ready"])


def test_memory_splits_guest_ram_from_the_vmm(idle_guest: tuple[Instance, MemoryReading]) -> None:
    _, reading = idle_guest
    assert reading.guest_ram is not None and 16 << 20 < reading.guest_ram <= MEMORY
    assert 0 < reading.host_pss < MEMORY
    assert 64 << 20 < reading.guest["guest_mem_total"] <= MEMORY
    assert 0 < reading.guest["guest_mem_available"] <= reading.guest["guest_mem_total"]
    if Path("/sys/fs/cgroup/memory/machine").is_dir():  # libvirt's v1 layout (this project's hosts)
        assert reading.cgroup is not None and reading.cgroup >= reading.guest_ram


def test_guest_ram_is_the_block_qemu_places_and_the_code_cache_is_the_vmms(
        driver: LibvirtDriver, idle_guest: tuple[Instance, MemoryReading]) -> None:
    """memory.guest_ram within 5 % of the resident size of the mapping QEMU's monitor names
    for guest physical address 1 MiB (read by hand: virsh qemu-monitor-command gpa2hva, then
    that mapping's Rss in /proc/PID/smaps); under TCG the translation cache is its own part
    of the VMM's cost, not guest RAM."""
    instance, reading = idle_guest
    pid = qemu_pid_file(instance.name)
    by_hand = monitor_guest_ram(instance.name, pid, "qemu:///system")
    assert reading.guest_ram is not None
    assert abs(reading.guest_ram / by_hand - 1) <= 0.05, (reading.guest_ram, by_hand)
    assert set(reading.host_parts) == {"vmm", "tcg_code_cache"}
    assert reading.host_pss == sum(reading.host_parts.values())
    if driver.fingerprint()["accel"] == "tcg":
        assert reading.host_parts["tcg_code_cache"] > 1 << 20  # the guest's kernel, translated
    else:
        assert reading.host_parts["tcg_code_cache"] == 0


def test_the_guest_runs_with_the_accel_the_host_really_offers(
        driver: LibvirtDriver, idle_guest: tuple[Instance, MemoryReading]) -> None:
    instance, _ = idle_guest
    fingerprint = driver.fingerprint()
    assert instance.handle.accel == fingerprint["accel"]
    assert instance.handle.domain.XMLDesc(0).startswith(f"<domain type='{fingerprint['domain_type']}'")
    if not host_virt().flags:
        assert fingerprint["accel"] == "tcg" and "neither vmx nor svm" in fingerprint["accel_reason"]
    assert instance.name in listed_domains()
    cleaned = LibvirtDriver.clean(LibvirtOptions(), driver.context.run_id, dry_run=True)
    assert domains(cleaned) == [f"domain {instance.name}"]
