"""runc called by the oci driver against `runc run` of the same bundle timed by hyperfine, and
what docker and podman add to the same runtime, side by side in one sitting.

- oci/runc: the oci driver's boot.total (write the bundle, `runc run --detach`, until
  the host reads the ready line); its teardown comes after, off the clock;
- `runc run` (the reference): `hyperfine -N` (no shell) running `runc --root R run --bundle B
  ID` on a bundle the driver's own code wrote (the same rootfs, namespaces, limits and
  seccomp profile; the probe with idle=0, so it leaves at once), in the driver's own state
  root and cgroup parent so the sitting's clean finds whatever it left. `runc run` is
  create, start, wait and delete in one process: what the driver's `run --detach` does, plus
  waiting (not timed: untilready leaves at the ready line);
- docker/runc and podman/runc, where available: their drivers' boot.total, timed the same
  way as oci/runc's.
Fails when oci/runc's median is more than 1.2x the reference's, or when an engine's median
is below oci/runc's (an engine adds to the runtime it drives; it cannot take away).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from typing import Any

from bench.verify.references import Launches
from bench.workload.bundle import build_bundle
from runtimes.base import AnyDriver, instance_prefix
from runtimes.docker.driver import DockerDriver, DockerOptions
from runtimes.instance import Instance
from runtimes.oci.bundle import write_bundle
from runtimes.oci.driver import OciDriver, OciOptions
from runtimes.podman.driver import PodmanDriver, PodmanOptions
from tests.benchmarks.sitting import CACHE, READY_ONCE, check_ratio, driver_boot, side_by_side, sitting
from tests.conftest import require

OPTIONS = OciOptions(runtime="runc")
ENGINES: dict[str, tuple[type[AnyDriver], Any]] = {
    "docker/runc": (DockerDriver, DockerOptions(runtime="runc")),
    "podman/runc": (PodmanDriver, PodmanOptions(runtime="runc")),
}
ROUNDS = 30
WARMUP = 2
BOUND = 1.2  # oci/runc boot.total over `runc run`
OURS = "oci/runc boot.total"


def runc_run_argv(driver: OciDriver) -> list[str]:
    """`runc run` of a bundle from the driver's own code whose probe leaves at once."""
    name = f"{instance_prefix(driver.context.run_id)}runc-run"
    instance: Instance[Any] = Instance(name, 0)
    bundle = write_bundle(driver.context.work_dir / "runc-run-bundle",
                          driver.bundle_spec(instance, READY_ONCE), driver.rootfs)
    return [str(driver.cli.path), "--root", str(driver.cli.root), "run", "--bundle", str(bundle),
            name]


def available_engines() -> dict[str, tuple[type[AnyDriver], Any]]:
    """The engines this host has; the others are named and left out."""
    found = {}
    for name, (cls, options) in ENGINES.items():
        reason = cls.unavailable_reason(options)
        if reason:
            print(f"\n{name}: not measured ({reason})")
        else:
            found[name] = (cls, options)
    return found


def boot_once(driver: AnyDriver) -> Callable[[], float]:
    """The driver's boot.total as a reference: its teardown right after, before the settle."""
    def boot() -> float:
        value, cleanup = driver_boot(driver)
        cleanup()
        return value
    return boot


def test_oci_boot_against_runc_run_and_the_engines(benchmark: Any) -> None:
    require(shutil.which("hyperfine") is not None, "hyperfine (apt-get install hyperfine)")
    available = available_engines()
    with sitting(OciDriver, OPTIONS, "ob", also=list(available.values())) as context:
        oci = OciDriver("oci-runc", OPTIONS, context)
        others = {name: cls(name.replace("/", "-"), options, context)
                  for name, (cls, options) in available.items()}
        timer = Launches(CACHE, f"{instance_prefix(context.run_id)}hyperfine")
        try:
            probe = build_bundle(CACHE).probe
            for driver in (oci, *others.values()):
                driver.prepare(probe)
            runc_run = runc_run_argv(oci)
            references = {"runc run": lambda: timer.hyperfine([runc_run], 1, None)[0][0],
                          **{name: boot_once(driver) for name, driver in others.items()}}
            ours, theirs = side_by_side(benchmark, lambda: driver_boot(oci), references,
                                        rounds=ROUNDS, warmup=WARMUP)
        finally:
            timer.close()
            for driver in (oci, *others.values()):
                driver.close()
    check_ratio(benchmark, f"{OURS} / runc run (hyperfine -N)", ours, theirs["runc run"], 0.0, BOUND)
    for name in others:
        check_ratio(benchmark, f"{name} boot.total / {OURS}", theirs[name], ours, 1.0, float("inf"))
