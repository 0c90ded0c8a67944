"""The same launch as each driver's, for hyperfine to time: what runs, to which end point,
which of bench's figures it is held against, and how far apart they may be.

- process: the probe itself, as the process driver spawns it, entering a cgroup made
  beforehand (both sides timed from the cgroup existing: bench's boot.total less its cgroup
  step);
- native: the driver's own launcher into a cgroup made beforehand (timed the same way);
- docker: `docker run` of the driver's image with the driver's options (the CLI's own
  start-up, tens of ms, is inside the reference and not inside bench's figure);
- libvirt: plain QEMU booting the same kernel and initramfs, without libvirt;
- qemu: plain QEMU of the same machine (microvm or q35) and settings, booting the same kernel
  and initramfs, without QMP and not started paused.
Every launch runs the probe as `ready idle=0`: it prints the ready line, then leaves.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.verify.references import SETTLE_S, Launches, qemu_by_hand_argv, qemu_direct_argv, tool
from runtimes.base import AnyDriver, ProbeCommand, instance_prefix
from runtimes.guest.cmdline import kernel_cmdline

READY_ONCE = ProbeCommand("ready", ("idle=0",))
TIMED = "hyperfine -N through untilready, to the ready line, less untilready's own cost"
BootFigure = Callable[[dict[str, float]], float | None]


@dataclass
class Launch:
    argv: list[str]
    figure: str        # bench's figure, as the line names it
    how: str           # what the reference times
    tolerance: float
    bench_value: BootFigure
    cleanup: list[Callable[[], None]] = field(default_factory=list)


def boot_total(phases: dict[str, float]) -> float | None:
    return phases.get("boot.total")


def after_cgroup(phases: dict[str, float]) -> float | None:
    if "boot.total" not in phases or "boot.cgroup" not in phases:
        return None
    return phases["boot.total"] - phases["boot.cgroup"]


def time_launch(driver: AnyDriver, run_id: str, timer: Launches) -> tuple[Launch, float] | None:
    """One launch of this driver's, timed by hyperfine; None for a driver without one. What
    a launch needs beforehand (a native cgroup) is made right before it, as the driver makes
    it right before its own launch (a cgroup made earlier, or reused, launched about 2 ms
    slower of 7 here), and removed after. It starts SETTLE_S after being asked."""
    launch = launch_of(driver, run_id)
    if launch is None:
        return None
    time.sleep(SETTLE_S)
    try:
        return launch, timer.time_ms(launch.argv, cpus=getattr(driver.options, "cpus", None))
    finally:
        for step in launch.cleanup:
            step()


def launch_of(driver: AnyDriver, run_id: str) -> Launch | None:
    """The launch hyperfine times for this driver, or None for a driver without one."""
    makers: dict[str, Callable[[Any, str], Launch]] = {
        "process": _process, "native": _native, "docker": _docker, "libvirt": _libvirt,
        "qemu": _qemu}
    maker = makers.get(driver.kind)
    return maker(driver, run_id) if maker else None


# Tolerances: how far bench's median may sit from the reference's. Both time the same
# launch to the same line; what differs is who spawns it (Python's subprocess against
# hyperfine plus the static helper's fork), a fixed cost of a fraction of a millisecond
# that weighs most on the shortest launches.
LAUNCH_TOLERANCE = 0.25
CLI_TOLERANCE = 0.25   # docker: the CLI's start-up on top of the same Engine API calls
GUEST_TOLERANCE = 0.20  # libvirt: its RPC, QMP set-up and cgroups on top of the same boot


def _cgroup_first(driver: Any, run_id: str, limits: Any) -> tuple[str, Any, Callable[[], None]]:
    """A cgroup made as the driver makes an instance's (name, cgroup, its removal)."""
    name = f"{instance_prefix(run_id)}{driver.name}-verify"
    cgroup = driver.cgroups.create(name, limits)

    def remove() -> None:
        driver.cgroups.kill(cgroup)
        driver.cgroups.remove(cgroup)

    return name, cgroup, remove


def _process(driver: Any, run_id: str) -> Launch:
    _, cgroup, remove = _cgroup_first(driver, run_id, None)
    return Launch(driver.probe_argv(READY_ONCE, cgroup), "boot.total - boot.cgroup",
                  f"the probe entering a cgroup made beforehand, spawned by {TIMED}",
                  LAUNCH_TOLERANCE, after_cgroup, [remove])


def _native(driver: Any, run_id: str) -> Launch:
    name, cgroup, remove = _cgroup_first(driver, run_id, driver.limits)
    return Launch(driver.launcher_argv(name, cgroup, READY_ONCE), "boot.total - boot.cgroup",
                  f"the driver's launcher into a cgroup made beforehand, spawned by {TIMED}",
                  LAUNCH_TOLERANCE, after_cgroup, [remove])


def _docker(driver: Any, run_id: str) -> Launch:
    options = driver.options
    argv = [tool("docker"), *(["-H", options.endpoint] if options.endpoint else []), "run", "--rm",
            "--network", "none", "--runtime", options.runtime,
            "--label", f"bench.run={run_id}",
            "--label", f"bench.instance={instance_prefix(run_id)}{driver.name}-verify"]
    if options.seccomp == "unconfined":
        argv += ["--security-opt", "seccomp=unconfined"]
    if options.memory_limit:
        argv += ["--memory", str(int(options.memory_limit))]
    if options.pids_limit:
        argv += ["--pids-limit", str(options.pids_limit)]
    if options.cpus:
        argv += ["--cpuset-cpus", options.cpus]
    return Launch([*argv, driver.image, *READY_ONCE.argv()], "boot.total",
                  f"`docker run --rm` of the same image and options, spawned by {TIMED}",
                  CLI_TOLERANCE, boot_total)


def _libvirt(driver: Any, run_id: str) -> Launch:
    guest = driver.fingerprint()
    cmdline = kernel_cmdline(driver.options.cmdline_extra, READY_ONCE.argv())
    argv = qemu_direct_argv(guest, cmdline)
    argv[1:1] = ["-name", f"{instance_prefix(run_id)}{driver.name}-qemu"]
    return Launch(argv, "boot.total",
                  "plain qemu-system-x86_64 booting the same kernel and initramfs (same accel, "
                  f"machine, CPU, memory), spawned by {TIMED}", GUEST_TOLERANCE, boot_total)


def _qemu(driver: Any, run_id: str) -> Launch:
    guest = driver.fingerprint()
    extra = (guest["reset"], *guest["kernel_clock_params"], *guest["cmdline_extra"])
    cmdline = kernel_cmdline(extra, [*READY_ONCE.argv(), "end=reboot"])
    argv = qemu_by_hand_argv(guest, cmdline)
    argv[1:1] = ["-name", f"{instance_prefix(run_id)}{driver.name}-verify"]
    return Launch(argv, "boot.total",
                  f"plain qemu-system-x86_64 -M {guest['machine']} with the same settings, "
                  "kernel and initramfs (same accel, CPU, memory), without QMP and not started "
                  f"paused, spawned by {TIMED}", GUEST_TOLERANCE, boot_total)
