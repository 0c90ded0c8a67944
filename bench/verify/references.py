"""The independent references `bench verify` and the harness's own benchmarks hold bench's
figures against. None of them shares code with what it checks: other tools (perf, hyperfine,
plain QEMU, virsh) and readings of /proc and /sys parsed here, not through runtimes.host.

Finding a tool, running it with a timeout and reading its version is runtimes.host.tools's
plumbing (it reads no figure); what each reference measures is parsed here.

Every launch reference is timed by hyperfine (-N: no shell) to the same end point bench
uses, the probe's ready line reaching the host: `untilready` (a static helper beside this
file) runs the launch and exits when the ready line arrives; the next run waits (hyperfine
--prepare) until the launch is over, so none overlaps the next. For a launch that waits for
an RCU grace period early in its start (QUIET_MS), untilready lets that long pass between its
own start and the launch's (--quiet), so that the RCU work its own start left is over when the
launch begins, as it is when bench's harness, long started, spawns one. untilready's own cost
(its exec, the quiet if any, its spawn of the launch, its exit) is timed by the same hyperfine
right after and taken off, as the probe takes its empty loop off a batch.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from foundation.errors import BenchError, InstanceError
from runtimes.host import tools
from runtimes.host.build import compile_static
from runtimes.host.pinning import thread_pinned
from runtimes.host.spawn import TAG
from runtimes.host.tools import find_tool, missing_tool, tool_version

UNTIL_READY = Path(__file__).with_name("untilready.c")
TIMEOUT_S = 300
PERF_BENCH = ("perf", "bench", "syscall", "basic")
QEMU = "qemu-system-x86_64"
# A reference launch starts this long after the teardown before it: a teardown frees its
# namespaces and cgroups in the background, and a launch right behind one was 1.5 ms slower
# of 8 here. bench's own cells run back to back; if that slows them, the cross-check says so.
SETTLE_S = 0.2
OVERHEAD_RUNS = 5  # runs of each side of untilready's calibration, each after a pause
# How long untilready waits between its own start and the launch's, for a launch whose runtime
# writes cgroup.procs soon after its own start (lxc-start, runc called directly: the write
# waits for an RCU grace period; docker's comes 100 ms and more later, past any of ours):
# untilready's exec and switch to SCHED_FIFO leave RCU work that lxc-start, whose write comes
# 2 ms after its own exec, waited for too when spawned at once (21-26 ms to ready against
# 13-15 after 60 ms of quiet, 2026-12-05). Inside hyperfine's time, and taken off with the rest
# of untilready's cost. Launches that join their cgroups through `tasks` (process, native) wait
# for no grace period and get none.
QUIET_MS = 100
CGROUP_ROOT = Path("/sys/fs/cgroup")
PACKAGES = {"perf": "linux-perf", "hyperfine": "hyperfine", QEMU: "qemu-system-x86",
            "virsh": "libvirt-clients"}  # the reference tools, and their Debian packages


class ReferenceError(BenchError):
    """A reference could not be taken: the tool is missing, failed, or said something else."""


def tool(name: str) -> str:
    """The tool's path, or a ReferenceError saying how to install it."""
    path = find_tool(name)
    if path is None:
        raise ReferenceError(missing_tool(name, PACKAGES.get(name, name)) or name)
    return str(path)


def run_tool(argv: list[str], env: dict[str, str] | None = None,
             cpus: str | None = None) -> subprocess.CompletedProcess[str]:
    """runtimes.host.tools.run_tool on CPUS (the driver's, as bench's own cells run), its
    failure a ReferenceError."""
    try:
        with thread_pinned(cpus):
            return tools.run_tool(argv, f"run {Path(argv[0]).name} for a reference", TIMEOUT_S,
                                  env=env)
    except InstanceError as error:
        raise ReferenceError(str(error)) from error


def tool_versions() -> dict[str, str]:
    """The version of every reference tool found here (recorded with the cross-checks)."""
    found = {}
    for name in PACKAGES:
        try:
            found[name] = tool_version(tool(name))
        except ReferenceError as error:
            found[name] = str(error)
    return found


# --- system calls ---------------------------------------------------------------------


