"""Accel detection: kvm only where the hardware really offers it."""

from __future__ import annotations

from pathlib import Path

import pytest

from foundation.errors import RuntimeUnavailable
from runtimes.guest.accel import (
    HostVirt,
    choose_accel,
    cpu_virt_flags,
    newest_kernel,
    probe_kvm,
    version_key,
)

CPUINFO = "processor\t: 0\nflags\t\t: fpu vme de pse {extra}\nmodel name\t: AMD EPYC\n"
NO_FLAGS = HostVirt(frozenset(), kvm_openable=True)  # this project's hosts: kvm_pvm, no svm
HARDWARE = HostVirt(frozenset({"svm"}), kvm_openable=True)


def test_flags_come_from_the_flags_lines_only() -> None:
    assert cpu_virt_flags(CPUINFO.format(extra="svm lm")) == {"svm"}
    assert cpu_virt_flags(CPUINFO.format(extra="vmx")) == {"vmx"}
    assert cpu_virt_flags(CPUINFO.format(extra="lm") + "vmx flags: nope\n") == frozenset()


def test_auto_refuses_dev_kvm_without_hardware_flags() -> None:
    choice = choose_accel("auto", NO_FLAGS)
    assert choice.accel == "tcg" and choice.domain_type == "qemu"
    assert "neither vmx nor svm" in choice.reason


def test_auto_uses_kvm_only_with_flags_and_an_openable_device() -> None:
    assert choose_accel("auto", HARDWARE).accel == "kvm"
    assert choose_accel("auto", HARDWARE).domain_type == "kvm"
    closed = HostVirt(frozenset({"vmx"}), kvm_openable=False, kvm_error="/dev/kvm: Permission denied")
    choice = choose_accel("auto", closed)
    assert choice.accel == "tcg" and "Permission denied" in choice.reason


def test_explicit_requests() -> None:
    assert choose_accel("tcg", HARDWARE).accel == "tcg"
    forced = choose_accel("kvm", NO_FLAGS)
    assert forced.accel == "kvm" and "may hang" in forced.reason
    with pytest.raises(RuntimeUnavailable, match="accel: tcg"):
        choose_accel("kvm", HostVirt(frozenset({"svm"}), kvm_openable=False))


def test_probe_kvm_reports_why_it_cannot_open(tmp_path: Path) -> None:
    ok, error = probe_kvm(tmp_path / "kvm")
    assert not ok and "No such file" in error


def test_newest_kernel_sorts_by_version(tmp_path: Path) -> None:
    assert newest_kernel(tmp_path) is None
    for name in ("vmlinuz-6.1.0-9-amd64", "vmlinuz-6.1.0-56-amd64", "vmlinuz-5.10.0-30-amd64",
                 "config-6.2.0-1-amd64"):
        (tmp_path / name).write_text("")
    assert newest_kernel(tmp_path) == tmp_path / "vmlinuz-6.1.0-56-amd64"
    assert version_key("vmlinuz-6.10.0") > version_key("vmlinuz-6.9.0")
