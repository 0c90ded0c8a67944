"""The OCI driver's config.json, serialised once per variant: byte for byte what serialising
the whole document for each instance gives (what the driver did before), for sample
instances with and without Docker's seccomp profile."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from runtimes.base import ProbeCommand, RunContext
from runtimes.host.cgroups import Limits
from runtimes.host.seccomp import host_target, oci_seccomp
from runtimes.instance import Instance
from runtimes.oci.bundle import BundleSpec, BundleWriter, oci_config, write_bundle
from runtimes.oci.driver import OciDriver, OciOptions

BASE = BundleSpec(argv=(), hostname="", cgroups_path="", limits=Limits(64 << 20, 16), env=())
INSTANCES = [
    replace(BASE, argv=("/probe", "ready", "idle=5"), hostname="bench-r1-runc-1",
            cgroups_path="/bench/oci/bench-r1-runc-1",
            env=("PATH=/", "BENCH_INSTANCE=bench-r1-runc-1")),
    # what json must escape: quotes, backslashes, non-ASCII, control characters
    replace(BASE, argv=("/probe", 'say="hi"', "a\\b", "é\t\n"), hostname="ünïcode",
            cgroups_path="/bench/oci/x", env=()),
]


def reference(spec: BundleSpec, rootfs: Path) -> str:
    """How the driver wrote each instance's config before: the whole document, every time."""
    return json.dumps(oci_config(spec, rootfs), separators=(",", ":"))


@pytest.mark.parametrize("with_seccomp", [False, True])
def test_each_instance_config_is_byte_for_byte_the_whole_document(tmp_path: Path,
                                                                  with_seccomp: bool) -> None:
    base = replace(BASE, seccomp=oci_seccomp(host_target()) if with_seccomp else None)
    writer = BundleWriter(base, tmp_path / "rootfs")
    for instance in INSTANCES:
        spec = replace(instance, seccomp=base.seccomp)
        assert writer.config_text(spec) == reference(spec, tmp_path / "rootfs")
        written = writer.write(tmp_path / spec.hostname, spec) / "config.json"
        assert written.read_bytes() == reference(spec, tmp_path / "rootfs").encode()
    assert ("syscalls" in writer.config_text(replace(INSTANCES[0], seccomp=base.seccomp))) \
        == with_seccomp


def test_a_writer_refuses_another_variants_spec(tmp_path: Path) -> None:
    writer = BundleWriter(BASE, tmp_path)
    for other in (replace(INSTANCES[0], read_only=False),
                  replace(INSTANCES[0], limits=Limits(128 << 20, 16)),
                  replace(INSTANCES[0], seccomp={"defaultAction": "SCMP_ACT_ERRNO"})):
        with pytest.raises(ValueError, match="another variant"):
            writer.config_text(other)


def test_write_bundle_alone_writes_the_same_bytes(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "b", INSTANCES[0], tmp_path / "rootfs")
    assert (bundle / "config.json").read_text() == reference(INSTANCES[0], tmp_path / "rootfs")


def test_the_driver_writes_what_its_spec_describes(tmp_path: Path) -> None:
    driver = OciDriver("runc", OciOptions.model_validate({"pids_limit": 8}),
                       RunContext("r1", tmp_path, tmp_path))
    driver.seccomp = oci_seccomp(host_target())
    driver.bundles = BundleWriter(driver.variant_spec(), driver.rootfs)
    instance: Instance[object] = Instance("bench-r1-runc-1", 0)
    spec = driver.bundle_spec(instance, ProbeCommand("ready", ("idle=5",)))  # type: ignore[arg-type]
    assert spec.cgroups_path == "/bench/oci/bench-r1-runc-1" and spec.limits.pids == 8
    assert driver.bundles.config_text(spec) == reference(spec, driver.rootfs)