def perf_bench_getppid(calls: int, cpus: str | None = None) -> float:
    """ns per getppid from one `perf bench syscall basic --loop CALLS` (perf's own loop and
    clock: it prints usecs/op)."""
    out = run_tool([tool("perf"), *PERF_BENCH[1:], "--loop", str(calls)], cpus=cpus).stdout
    found = re.search(r"([0-9.]+)\s+usecs/op", out)
    if found is None:
        raise ReferenceError(f"perf bench printed no usecs/op: {out.strip()[-200:]!r}")
    return float(found.group(1)) * 1000


# --- launches -------------------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    """One cell's reference launch: its runs as timed (ms), their median (`raw`), and what is
    taken off it (`correction`: untilready's own cost, a wrapper's, the CLI's floor)."""

    runs: list[float]
    correction: float

    @property
    def raw(self) -> float:
        return statistics.median(self.runs)

    @property
    def value(self) -> float:
        return self.raw - self.correction


class Launches:
    """Launches timed by hyperfine -N to the probe's ready line, one hyperfine per call (so
    they interleave with bench's own cells), each process tagged with `tag` for `bench clean`."""

    def __init__(self, cache_dir: Path, tag: str) -> None:
        self.helper = compile_static(UNTIL_READY, cache_dir)
        self.tag = tag
        self.scratch = Path(tempfile.mkdtemp(prefix=f"{tag}-"))
        self.pidfile = self.scratch / "reader.pid"

    def timed(self, argv: list[str], cpus: str | None = None, runs: int = 1,
              wrapper: Sequence[str] = (), floor: list[str] | None = None,
              quiet_ms: int = 0) -> Timing:
        """The median of `runs` runs of the launch by one hyperfine (so a cell's reference
        interleaves with bench's cells), and what is to be taken off it, measured right
        after: the cost of untilready and of `wrapper` (what the launch runs through, if
        anything: overhead_ms), and the median time of `floor` if given. `quiet_ms`: see
        QUIET_MS."""
        wait = self.wait_argv()
        [times] = self.hyperfine([self.through(argv, quiet_ms)], runs, cpus,
                                 prepare=self.paused(wait, quiet_ms))
        run_tool(wait)  # the launch is over too
        correction = self.overhead_ms(cpus, OVERHEAD_RUNS, wrapper, quiet_ms)
        if floor is not None:
            correction += statistics.median(self.hyperfine([floor], runs, cpus,
                                                           prepare=self.paused(wait))[0])
        return Timing(times, correction)

    def run_once(self, argv: list[str], cpus: str | None = None, quiet_ms: int = 0) -> None:
        """One untimed run of a launch through untilready, returning once the launch is gone
        (a primer: see launches.prime_launch)."""
        run_tool(self.through(argv, quiet_ms), cpus=cpus)
        run_tool(self.wait_argv())

    def through(self, argv: list[str], quiet_ms: int = 0) -> list[str]:
        """The launch run through untilready, which writes the launch's pid to the pid file
        (and with quiet_ms, waits that long before it starts the launch)."""
        return [str(self.helper), "--pidfile", str(self.pidfile), *quiet_argv(quiet_ms), *argv]

    def wait_argv(self) -> list[str]:
        """untilready waiting until the launch in the pid file is gone."""
        return [str(self.helper), "--wait", str(self.pidfile)]

    def overhead_ms(self, cpus: str | None = None, runs: int = OVERHEAD_RUNS,
                    wrapper: Sequence[str] = (), quiet_ms: int = 0) -> float:
        """What untilready (and `wrapper`, if any) adds to a launch: its own exec, pid file,
        quiet (with quiet_ms), spawn, read and exit. Timed as `untilready --pidfile F [--quiet
        MS] [WRAPPER] untilready --ready`
        less `untilready --ready` (a ready line printed at once), medians of `runs` each, by
        the same hyperfine, each run once the one before is gone; never below 0."""
        helper = str(self.helper)
        pidfile = str(self.scratch / "calibration.pid")
        wrapped = [helper, "--pidfile", pidfile, *quiet_argv(quiet_ms), *wrapper, helper,
                   "--ready"]  # as timed
        alone, through = self.hyperfine([[helper, "--ready"], wrapped], runs, cpus,
                                        prepare=self.paused([helper, "--wait", pidfile], quiet_ms))
        return max(0.0, statistics.median(through) - statistics.median(alone))

    @staticmethod
    def paused(wait: list[str], quiet_ms: int = 0) -> list[str]:
        """The wait before each run, and SETTLE_S more: each run's launch starts after a
        pause, as each of bench's launches does, not straight after the last with every cache
        warm (nine runs back to back timed lxc-start at a third of bench's figure, 6 ms of
        22). untilready's quiet (quiet_ms) is part of that pause: the launch itself starts
        SETTLE_S after the one before is gone, as bench's start follows the runner's pause;
        the previous launch's teardown leaves RCU work too, and lxc-start waits on it. Like
        the runner's pause, untilready's settle ends a random part of the kernel's tick later,
        so no run is held at one phase of the tick (bench/tick.py)."""
        return [*wait, "--settle", str(max(0, int(SETTLE_S * 1000) - quiet_ms))]

    def hyperfine(self, commands: list[list[str]], runs: int, cpus: str | None,
                  prepare: list[str] | None = None) -> list[list[float]]:
        """ms per run of each command, from one `hyperfine -N`."""
        export = self.scratch / "hyperfine.json"
        options = ["--prepare", shlex.join(prepare)] if prepare else []
        run_tool([tool("hyperfine"), "-N", "--style", "none", "--runs", str(runs), "--warmup", "0",
                  *options, "--export-json", str(export), *map(shlex.join, commands)],
                 env={**os.environ, TAG: self.tag}, cpus=cpus)
        try:
            results = json.loads(export.read_text())["results"]
            return [[float(t) * 1000 for t in result["times"]] for result in results]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ReferenceError(f"hyperfine wrote no times: {error}") from error

    def close(self) -> None:
        shutil.rmtree(self.scratch, ignore_errors=True)


def quiet_argv(quiet_ms: int) -> list[str]:
    return ["--quiet", str(quiet_ms)] if quiet_ms > 0 else []


def qemu_direct_argv(guest: dict[str, object], cmdline: str) -> list[str]:
    """Plain QEMU booting the same kernel and initramfs as the libvirt driver's guest (from its
    fingerprint): same accel, machine, CPU model, memory and vCPUs, serial console on stdout,
    no libvirt."""
    kvm = guest["accel"] == "kvm"
    memory = int(str(guest["memory_bytes"])) >> 20
    return [tool(QEMU), "-accel", str(guest["accel"]), "-machine", str(guest["machine"]),
            "-cpu", "host" if kvm else str(guest["cpu_model"]), "-m", f"{memory}M",
            "-smp", str(guest["vcpus"]), "-nodefaults", "-no-user-config", "-nographic",
            "-serial", "stdio", "-net", "none", "-no-reboot", "-kernel", str(guest["kernel"]),
            "-initrd", str(guest["initramfs"]), "-append", cmdline]


def qemu_by_hand_argv(guest: dict[str, object], cmdline: str) -> list[str]:
    """Plain QEMU of the qemu driver's machine (from its fingerprint), written out here: the
    same machine settings, kernel, initramfs, accel, CPU, memory and vCPUs, its serial console
    on stdout; no QMP, not started paused, nothing of bench's in between."""
    kvm = guest["accel"] == "kvm"
    memory = int(str(guest["memory_bytes"])) >> 20
    if guest["machine"] == "microvm":
        pit, rtc = ("on" if guest.get(device) else "off" for device in ("pit", "rtc"))
        machine = f"microvm,x-option-roms=off,pit={pit},pic=off,rtc={rtc},acpi=off"
    else:
        machine = "q35,usb=off,graphics=off"
    return [tool(QEMU), "-M", machine, "-accel", str(guest["accel"]),
            "-cpu", "host" if kvm else str(guest["cpu_model"]), "-m", f"{memory}M",
            "-smp", str(guest["vcpus"]), "-nodefaults", "-no-user-config", "-display", "none",
            "-serial", "stdio", "-no-reboot", "-kernel", str(guest["kernel"]),
            "-initrd", str(guest["initramfs"]), "-append", cmdline]


# --- memory ---------------------------------------------------------------------------


def rollup_pss(pid: int) -> int:
    """Pss of a process from /proc/PID/smaps_rollup, in bytes."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError as error:
        raise ReferenceError(f"cannot read smaps_rollup of {pid}: {error.strerror}") from error
    found = re.search(r"^Pss:\s+(\d+) kB$", text, re.MULTILINE)
    if found is None:
        raise ReferenceError(f"no Pss in smaps_rollup of {pid} (has it exited?)")
    return int(found.group(1)) * 1024


def cgroup_charge(pid: int, leave: str | None = None) -> int:
    """What the memory cgroup of a process is charged, from the cgroup's own file (v1
    memory.usage_in_bytes, else v2 memory.current). With `leave`, a cgroup of that name
    (libvirt's `emulator`, which holds only QEMU's main thread) counts as its parent."""
    folder = memory_cgroup_dir(pid)
    name = "memory.current" if (folder / "memory.current").exists() else "memory.usage_in_bytes"
    if leave is not None and folder.name == leave:
        folder = folder.parent
    try:
        return int((folder / name).read_text())
    except (OSError, ValueError) as error:
        raise ReferenceError(f"cannot read {folder / name}: {error}") from error


def memory_cgroup_dir(pid: int) -> Path:
    """The directory of the memory cgroup a process is in (v1's memory controller, else v2)."""
    try:
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    except OSError as error:
        raise ReferenceError(f"cannot read the cgroups of {pid}: {error.strerror}") from error
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            return CGROUP_ROOT / "memory" / path.lstrip("/")
        if controllers == "" and (CGROUP_ROOT / "cgroup.controllers").exists():
            return CGROUP_ROOT / path.lstrip("/")
    raise ReferenceError(f"process {pid} is in no memory cgroup this host shows")


def cgroup_members(pid: int) -> list[int]:
    """The process and every other one in its memory cgroup (cgroup.procs), it first."""
    try:
        members = [int(x) for x in (memory_cgroup_dir(pid) / "cgroup.procs").read_text().split()]
    except (OSError, ValueError) as error:
        raise ReferenceError(f"cannot list the cgroup of {pid}: {error}") from error
    return [pid, *(member for member in members if member != pid)]


def children(pid: int) -> list[int]:
    """A process's children (/proc/PID/task/PID/children)."""
    try:
        found = [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except (OSError, ValueError) as error:
        raise ReferenceError(f"cannot list the children of {pid}: {error}") from error
    if not found:
        raise ReferenceError(f"process {pid} has no child")
    return found


def monitor_guest_ram(domain: str, pid: int, uri: str) -> int:
    """Resident size (Rss) of the guest's RAM as QEMU itself places it: the host address of
    guest physical address 1 MiB (HMP gpa2hva through virsh), and the QEMU mapping that
    holds it in /proc/PID/smaps."""
    out = run_tool([tool("virsh"), "-c", uri, "qemu-monitor-command", "--hmp", domain,
                    "gpa2hva 0x100000"]).stdout
    return gpa2hva_rss(pid, out)


def gpa2hva_rss(pid: int, answer: str) -> int:
    """Rss of the QEMU mapping at the host address HMP's `gpa2hva` answered."""
    found = re.search(r"is (0x[0-9a-f]+)", answer)
    if found is None:
        raise ReferenceError(f"QEMU's monitor gave no host address: {answer.strip()!r}")
    return mapping_rss(pid, int(found.group(1), 16))


def mapping_rss(pid: int, address: int) -> int:
    """Rss in bytes of the mapping of process `pid` that holds `address`."""
    try:
        text = Path(f"/proc/{pid}/smaps").read_text()
    except OSError as error:
        raise ReferenceError(f"cannot read smaps of {pid}: {error.strerror}") from error
    inside = False
    for line in text.splitlines():
        head = line.split(" ", 1)[0]
        if re.fullmatch(r"[0-9a-f]+-[0-9a-f]+", head):
            low, high = (int(x, 16) for x in head.split("-"))
            inside = low <= address < high
        elif inside and head == "Rss:":
            return int(line.split()[1]) * 1024
    raise ReferenceError(f"no mapping of {pid} holds {address:#x}")
