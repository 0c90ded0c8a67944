"""The qemu driver against real QEMU: a TCG microvm boots the probe as /init, controlled
through QMP, with no libvirt in between.

Under TCG a boot takes about 10 s (more on a busy host), so the module boots two guests in
all (a `syscall` guest, and one idle guest the last tests share), plus two that never get to
boot (a cell timeout and `clean`). The module's teardown proves that no QEMU of its run is
left and that the run's state directory (sockets, pid files) went with the driver.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from collections.abc import Iterator

import pytest

from bench.verify.references import mapping_rss
from bench.workload.bundle import build_bundle
from foundation.errors import InstanceTimeout
from runtimes.base import MemoryReading, ProbeCommand, RunContext
from runtimes.guest.accel import host_virt
from runtimes.instance import Instance
from runtimes.protocol import DONE, exit_status, parse_syscalls
from runtimes.qemu.driver import QemuDriver, QemuOptions
from runtimes.qemu.host import qemu_processes
from tests.conftest import require
from tests.integration import guest_harness

pytestmark = [pytest.mark.integration]

MEMORY = 256 << 20
BOOT_TIMEOUT_S = 180.0


def deadline(seconds: float = BOOT_TIMEOUT_S) -> int:
    return time.monotonic_ns() + int(seconds * 1e9)


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QemuDriver]:
    require(os.geteuid() == 0, "root (the guest kernel in /boot is root's to read)")
    reason = QemuDriver.unavailable_reason(QemuOptions())
    require(reason is None, f"QEMU, qemu.qmp and a guest kernel ({reason})")
    cache = tmp_path_factory.mktemp("cache")
    context = RunContext("t" + secrets.token_hex(4), cache, tmp_path_factory.mktemp("work"))
    made = QemuDriver("qemu", QemuOptions(machine="microvm"), context)
    made.prepare(build_bundle(cache).probe)
    yield made
    made.close()
    prefix = f"bench-{context.run_id}-"
    left = QemuDriver.clean(QemuOptions(), context.run_id, dry_run=False)
    assert qemu_processes(prefix) == [], f"QEMUs left behind: {left}"
    assert not made.state.exists() or not any(made.state.glob("*.qmp")), "sockets left behind"


def test_a_guest_that_misses_the_deadline_is_stopped(driver: QemuDriver) -> None:
    with pytest.raises(InstanceTimeout, match="BENCH-READY"):
        driver.start(ProbeCommand("ready", ("idle=300",)), deadline(1.0))
    serial = driver.serial
    assert qemu_processes(f"bench-{driver.context.run_id}-") == []
    assert not (driver.state / f"{serial}.qmp").exists()
    assert not (driver.state / f"{serial}.pid").exists()
    assert (driver.state / f"{serial}.log").exists(), "a failed boot keeps QEMU's log for a look"
    (driver.state / f"{serial}.log").unlink()


def test_clean_finds_and_kills_the_runs_qemus(driver: QemuDriver) -> None:
    instance = Instance(driver.instance_name(), time.monotonic_ns())
    driver.launch(instance, ProbeCommand("ready", ("idle=300",)))
    try:
        run_id = driver.context.run_id
        pid = instance.held().process.pid
        found = QemuDriver.clean(QemuOptions(), run_id, dry_run=True)
        assert f"qemu process {pid} ({instance.name})" in found
        assert QemuDriver.clean(QemuOptions(), "someoneelse", dry_run=True) == []
        QemuDriver.clean(QemuOptions(), run_id, dry_run=False)
        assert qemu_processes(f"bench-{run_id}-") == []
        assert not driver.state.exists(), "clean removes the run's state directory"
    finally:
        driver.stop(instance)  # QEMU is gone already: stop must still succeed
        driver.state.mkdir(parents=True, exist_ok=True)  # for the tests after this one


def test_syscall_guest_reports_getppid_and_leaves_by_a_reset(driver: QemuDriver) -> None:
    """The probe ends a guest by a reset (a microvm without ACPI cannot power off), and
    QEMU's -no-reboot makes that QEMU's own exit: the console closes by itself."""
    instance = driver.start(ProbeCommand("syscall", ("batches=3", "calls=2000", "warmup=1")),
                            deadline())
    try:
        instance.output.wait_for(DONE, deadline(120), "qemu guest")
        lines = instance.output.text()
        getppid = [batch for batch in parse_syscalls(lines) if batch.name == "getppid"]
        assert len(getppid) == 3 and all(batch.ns_per_call > 0 for batch in getppid)
        assert exit_status(lines) == 0
        assert instance.output.wait_closed(deadline(60)), "the guest did not leave"
        assert instance.held().process.wait(timeout=30) == 0
    finally:
        driver.stop(instance)


@pytest.fixture(scope="module")
def idle_guest(driver: QemuDriver) -> Iterator[tuple[Instance, MemoryReading]]:
    with guest_harness.idle_guest(driver, BOOT_TIMEOUT_S) as guest:
        yield guest


def test_boot_phases_are_ordered_and_add_up(idle_guest: tuple[Instance, MemoryReading]) -> None:
    guest_harness.check_phases(idle_guest[0], [
        "process", "qmp", "running", "first_byte", "kernel_to_init", "ready"])


def test_the_guest_kernel_reports_its_own_clock_at_init(
        idle_guest: tuple[Instance, MemoryReading]) -> None:
    """guest.kernel_to_init: the guest kernel's CLOCK_BOOTTIME when /init began. It counts
    from the kernel's timekeeping start, so it is positive and shorter than the host's whole
    boot; under TCG its clock may run slow, never ahead of the host's by more than noise."""
    instance, _ = idle_guest
    guest_ms = instance.guest_phases["kernel_to_init"]
    assert 0 < guest_ms < instance.boot_total_ms() * 1.05


