"""The qemu driver's command line and options, without starting QEMU."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from runtimes.base import RunContext
from runtimes.guest.disk import Disk
from runtimes.qemu.driver import QemuDriver
from runtimes.qemu.host import sweep_state
from runtimes.qemu.machine import MachineSpec, qemu_argv
from runtimes.qemu.options import QemuOptions


def spec(machine: str = "microvm", **changes: object) -> MachineSpec:
    fields: dict[str, object] = dict(
        name="bench-r1-vm-1-3", binary="/usr/bin/qemu-system-x86_64", machine=machine,
        accel="tcg", cpu_model="qemu64", memory_bytes=256 << 20, vcpus=1,
        kernel=Path("/boot/vmlinuz"), initrd=Path("/cache/initrd.cpio"),
        cmdline="console=ttyS0 panic=-1 -- ready", qmp_socket=Path("/run/s/3.qmp"),
        pidfile=Path("/run/s/3.pid"), acpi=False, pit=False, rtc=False)
    fields.update(changes)
    return MachineSpec(**fields)  # type: ignore[arg-type]


def value_after(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def test_a_microvm_has_no_pci_no_legacy_devices_and_no_acpi_by_default() -> None:
    argv = qemu_argv(spec())
    machine = value_after(argv, "-machine")
    assert machine.startswith("microvm,")
    for setting in ("x-option-roms=off", "pic=off", "rtc=off", "pit=off", "acpi=off",
                    "auto-kernel-cmdline=off", "isa-serial=on"):
        assert setting in machine.split(","), setting
    assert "-nodefaults" in argv and "-no-reboot" in argv and "-S" in argv
    assert value_after(argv, "-qmp") == "unix:/run/s/3.qmp"
    assert value_after(argv, "-append") == "console=ttyS0 panic=-1 -- ready"
    assert "-net" not in argv and "-netdev" not in argv and "-nic" not in argv


def test_q35_gets_libvirts_machine_settings() -> None:
    argv = qemu_argv(spec("q35"))
    assert value_after(argv, "-machine") == "q35,usb=off,dump-guest-core=off,graphics=off"
    assert value_after(argv, "-rtc") == "base=utc"
    assert value_after(argv, "-sandbox").startswith("on,")


def test_disks_go_on_the_machines_own_virtio_transport() -> None:
    disks = (Disk(Path("/c/tree.ext4"), "vda", readonly=True), Disk(Path("/w/s.ext4"), "vdb",
                                                                   cache="none"))
    micro = qemu_argv(spec(disks=disks, acpi=True))
    assert "virtio-blk-device,drive=disk0" in micro and "acpi=on" in value_after(micro, "-machine")
    assert "file=/c/tree.ext4,if=none,id=disk0,format=raw,readonly=on" in micro
    assert "file=/w/s.ext4,if=none,id=disk1,format=raw,cache=none" in micro
    assert "virtio-blk-pci,drive=disk1" in qemu_argv(spec("q35", disks=disks))


def test_kvm_runs_the_hosts_cpu() -> None:
    argv = qemu_argv(spec(accel="kvm"))
    assert value_after(argv, "-accel") == "kvm" and value_after(argv, "-cpu") == "host"


@pytest.mark.parametrize("options", [{"machine": "pc"}, {"memory": "100MiB1"}, {"cmdline_extra": ["a b"]},
                                     {"binary": "qemu; rm -rf /"}, {"cpu_model": "-x"}])
def test_bad_options_are_refused_at_the_edge(options: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        QemuOptions.model_validate(options)


def test_legacy_timers_stay_under_tcg_and_go_under_kvm(tmp_path: Path) -> None:
    from runtimes.guest.accel import AccelChoice

    driver = QemuDriver("vm", QemuOptions(state_dir=tmp_path), RunContext("r1", tmp_path, tmp_path))
    driver._choice = AccelChoice("tcg", "test")
    assert driver._legacy("auto") and not driver._legacy("off")
    driver._choice = AccelChoice("kvm", "test")
    assert not driver._legacy("auto") and driver._legacy("on")


def test_acpi_follows_the_disks_unless_set(tmp_path: Path) -> None:
    context = RunContext("r1", tmp_path, tmp_path)
    auto = QemuDriver("vm", QemuOptions(state_dir=tmp_path), context)
    assert (auto._acpi(False), auto._acpi(True)) == (False, True)
    forced = QemuDriver("vm", QemuOptions(acpi="on", state_dir=tmp_path), context)
    assert forced._acpi(False) is True


def test_each_run_has_its_own_state_dir_and_clean_sweeps_only_that_run(tmp_path: Path) -> None:
    mine = QemuDriver("vm", QemuOptions(state_dir=tmp_path), RunContext("r1", tmp_path, tmp_path))
    other = QemuDriver("vm", QemuOptions(state_dir=tmp_path), RunContext("r2", tmp_path, tmp_path))
    for driver in (mine, other):
        driver.state.mkdir()
        (driver.state / "1.qmp").touch()
    assert mine.state.name == "bench-r1-vm-1-state"
    assert sweep_state(tmp_path, "bench-r1-", dry_run=True) == [f"qemu state dir {mine.state}"]
    assert mine.state.exists()
    sweep_state(tmp_path, "bench-r1-", dry_run=False)
    assert not mine.state.exists() and other.state.exists()


def test_the_guest_clock_line_is_read_and_a_malformed_one_refused() -> None:
    from foundation.errors import ProtocolError
    from runtimes.protocol import parse_guest_clock

    assert parse_guest_clock(["BENCH-READY ready", "BENCH-GUEST-CLOCK boottime_ns=2822706039"]) \
        == 2_822_706_039
    assert parse_guest_clock(["BENCH-READY ready"]) is None
    with pytest.raises(ProtocolError, match="not a count of nanoseconds"):
        parse_guest_clock(["BENCH-GUEST-CLOCK boottime_ns=soon"])
    with pytest.raises(ProtocolError, match="not a count of nanoseconds"):
        parse_guest_clock(["BENCH-GUEST-CLOCK boottime_ns=-5"])


def test_the_guest_clock_is_a_figure_of_its_own_never_a_boot_phase() -> None:
    from runtimes.guest.readings import record_guest_clock
    from runtimes.instance import Instance

    instance: Instance[None] = Instance("bench-r1-vm-1-1", 0)
    instance.output.feed(b"BENCH-READY ready\nBENCH-GUEST-CLOCK boottime_ns=1500000000\n", 10)
    instance.mark("ready", 10)
    record_guest_clock(instance, 0)
    assert instance.guest_phases == {"kernel_to_init": 1500.0}
    assert list(instance.boot_phases()) == ["ready"]
