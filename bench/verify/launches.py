"""The same launch as each driver's, for hyperfine to time: what runs, to which end point,
which of bench's figures it is held against, and how far apart they may be.

- process: the probe itself, as the process driver starts it, entering a cgroup made
  beforehand (both sides timed from the cgroup existing: bench's boot.total less its cgroup
  step);
- native: the driver's launcher run as a command (one instance, the same code in the
  child) into a cgroup made beforehand (timed the same way), less what the launcher costs
  as a command (see Launch.wrapper);
- oci: `<runtime> run` of a bundle the driver's own code wrote (the same rootfs, limits and
  profile), where the driver runs `<runtime> run --detach`;
- lxc: `lxc-start` (or `lxc-execute`) with a config the driver's own code wrote;
- docker: `docker run` of the driver's image with the driver's options, less the CLI's own
  floor (Launch.floor: the CLI's start-up and one call to the Engine API);
- libvirt: plain QEMU booting the same kernel and initramfs, without libvirt;
- qemu: plain QEMU of the same machine (microvm or q35) and settings, booting the same kernel
  and initramfs, without QMP and not started paused.
Every launch runs the probe as `ready idle=0`: it prints the ready line, then leaves.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.verify.references import (
    QUIET_MS,
    SETTLE_S,
    Launches,
    Timing,
    qemu_by_hand_argv,
    qemu_direct_argv,
    tool,
)
from foundation.errors import InstanceError
from runtimes.base import AnyDriver, ProbeCommand, instance_prefix
from runtimes.guest.cmdline import kernel_cmdline
from runtimes.instance import Instance

READY_ONCE = ProbeCommand("ready", ("idle=0",))
TIMED = ("hyperfine -N through untilready, to the ready line, less untilready's own cost (the "
         "sitting's median of it, measured beside each cell)")
BootFigure = Callable[[dict[str, float]], float | None]


@dataclass
class Launch:
    """One reference launch: its command line, timed `runs` times per cell (the median is the
    cell's reference value). `wrapper`: what the launch is run through besides untilready
    (the native launcher as a command), so that its own cost is taken off as untilready's
    is; `floor`: a command whose median time is taken off too (docker's CLI); `quiet_ms`:
    untilready's wait before it starts the launch (references.QUIET_MS), for a launch whose
    runtime writes cgroup.procs soon after its own start (oci's runc, lxc's lxc-start)."""

    argv: list[str]
    figure: str        # bench's figure, as the line names it
    how: str           # what the reference times
    tolerance: float
    bench_value: BootFigure
    cleanup: list[Callable[[], None]] = field(default_factory=list)
    runs: int = 1
    wrapper: list[str] = field(default_factory=list)
    floor: list[str] | None = None
    quiet_ms: int = 0


def boot_total(phases: dict[str, float]) -> float | None:
    return phases.get("boot.total")


def after_cgroup(phases: dict[str, float]) -> float | None:
    if "boot.total" not in phases or "boot.cgroup" not in phases:
        return None
    return phases["boot.total"] - phases["boot.cgroup"]


def time_launch(driver: AnyDriver, run_id: str, timer: Launches) -> tuple[Launch, Timing] | None:
    """One cell's reference for this driver's launch (the median of its runs), timed by
    hyperfine; None for a driver without one. What a launch needs beforehand (a native
    cgroup, a bundle) is made right before it, as the driver makes it right before its own
    launch (a cgroup made earlier, or reused, launched about 2 ms slower of 7 here), and
    removed after. It starts SETTLE_S after being asked."""
    with made_launch(driver, run_id) as launch:
        if launch is None:
            return None
        time.sleep(SETTLE_S)
        return launch, timer.timed(launch.argv, getattr(driver.options, "cpus", None),
                                   launch.runs, launch.wrapper, launch.floor, launch.quiet_ms)


def prime_launch(driver: AnyDriver, run_id: str, timer: Launches) -> None:
    """One untimed run of this driver's reference launch, right before a cell whose start is
    checked, so that bench's start follows a start of the same launch by the runner's pause
    as each reference run follows the one before it by SETTLE_S. Without it bench's start
    followed the previous cell's references: seconds without this launch, and on this host
    a start after seconds of quiet took 0.6-1 ms more than one 0.2 s after another (the
    same after a primer: docs/methodology.md, "A start's lead-in"). Guest boots are not
    primed (a primer would cost a boot)."""
    if driver.kind in GUESTS:
        return
    with made_launch(driver, run_id) as launch:
        if launch is not None:
            timer.run_once(launch.argv, getattr(driver.options, "cpus", None), launch.quiet_ms)


@contextlib.contextmanager
def made_launch(driver: AnyDriver, run_id: str) -> Iterator[Launch | None]:
    """The driver's reference launch with what it needs made (None: the driver has none),
    and that removed afterwards, whatever happened."""
    launch = launch_of(driver, run_id)
    try:
        yield launch
    finally:
        for step in launch.cleanup if launch is not None else ():
            step()


def launch_of(driver: AnyDriver, run_id: str) -> Launch | None:
    """The launch hyperfine times for this driver, or None for a driver without one."""
    makers: dict[str, Callable[[Any, str], Launch]] = {
        "process": _process, "native": _native, "oci": _oci, "lxc": _lxc, "docker": _docker,
        "libvirt": _libvirt, "qemu": _qemu}
    maker = makers.get(driver.kind)
    return maker(driver, run_id) if maker else None


GUESTS = ("libvirt", "qemu")  # a start is a guest's boot: seconds, not primed
# Tolerances: how far bench's median may sit from the reference's. Both time the same
# launch to the same line; what differs is who starts it (bench's launcher, asked over a
# socket, against hyperfine plus the static helper's fork).
LAUNCH_TOLERANCE = 0.10
GUEST_TOLERANCE = 0.20  # libvirt: its RPC, QMP set-up and cgroups on top of the same boot
# runs of each reference per cell: its median is the cell's value (a single run on a busy
# host moves by tens of %); a guest boot takes seconds, so once. A host launch is cheap:
# nine runs, as bench's side of the line is one start per cell, but the reference's median
# of five scattered twice as widely as bench's starts over a sitting (2026-12-05, process:
# bench's interval of the median -2.5 to +3.1 %, the reference's -4.8 to +9.0 %)
RUNS = 9
ENGINE_RUNS = 5


def reference_name(driver: Any, run_id: str) -> str:
    return f"{instance_prefix(run_id)}{driver.name}-verify"


def _cgroup_first(driver: Any, run_id: str, limits: Any) -> tuple[str, Any, Callable[[], None]]:
    """A cgroup made as the driver makes an instance's (name, cgroup, its removal)."""
    name = reference_name(driver, run_id)
    cgroup = driver.cgroups.create(name, limits)

    def remove() -> None:
        driver.cgroups.kill(cgroup)
        driver.cgroups.remove(cgroup)

    return name, cgroup, remove


def _process(driver: Any, run_id: str) -> Launch:
    _, cgroup, remove = _cgroup_first(driver, run_id, None)
    joins = [f"join={path}" for path in driver.cgroups.join_files(cgroup)]
    return Launch([str(driver.probe), *READY_ONCE.argv(), *joins], "boot.total - boot.cgroup",
                  f"the probe entering a cgroup made beforehand (join=), spawned by {TIMED}",
                  LAUNCH_TOLERANCE, after_cgroup, [remove], RUNS)


def _native(driver: Any, run_id: str) -> Launch:
    name, cgroup, remove = _cgroup_first(driver, run_id, driver.limits)
    argv = driver.launcher_argv(name, cgroup, READY_ONCE)
    return Launch(argv, "boot.total - boot.cgroup",
                  "the driver's launcher as a command (the same steps, one instance) into a "
                  f"cgroup made beforehand, spawned by {TIMED} and the launcher's own cost "
                  "(`launcher -- untilready --ready`, as untilready's)",
                  LAUNCH_TOLERANCE, after_cgroup, [remove], RUNS, wrapper=[argv[0], "--"])


def _oci(driver: Any, run_id: str) -> Launch:
    name = reference_name(driver, run_id)
    bundle = driver.bundles.write(driver.context.work_dir / name,
                                  driver.bundle_spec(Instance(name, 0), READY_ONCE))

    def remove() -> None:  # `run` deletes its container as it leaves; a failed one may stay
        with contextlib.suppress(InstanceError):
            driver.cli.delete(name)
        driver.placed.remove(name)
        shutil.rmtree(bundle, ignore_errors=True)

    return Launch(driver.cli.argv("run", "--bundle", str(bundle), name), "boot.total",
                  f"`{driver.cli.name} run` of a bundle the driver's code wrote (the driver runs "
                  f"`run --detach`), spawned by {TIMED}", LAUNCH_TOLERANCE, boot_total,
                  [remove], RUNS, quiet_ms=QUIET_MS)


def _lxc(driver: Any, run_id: str) -> Launch:
    name = reference_name(driver, run_id)
    instance: Instance[Any] = Instance(name, 0)
    config = driver.config_path(instance)
    config.write_text(driver.config(instance, READY_ONCE))
    argv = driver.launch_argv(instance, config, READY_ONCE)

    def remove() -> None:
        for suffix in ("", ".monitor"):
            driver.placed.remove(f"{name}{suffix}")
        config.unlink(missing_ok=True)

    return Launch(argv, "boot.total",  # the driver's argv names lxc-start by its path
                  f"`{Path(argv[0]).name}` with a config the driver's code wrote, spawned by "
                  f"{TIMED}",
                  LAUNCH_TOLERANCE, boot_total, [remove], RUNS, quiet_ms=QUIET_MS)


def _docker(driver: Any, run_id: str) -> Launch:
    options = driver.options
    cli = [tool("docker"), *(["-H", options.endpoint] if options.endpoint else [])]
    # -i: stdin open and attached, as the driver creates the container (stdin_open) and
    # attaches to it; --memory-swap: swap equal to the memory, as the driver sets it (no swap)
    argv = [*cli, "run", "--rm", "-i", "--network", "none", "--runtime", options.runtime,
            "--label", f"bench.run={run_id}",
            "--label", f"bench.instance={reference_name(driver, run_id)}"]
    if options.seccomp == "unconfined":
        argv += ["--security-opt", "seccomp=unconfined"]
    if options.memory_limit:
        argv += ["--memory", str(int(options.memory_limit)),
                 "--memory-swap", str(int(options.memory_limit))]
    if options.pids_limit:
        argv += ["--pids-limit", str(options.pids_limit)]
    if options.cpus:
        argv += ["--cpuset-cpus", options.cpus]
    return Launch([*argv, driver.image, *READY_ONCE.argv()], "boot.total",
                  f"`docker run --rm -i` of the same image and options (stdin open, no swap), "
                  f"spawned by {TIMED}, less "
                  "the CLI's own floor (`docker version`: its start-up and one Engine API call)",
                  LAUNCH_TOLERANCE, boot_total, runs=ENGINE_RUNS,
                  floor=[*cli, "version", "--format", "{{.Server.APIVersion}}"])


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