def test_memory_splits_guest_ram_from_the_vmm_as_qemus_monitor_places_it(
        driver: QemuDriver, idle_guest: tuple[Instance, MemoryReading]) -> None:
    """memory.guest_ram within 5 % of the resident size of the mapping QEMU's monitor names
    for guest physical address 1 MiB (HMP gpa2hva over QMP, then that mapping's Rss)."""
    instance, reading = idle_guest
    vmm = instance.held()
    answer = str(vmm.monitor.execute("human-monitor-command", 30.0,
                                     **{"command-line": "gpa2hva 0x100000"}))
    found = re.search(r"is (0x[0-9a-f]+)", answer)
    assert found, answer
    by_hand = mapping_rss(vmm.process.pid, int(found.group(1), 16))
    assert reading.guest_ram is not None and 16 << 20 < reading.guest_ram <= MEMORY
    assert abs(reading.guest_ram / by_hand - 1) <= 0.05, (reading.guest_ram, by_hand)
    assert set(reading.host_parts) == {"vmm", "tcg_code_cache"}
    assert reading.host_pss == sum(reading.host_parts.values())
    assert 64 << 20 < reading.guest["guest_mem_total"] <= MEMORY
    if driver.fingerprint()["accel"] == "tcg":
        assert reading.host_parts["tcg_code_cache"] > 1 << 20  # the guest's kernel, translated


def test_the_guest_runs_with_the_accel_the_host_really_offers(
        driver: QemuDriver, idle_guest: tuple[Instance, MemoryReading]) -> None:
    instance, _ = idle_guest
    fingerprint = driver.fingerprint()
    assert instance.held().accel == fingerprint["accel"]
    argv = (f"/proc/{instance.held().process.pid}/cmdline")
    with open(argv, "rb") as handle:
        assert f"-accel\0{fingerprint['accel']}\0".encode() in handle.read()
    if not host_virt().flags:
        assert fingerprint["accel"] == "tcg" and "neither vmx nor svm" in fingerprint["accel_reason"]
        assert fingerprint["kernel_clock_params"][0].startswith("tsc_early_khz=")
