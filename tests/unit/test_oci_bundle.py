"""What the oci, lxc and podman drivers hand their tools, checked without running them: the
OCI config, runsc's flags and platforms, LXC's config, podman's command line."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from runtimes.base import ProbeCommand, RunContext
from runtimes.host.cgroups import Limits
from runtimes.host.gvisor import parse_platforms, runsc_flags
from runtimes.instance import Instance
from runtimes.lxc.driver import LxcDriver, LxcOptions
from runtimes.oci.bundle import BundleSpec, oci_config, write_bundle
from runtimes.oci.driver import OciOptions
from runtimes.podman.driver import PodmanDriver, PodmanOptions, podman_argv, runtime_flags

SPEC = BundleSpec(argv=("/probe", "ready"), hostname="h", cgroups_path="/bench/oci/bench-r-o-1",
                  limits=Limits(64 << 20, 16))


def test_the_config_asks_for_what_the_native_runtime_does(tmp_path: Path) -> None:
    config = oci_config(SPEC, tmp_path / "rootfs")
    assert {n["type"] for n in config["linux"]["namespaces"]} == {
        "pid", "network", "ipc", "uts", "mount", "cgroup"}
    assert config["linux"]["resources"]["memory"] == {"limit": 64 << 20, "swap": 64 << 20}
    assert config["linux"]["resources"]["pids"] == {"limit": 16}
    assert all(v == [] for v in config["process"]["capabilities"].values())
    assert config["process"]["noNewPrivileges"] is True and config["process"]["terminal"] is False
    assert config["root"] == {"path": str(tmp_path / "rootfs"), "readonly": True}
    assert [m["destination"] for m in config["mounts"]] == ["/proc", "/dev", "/tmp"]
    assert "seccomp" not in config["linux"]
    seccomp = {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": []}
    with_filter = oci_config(BundleSpec(**{**SPEC.__dict__, "seccomp": seccomp}), tmp_path)
    assert with_filter["linux"]["seccomp"] == seccomp
    bundle = write_bundle(tmp_path / "b", SPEC, tmp_path / "rootfs")
    assert (bundle / "config.json").exists()


def test_options_refuse_a_platform_for_anything_but_runsc() -> None:
    assert OciOptions(runtime="runsc").runsc_platform() == "ptrace"
    assert OciOptions().runsc_platform() is None
    with pytest.raises(ValidationError, match="platform is an option of runtime runsc"):
        OciOptions.model_validate({"runtime": "runc", "platform": "kvm"})


def test_runsc_flags_and_the_platforms_its_help_names() -> None:
    assert runsc_flags("ptrace", False) == ("--platform=ptrace", "--network=none")
    assert runsc_flags("kvm", True)[-1] == "--oci-seccomp"
    help_2022 = ("  -platform string\n    \tspecifies which platform to use: ptrace (default), "
                 "kvm. (default \"ptrace\")")
    assert parse_platforms(help_2022) == {"ptrace", "kvm"}
    assert parse_platforms("nothing about platforms") == frozenset()


def test_podman_gets_runsc_flags_as_runtime_flags() -> None:
    assert podman_argv("runc") == ["podman", "--runtime", "runc"]
    assert podman_argv("runsc")[3:] == ["--runtime-flag=platform=ptrace", "--runtime-flag=network=none"]
    for runtime in ("runc", "runsc"):  # the flags the driver records are the ones it passes
        driver = PodmanDriver("p", PodmanOptions.model_validate({"runtime": runtime}),
                              RunContext("r1", Path("/nonexistent"), Path("/nonexistent")))
        assert driver.podman == ["podman", "--runtime", runtime, *driver.runtime_flags]
    assert runtime_flags("runc") == ()


def test_podman_create_line(tmp_path: Path) -> None:
    driver = PodmanDriver("p", PodmanOptions.model_validate(
        {"memory_limit": "64MiB", "pids_limit": 8, "seccomp": "unconfined"}),
        RunContext("r1", tmp_path, tmp_path))
    driver.image = "localhost/bench-probe:0"
    argv = driver.create_argv(Instance("bench-r1-p-1", 0), ProbeCommand("ready", ("idle=5",)))
    assert argv[argv.index("--network") + 1] == "none"
    assert ["--memory", str(64 << 20), "--memory-swap", str(64 << 20)] == argv[
        argv.index("--memory"):argv.index("--memory") + 4]
    assert "--label" in argv and "bench.run=r1" in argv and "seccomp=unconfined" in argv
    assert argv[-3:] == ["localhost/bench-probe:0", "ready", "idle=5"]


@pytest.mark.parametrize(("launcher", "init_line"), [("start", True), ("execute", False)])
def test_lxc_config_and_command(tmp_path: Path, launcher: str, init_line: bool) -> None:
    driver = LxcDriver("l", LxcOptions.model_validate({"launcher": launcher, "pids_limit": 8}),
                       RunContext("r1", tmp_path, tmp_path))
    instance: Instance[object] = Instance("bench-r1-l-1", 0)
    text = driver.config(instance, ProbeCommand("ready"))  # type: ignore[arg-type]
    lines = dict(line.split(" = ", 1) for line in text.splitlines())
    assert lines["lxc.net.0.type"] == "empty" and lines["lxc.rootfs.options"] == "ro"
    assert lines["lxc.cap.keep"] == "none" and lines["lxc.no_new_privs"] == "1"
    assert lines["lxc.cgroup.dir.container"] == "bench/lxc/bench-r1-l-1"
    assert any(key.endswith("pids.max") and value == "8" for key, value in lines.items())
    assert ("lxc.init.cmd" in lines) == init_line
    argv = driver.launch_argv(instance, tmp_path / "c.conf", ProbeCommand("ready"))  # type: ignore[arg-type]
    assert Path(argv[0]).name == ("lxc-start" if launcher == "start" else "lxc-execute")
    assert argv[-2:] == (["-P", str(driver.lxc_path)] if init_line else ["/probe", "ready"])
