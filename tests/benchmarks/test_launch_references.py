"""Each driver's boot against the same launch timed by hyperfine, side by side in one
sitting: the references and tolerances `bench verify` uses (bench/verify/launches.py).

bench's side: the driver's own boot figure (boot.total; process and native: less its cgroup
step). Reference: the same launch run by `hyperfine -N` through untilready, which exits when
the probe's ready line arrives (oci: `runc run`; lxc: `lxc-start`; docker: `docker run` less
the CLI's floor). Fails when bench's median leaves the line's tolerance (10 %; libvirt 20 %).

Run: python3 -m pytest tests/benchmarks/test_launch_references.py --benchmark-only -s
"""

from __future__ import annotations

import shutil
from typing import Any

import pytest

from bench.verify.launches import Launch, launch_of, time_launch
from bench.verify.references import Launches
from bench.workload.bundle import build_bundle
from runtimes.base import AnyDriver, instance_prefix
from runtimes.docker.driver import DockerDriver, DockerOptions
from runtimes.libvirt.driver import LibvirtDriver, LibvirtOptions
from runtimes.lxc.driver import LxcDriver, LxcOptions
from runtimes.native.driver import NativeDriver, NativeOptions
from runtimes.oci.driver import OciDriver, OciOptions
from runtimes.process.driver import ProcessDriver, ProcessOptions
from tests.benchmarks.sitting import CACHE, READY_ONCE, Measured, check_ratio, deadline, side_by_side, sitting
from tests.conftest import require

DRIVERS: dict[str, tuple[type[AnyDriver], Any, int]] = {  # driver, options, rounds
    "process": (ProcessDriver, ProcessOptions(), 30),
    "native": (NativeDriver, NativeOptions(), 30),
    "native-unconfined": (NativeDriver, NativeOptions(seccomp="unconfined"), 30),
    "oci": (OciDriver, OciOptions(runtime="runc"), 15),
    "lxc": (LxcDriver, LxcOptions(), 15),
    "docker": (DockerDriver, DockerOptions(), 15),
    "libvirt": (LibvirtDriver, LibvirtOptions(), 5),
}


def boot(driver: AnyDriver, launch: Launch) -> Measured:
    instance = driver.start(READY_ONCE, deadline())
    phases = {f"boot.{phase}": ms for phase, ms in instance.boot_phases().items()}
    value = launch.bench_value({**phases, "boot.total": instance.boot_total_ms()})
    if value is None:
        driver.stop(instance)
        raise AssertionError(f"{driver.kind} reported no {launch.figure}")
    return value, lambda: driver.stop(instance)


@pytest.mark.parametrize("kind", list(DRIVERS))
def test_boot_agrees_with_the_same_launch_timed_by_hyperfine(benchmark: Any, kind: str) -> None:
    require(shutil.which("hyperfine") is not None, "hyperfine (apt-get install hyperfine)")
    cls, options, rounds = DRIVERS[kind]
    with sitting(cls, options, f"l{kind[0]}") as context:
        driver = cls(kind, options, context)
        timer = Launches(CACHE, f"{instance_prefix(context.run_id)}hyperfine")
        try:
            driver.prepare(build_bundle(CACHE).probe)
            launch = launch_of(driver, context.run_id)  # for its figure and tolerance
            assert launch is not None
            for step in launch.cleanup:
                step()

            def reference() -> float:
                timed = time_launch(driver, context.run_id, timer)
                assert timed is not None
                return timed[1].value

            ours, theirs = side_by_side(benchmark, lambda: boot(driver, launch),
                                        {"hyperfine": reference}, rounds=rounds)
        finally:
            timer.close()
            driver.close()
    check_ratio(benchmark, f"{kind} {launch.figure} / hyperfine", ours, theirs["hyperfine"],
                1 - launch.tolerance, 1 + launch.tolerance)
