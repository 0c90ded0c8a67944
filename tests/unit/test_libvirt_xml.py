"""The libvirt guest's domain XML, kernel command line, options and host readings (no libvirtd)."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

import runtimes.libvirt.host as host_module
from foundation.errors import InstanceError
from runtimes.base import RunContext
from runtimes.guest.serial import ConsoleText
from runtimes.instance import Instance
from runtimes.libvirt.console import ConsoleStream
from runtimes.libvirt.domain import (
    METADATA_NS,
    GuestSpec,
    domain_xml,
    kernel_cmdline,
    metadata_run_id,
)
from runtimes.libvirt.driver import LibvirtDriver, LibvirtOptions
from runtimes.libvirt.host import guest_meminfo


def spec(**changes: Any) -> GuestSpec:
    values: dict[str, Any] = dict(
        name="bench-1a2b-libvirt-1", run_id="1a2b", domain_type="qemu",
        kernel=Path("/boot/vmlinuz-6.1.0-56-amd64"), initrd=Path("/cache/initramfs-0.cpio"),
        cmdline="console=ttyS0 panic=-1 -- ready idle=600", memory_bytes=256 << 20, vcpus=1,
        machine="pc", cpu_mode="custom", cpu_model="qemu64", run_as_root=True)
    values.update(changes)
    return GuestSpec(**values)


def parsed(**changes: Any) -> ET.Element:
    return ET.fromstring(domain_xml(spec(**changes)))


def test_domain_boots_the_kernel_directly_with_the_probe_as_init() -> None:
    root = parsed()
    assert root.get("type") == "qemu"
    assert root.findtext("name") == "bench-1a2b-libvirt-1"
    assert root.find("memory").text == str(256 * 1024)  # type: ignore[union-attr]
    assert root.find("memory").get("unit") == "KiB"  # type: ignore[union-attr]
    assert root.findtext("vcpu") == "1"
    assert root.find("os/type").get("machine") == "pc"  # type: ignore[union-attr]
    assert root.findtext("os/kernel") == "/boot/vmlinuz-6.1.0-56-amd64"
    assert root.findtext("os/initrd") == "/cache/initramfs-0.cpio"
    assert root.findtext("os/cmdline") == "console=ttyS0 panic=-1 -- ready idle=600"


def test_domain_has_no_disk_nic_graphics_usb_or_balloon_and_every_exit_destroys() -> None:
    root = parsed()
    devices = root.find("devices")
    assert devices is not None
    for tag in ("disk", "interface", "graphics", "video", "sound", "input", "filesystem"):
        assert devices.find(tag) is None, tag
    assert devices.find("controller[@type='usb']").get("model") == "none"  # type: ignore[union-attr]
    assert devices.find("memballoon").get("model") == "none"  # type: ignore[union-attr]
    assert devices.find("serial").get("type") == "pty"  # type: ignore[union-attr]
    assert devices.find("console/target").get("type") == "serial"  # type: ignore[union-attr]
    for event in ("on_poweroff", "on_reboot", "on_crash"):
        assert root.findtext(event) == "destroy"


def test_metadata_carries_the_run_id_in_the_bench_namespace() -> None:
    text = domain_xml(spec())
    tag = ET.fromstring(text).find(f"metadata/{{{METADATA_NS}}}instance")
    assert tag is not None and tag.get("run-id") == "1a2b" and tag.get("accel") == "tcg"
    assert metadata_run_id(text) == "1a2b"
    assert metadata_run_id("<domain><name>other</name></domain>") is None
    assert metadata_run_id("not xml") is None


def test_cpu_follows_the_accel() -> None:
    tcg = parsed().find("cpu")
    assert tcg is not None and tcg.get("mode") == "custom" and tcg.findtext("model") == "qemu64"
    kvm = parsed(domain_type="kvm", cpu_mode="host-passthrough")
    assert kvm.get("type") == "kvm"
    assert kvm.find("cpu").get("mode") == "host-passthrough"  # type: ignore[union-attr]
    assert kvm.find("cpu/model") is None


def test_seclabel_keeps_files_unlabelled_when_qemu_runs_as_root() -> None:
    label = parsed().find("seclabel")
    assert label is not None and label.get("relabel") == "no" and label.findtext("label") == "+0:+0"
    assert parsed(run_as_root=False).find("seclabel") is None


def test_text_values_are_escaped_not_spliced() -> None:
    hostile = "x'/><interface type='network'/><name>y"
    root = parsed(name=hostile, run_id=hostile, kernel=Path(f"/k/{hostile}"))
    assert root.findtext("name") == hostile
    assert root.find("devices/interface") is None
    assert len(root.findall("name")) == 1


def test_kernel_cmdline_puts_probe_arguments_after_the_separator() -> None:
    line = kernel_cmdline(["quiet", "loglevel=3"], ["syscall", "batches=5"])
    assert line == "console=ttyS0 panic=-1 quiet loglevel=3 -- syscall batches=5"


@pytest.mark.parametrize("param", ["a b", "x'y", 'x"y', "--", "-x", "", "a\nb", "a;b", "$(id)"])
def test_kernel_cmdline_refuses_injection(param: str) -> None:
    with pytest.raises(ValueError):
        kernel_cmdline([param], ["ready"])
    with pytest.raises(ValueError):
        kernel_cmdline([], ["ready", param])


def test_kernel_cmdline_refuses_overlong_lines() -> None:
    with pytest.raises(ValueError, match="over"):
        kernel_cmdline(["x" * 3000], ["ready"])


def test_options_defaults_and_parsing() -> None:
    options = LibvirtOptions.model_validate({"memory": "512MiB", "cmdline_extra": ["quiet"]})
    assert int(options.memory) == 512 << 20
    assert options.uri == "qemu:///system" and not options.is_remote()
    assert options.machine == "pc" and options.accel == "auto" and options.vcpus == 1
    assert LibvirtOptions.model_validate({"uri": "qemu+ssh://host/system"}).is_remote()
    assert not LibvirtOptions.model_validate({"uri": "qemu+unix:///system"}).is_remote()
    assert int(LibvirtOptions.model_validate({}).memory) == 256 << 20


@pytest.mark.parametrize("bad", [
    {"memory": "1000KiB"}, {"memory": "16MiB"}, {"cmdline_extra": ["a b"]},
    {"cmdline_extra": ["x' y"]}, {"uri": "not a uri"}, {"machine": "pc q35"},
    {"cpu_model": "qemu64,+vmx"}, {"accel": "hvf"}, {"vcpus": 0}, {"colour": "red"},
])
def test_options_refuse_bad_values(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        LibvirtOptions.model_validate(bad)


def test_guest_meminfo_reads_the_probe_line_in_bytes() -> None:
    instance = Instance("bench-x-libvirt-1", 0)
    instance.output.feed(b"BENCH-READY ready\nBENCH-MEMINFO MemTotal=210752 MemAvailable=186304\n", 1)
    assert guest_meminfo(instance) == {"guest_mem_total": 210752 * 1024,
                                       "guest_mem_available": 186304 * 1024}
    assert guest_meminfo(Instance("empty", 0)) == {}


def test_console_phases_are_in_time_order_and_add_up_to_the_total(tmp_path: Path) -> None:
    driver = LibvirtDriver("libvirt", LibvirtOptions(), RunContext("1a2b", tmp_path, tmp_path))
    instance = Instance("bench-1a2b-libvirt-1", 1_000)
    for phase, stamp in (("create", 2_000), ("console", 3_000), ("resume", 4_000)):
        instance.mark(phase, stamp)
    instance.output.feed(b"SeaBIOS\n", 5_000)
    instance.output.feed(b"[    3.2] Run /init as init process\n", 9_000)
    instance.output.feed(b"BENCH-READY ready\n", 9_500)
    instance.mark("ready", 9_500)
    driver.after_ready(instance)
    phases = instance.boot_phases()
    assert list(phases) == ["create", "console", "resume", "first_byte", "kernel_to_init", "ready"]
    assert all(value >= 0 for value in phases.values())
    assert sum(phases.values()) == pytest.approx(instance.boot_total_ms())


def test_qemu_pid_comes_from_libvirts_pid_file(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "bench-x-libvirt-1.pid").write_text("4242\n")
    monkeypatch.setattr(host_module, "PID_DIRS", (tmp_path / "absent", tmp_path))
    assert host_module.qemu_pid("bench-x-libvirt-1") == 4242


def fake_cgroups(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, proc_cgroup: str) -> Path:
    proc, root = tmp_path / "proc", tmp_path / "cgroup"
    (proc / "77").mkdir(parents=True)
    (proc / "77" / "cgroup").write_text(proc_cgroup)
    monkeypatch.setattr(host_module, "PROC", proc)
    monkeypatch.setattr(host_module, "CGROUP_ROOT", root)
    return root


def test_machine_cgroup_on_v1_finds_the_machines_memory_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = fake_cgroups(tmp_path, monkeypatch, "0::/machine/qemu-2-n.libvirt-qemu/emulator\n"
                        "4:memory:/machine/qemu-2-n.libvirt-qemu\n1:cpu:/machine/x/emulator\n")
    folder = root / "memory" / "machine" / "qemu-2-n.libvirt-qemu"
    folder.mkdir(parents=True)
    (folder / "memory.usage_in_bytes").write_text("200261632\n")
    found = host_module.machine_cgroup(77)
    assert found == folder
    assert host_module.cgroup_charge(folder) == 200261632


def test_machine_cgroup_on_v2_walks_up_from_the_emulator(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scope = "machine.slice/machine-qemu\\x2d1\\x2dn.scope"
    root = fake_cgroups(tmp_path, monkeypatch, f"0::/{scope}/libvirt/emulator\n")
    root.mkdir()
    (root / "cgroup.controllers").write_text("memory pids\n")
    assert host_module.machine_cgroup(77) == root / scope


def test_machine_cgroup_is_none_outside_a_machine(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_cgroups(tmp_path, monkeypatch, "4:memory:/\n0::/\n")
    assert host_module.machine_cgroup(77) is None
    with pytest.raises(InstanceError, match="cannot read the memory charge"):
        host_module.cgroup_charge(tmp_path / "nowhere")


def test_a_guest_whose_qemu_is_gone_has_no_cgroup_reading(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(host_module, "PROC", tmp_path / "proc")
    with pytest.raises(InstanceError, match="is gone"):
        host_module.machine_cgroup(77)


def test_without_the_library_the_driver_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "libvirt", None)  # makes `import libvirt` raise ImportError
    reason = LibvirtDriver.unavailable_reason(LibvirtOptions())
    assert reason is not None and "pip install 'bench[libvirt]'" in reason
    assert LibvirtDriver.clean(LibvirtOptions(), None, dry_run=True) == []


def test_console_text_keeps_each_marker_at_the_start_of_its_line() -> None:
    clean = ConsoleText()
    chunks = (b"\x1bc\x1b[?7l\x1b[2J\x1b[0mSeaBIOS\r\n", b"Booting from ROM..", b"\x1b",
              b"c\x1b[?", b"7l.\rBENCH-READY ready\r", b"\nBENCH-IDLE\r\n")
    text = b"".join(clean(chunk) for chunk in chunks)
    lines = [line for line in text.decode().split("\n") if line]
    assert lines == ["SeaBIOS", "Booting from ROM..", ".", "BENCH-READY ready", "BENCH-IDLE"]
    assert ConsoleText()(b"plain text\n") == b"plain text\n"


class FakeStream:
    """A non-blocking libvirt stream: queued chunks, then -2 (would block) or b"" (end)."""

    def __init__(self, chunks: list[bytes | int]) -> None:
        self.chunks = chunks
        self.calls: list[str] = []

    def recv(self, size: int) -> bytes | int:
        return self.chunks.pop(0) if self.chunks else -2

    def eventRemoveCallback(self) -> None:  # noqa: N802  (libvirt's name)
        self.calls.append("eventRemoveCallback")

    def finish(self) -> None:
        self.calls.append("finish")

    def abort(self) -> None:
        self.calls.append("abort")


class FakeLibvirt:
    VIR_STREAM_EVENT_READABLE, VIR_STREAM_EVENT_ERROR, VIR_STREAM_EVENT_HANGUP = 1, 8, 16

    class libvirtError(Exception):  # noqa: N801  (libvirt's name)
        pass


def test_console_stamps_chunks_and_finishes_the_stream_at_its_end() -> None:
    instance = Instance("bench-x-libvirt-1", 0)
    stream = FakeStream([b"SeaBIOS\n", b"BENCH-READY ready\n", -2])
    console = ConsoleStream(FakeLibvirt, stream, instance.output)  # type: ignore[arg-type]
    console._on_event(stream, FakeLibvirt.VIR_STREAM_EVENT_READABLE, None)
    assert instance.output.text() == ["SeaBIOS", "BENCH-READY ready"]
    assert instance.output.first_byte_ns is not None and not instance.output.closed
    stream.chunks = [b""]
    console._on_event(stream, FakeLibvirt.VIR_STREAM_EVENT_READABLE, None)
    assert instance.output.closed and stream.calls == ["eventRemoveCallback", "finish"]
    console.close()  # idempotent: nothing more happens
    assert stream.calls == ["eventRemoveCallback", "finish"]


def test_console_aborts_on_a_hangup() -> None:
    instance = Instance("bench-x-libvirt-1", 0)
    stream = FakeStream([-2])
    console = ConsoleStream(FakeLibvirt, stream, instance.output)  # type: ignore[arg-type]
    console._on_event(stream, FakeLibvirt.VIR_STREAM_EVENT_HANGUP, None)
    assert instance.output.closed and stream.calls == ["eventRemoveCallback", "abort"]


def test_bench_logs_match_the_run_prefix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(host_module, "QEMU_LOG_DIR", tmp_path)
    for name in ("bench-1a2b-libvirt-1.log", "bench-9z9z-libvirt-1.log", "vm.log"):
        (tmp_path / name).write_text("")
    assert host_module.bench_logs("bench-1a2b-") == [tmp_path / "bench-1a2b-libvirt-1.log"]
    assert len(host_module.bench_logs("bench-")) == 2
    assert host_module.domain_log("bench-1a2b-libvirt-1") == tmp_path / "bench-1a2b-libvirt-1.log"


def test_pinned_vcpus_and_emulator_become_cputune() -> None:
    options = LibvirtOptions(vcpus=3, cpus="0-1")
    assert options.vcpu_pins() == ("0", "1", "0")
    root = parsed(vcpus=3, vcpu_pins=options.vcpu_pins(), emulator_pin="1")
    pins = [(pin.get("vcpu"), pin.get("cpuset")) for pin in root.findall("cputune/vcpupin")]
    assert pins == [("0", "0"), ("1", "1"), ("2", "0")]
    assert root.find("cputune/emulatorpin").get("cpuset") == "1"  # type: ignore[union-attr]
    assert parsed().find("cputune") is None  # unpinned by default


def test_a_cpu_list_is_checked_where_it_is_written() -> None:
    with pytest.raises(ValidationError, match="not a CPU list"):
        LibvirtOptions(cpus="0;reboot")
    with pytest.raises(ValidationError, match="does not exist here"):
        LibvirtOptions(cpus="4096")
