"""The report's words: plain-language notes beside each section, and warnings about a run.

Notes say what a number means and why runtimes differ, so a reader who has never
looked inside a hypervisor comes away knowing more. Warnings say when the numbers
deserve less trust. Everything here is plain text; the templates escape it (Jinja2 autoescape).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pandas as pd

from bench.results.estimates import min_instances
from bench.results.recorded_noise import STEAL_PERCENT, noise_change
from reports.analysis import Analysis, RunView, Stat

MIN_REPETITIONS = min_instances()  # the fewest instances a 95 % interval of a median needs
WIDE_CI = 0.20  # an interval wider than this share of its median is flagged
MAX_LISTED = 8

NOTES: dict[str, list[str]] = {
    "setup": [
        "Numbers only compare when they come from the same host, kernel and settings: "
        "this section records them. The drivers' fingerprints say which engine, "
        "seccomp profile and accelerator each runtime really used.",
    ],
    "verdict": [
        "Each row is one runtime's metric in one workload. n counts instances (one per "
        "repetition): each instance is summarised by the median of its samples first, "
        "because samples inside one instance agree closely while instances differ. The "
        "median is the middle of those per-instance figures; the 95 % interval is the exact, "
        "distribution-free interval of that median (order statistics), which needs at least "
        f"{min_instances()} instances: rows with fewer say so instead of showing one.",
        "The ratio divides by the plain process measured in the same run, cells interleaved, "
        "so slow drift of the machine cancels; its interval joins both medians' intervals. "
        "A ratio whose interval contains 1 means \u201cno difference we can see\u201d. "
        "`bench summary DIR --json` prints the same numbers.",
    ],
    "boot": [
        "Boot is the time from asking for an instance to the moment the host sees the probe's "
        "ready line, all on the host's clock. The probe prints that line first, so boot does "
        "not depend on the workload; the charts pool every workload.",
        "A plain process only needs fork and exec. A namespace runtime also creates "
        "namespaces and a cgroup. Docker adds a round trip to its daemon, containerd and a "
        "shim, and runc sets up the container: it still shares the host kernel, so nothing "
        "has to boot. A virtual machine must start a VMM, then firmware, then a whole guest "
        "kernel, before the probe runs as its init: that is why it takes seconds.",
        "Phases are the driver's own steps, each ending at a mark on the host clock; in time "
        "order they add up to the total (the bar shows each phase's median, so the sum can "
        "differ slightly from the median total).",
        "Reading the cumulative chart: each line climbs from 0 to 100 % as boots finish. "
        "Further right is slower, a steep line is a consistent runtime, a tail to the right "
        "is an occasional slow boot. On a log axis equal distances are equal ratios: 1 to "
        "10 ms is as far as 1 to 10 s.",
    ],
    "memory": [
        "PSS (proportional set size) counts each memory page a process maps, divided by "
        "the number of processes sharing it: a shared library used by ten processes costs "
        "each of them a tenth. Summed over processes, PSS adds up to real memory use, "
        "which plain RSS does not.",
        "Host PSS covers every host process an instance needs: the workload itself, a "
        "container's shim, a VMM such as QEMU (its guest RAM mapping excluded). Guest RAM "
        "is what the guest kernel has actually touched of the memory it was given. The "
        "cgroup charge is what the kernel bills the instance's cgroup; it counts the same "
        "pages differently (page cache, kernel memory), so it is drawn as a marker, not "
        "added to the bars.",
        "memory.overhead is an instance's total host cost (host PSS plus guest RAM) minus "
        "the cost of the same idle probe run as a plain process in the same run: what "
        "isolation itself costs.",
    ],
    "syscalls": [
        "The probe times batches of calls inside the instance and subtracts the cost of an "
        "empty loop. getppid is the null system call: it measures the trip into the kernel "
        "and back. clock_gettime normally never enters the kernel (the vDSO answers it in "
        "user space). read and write move one byte; open_close and stat walk a path.",
        "A container runs on the host kernel, but every syscall first passes its seccomp "
        "filter (a small BPF program), which adds tens of nanoseconds; namespaces and "
        "cgroups add a little more on some paths. A guest's syscalls stay inside the guest "
        "kernel and cost about what they cost on bare metal with hardware virtualization; "
        "only exits to the hypervisor (I/O, some timers) are expensive. In a guest, "
        "clock_gettime stays in the vDSO only if the guest's clock source allows it "
        "(kvm-clock or the TSC); otherwise every call enters the guest kernel.",
        "The second chart divides each runtime's median by the plain process's: 1.3 means "
        "30 % slower than on the host, and the dashed line is \u201cno difference\u201d.",
        "A container without a seccomp filter can read a few per cent below the process on "
        "getppid, and that is the kernel, not noise: the probe is PID 1 of its own PID "
        "namespace there, its parent is outside it, and the kernel answers 0 after one "
        "comparison instead of translating the parent's pid into the caller's namespace "
        "(about 1.4 ns here: getppid less getpid is 2.4-2.6 ns in the host's namespace and "
        "0.6-1.3 ns under unshare --pid, tests/benchmarks/getppid_namespace.c).",
    ],
    "tcg": [
        "At least one guest ran under TCG: QEMU translated and emulated every guest "
        "instruction in software because the host offered no usable hardware "
        "virtualization (KVM). Its boot and syscall numbers are many times slower than a "
        "KVM guest's and describe the emulator, not the cost of a hypervisor.",
    ],
    "density": [
        "Density runs start N instances side by side and measure again: the curve's slope "
        "is the cost of one more instance. Shared pages (one kernel for all containers, "
        "shared libraries) make it grow slower than N times one instance.",
        "Memory per instance is taken three ways, and they differ for a reason. The PSS "
        "measure counts only the user-space pages of the instance's host processes (and a "
        "guest's RAM). The drop in MemAvailable counts everything the host gave up, "
        "including kernel memory that no process's PSS shows: each instance's namespaces "
        "(a network namespace with its loopback device and sysctl tables is the largest), "
        "task structures and kernel stacks, page tables, and cgroup bookkeeping. For a "
        "probe of a few hundred KiB those kernel objects are most of the cost, so the "
        "MemAvailable figure for namespace runtimes can be several times the PSS figure; "
        "for Docker, whose shim process is larger, the two come closer. The cgroup "
        "charge counts what the kernel bills to the instance's cgroup: its pages and some "
        "of its kernel memory, not the processes outside it (the shim, the VMM).",
        "Three more are read beside them, each over N: the growth of the kernel's own "
        "unreclaimable memory (slab, kernel stacks, page tables, per-CPU areas), of the "
        "engine's daemons (dockerd and containerd, libvirtd), and the host's cost: "
        "MemAvailable's drop with every process's anonymous memory taken out and the "
        "instances' own charge put back in, so other work's heaps do not count. These are "
        "the whole host's figures, other work included: where a figure's interval "
        "reaches zero the host moved as much as the instances cost, and the point says "
        "\u201cbelow resolution (\u00b1 X)\u201d instead of a number (hollow, drawn at zero "
        "with a bar up to X).",
    ],
    "crosschecks": [
        "`bench verify` ran an independent reference beside each headline figure, in the same "
        "sitting and interleaved with bench's own cells, timed to the same end point: "
        "hyperfine for launches (to the probe's ready line), perf bench for getppid, plain "
        "QEMU for a guest's boot, /proc/PID/smaps_rollup, the cgroup's own file and QEMU's "
        "monitor for memory.",
        "The difference is bench / reference \u2212 1 with its 95 % interval. A timing's "
        "reference is taken right after each of bench's cells, so each cell is a pair and the "
        "difference is the median of the ratios of bench's start in each cell to each run of "
        "that cell's reference (what moves the host from one minute to the next moves both "
        "sides of a pair; one start is held against single runs, not their median, as starts "
        "can fall into modes); a memory reading is read from the same "
        "instance at the same moment. agree: the whole "
        "interval lies within the tolerance; disagree: it lies wholly outside; unclear: it "
        "straddles the tolerance (too few instances, or a busy host). Hover a reference for "
        "what exactly it measured.",
    ],
    "spectrum": [
        "Each row is one runtime of this run, ordered by how much stands between the probe "
        "and the host kernel, and within a kind by boot time. A plain process only forks and "
        "execs. The native runtime and LXC set up namespaces, a cgroup and a read-only root "
        "with a small launcher of their own. An OCI runtime (runc, crun) does the same from "
        "a JSON bundle. An engine (Docker, podman) prepares an image and storage, then calls "
        "an OCI runtime. gVisor (runsc) puts a kernel written in Go between the probe and the "
        "host. A virtual machine boots a whole guest kernel.",
        "What runc does that the native runtime does not: it is a general tool. It parses the "
        "bundle's config.json, re-executes itself (runc init) to enter the new namespaces from "
        "a fresh process (Go cannot safely do that from a running program), creates the "
        "instance's directory in every cgroup hierarchy the host mounts (not only memory and "
        "pids), fills a /dev with device nodes, masks /proc paths, loads the seccomp profile "
        "from JSON through libseccomp, runs hooks, and keeps state files so `runc start`, "
        "`kill` and `delete` (separate processes) can find the container again. Then it "
        "exits: the container's process has no runc parent.",
        "Why gVisor's syscalls cost more: the probe's system calls never reach the host "
        "kernel. The Sentry, gVisor's kernel, serves them itself. On the ptrace platform the "
        "probe runs in a stub process the Sentry traces, so each call is a stop of that "
        "process, two switches between processes and a resume: microseconds where the host "
        "needs a few hundred nanoseconds for getppid. Files go through the Gofer, a second "
        "process, which is why its memory shows a Sentry, a Gofer and the stubs that hold the "
        "probe's address space. In return, a kernel bug reachable from the container is a bug "
        "in the Sentry, not in the host.",
        "Memory is host PSS plus resident guest RAM; getppid is the null system call, the "
        "cost of one trip into whatever kernel serves the instance.",
    ],
    "engine": [
        "The engine's share: each engine against the OCI runtime it calls, run directly by the "
        "oci driver in the same run, on the same probe with the same namespaces. The "
        "difference of the medians is what the engine adds to starting (or stopping) a "
        "container; the ratio's interval says whether that difference is real.",
        "Docker is client and server: the Engine API call goes to dockerd, which creates the "
        "container (metadata, an overlay snapshot of the image), then asks containerd over "
        "gRPC, which starts a shim (containerd-shim-runc-v2) per container, which runs runc "
        "create and start, and stays as the container's parent. The phases: create "
        "(dockerd's container object), attach (the output stream, opened before start so "
        "nothing is missed), start (dockerd, containerd, the shim and runc), ready.",
        "Podman has no daemon: the podman command does the engine's work itself (image, "
        "storage, the OCI config) and exits. What stays per container is conmon, a small C "
        "program that holds the container's stdio and records its exit status, and is the "
        "parent of its process. The phases: create (podman create), start (podman start "
        "--attach: conmon, runc create and start, the attach), ready.",
        "runc called directly: run (`runc run --detach`: runc sets up namespaces, cgroups and "
        "mounts, starts the process and returns), ready. Nothing stays behind it.",
    ],
    "changes": [
        "Each row compares the same runtime, workload and metric in a later run against "
        "the first run given. The change is the ratio of medians with its 95 % interval: "
        "an interval that excludes 0 % is a change the samples support. The runs were not "
        "interleaved, so machine drift between them is part of the change.",
    ],
}


@dataclass(frozen=True)
class RunWarning:
    """One reason to trust a run's numbers less; `topic` groups them (run, accel, failed...)."""

    topic: str
    text: str


def uses_tcg(analysis: Analysis) -> list[str]:
    """Labels whose driver fingerprint records a TCG (emulated) guest."""
    return [run.label(runtime) for run in analysis.runs
            for runtime, fingerprint in drivers_of(run).items()
            if "tcg" in str(fingerprint.get("accel", "")).lower()]


def drivers_of(run: RunView) -> dict[str, dict[str, Any]]:
    return {str(k): dict(v) for k, v in run.manifest.drivers.items()}


def run_warnings(analysis: Analysis) -> list[RunWarning]:
    return [*status_warnings(analysis), *skipped_warnings(analysis), *tcg_warnings(analysis),
            *repetition_warnings(analysis), *wide_interval_warnings(analysis.stats),
            *density_warnings(analysis), *failure_warnings(analysis), *host_warnings(analysis),
            *comparison_warnings(analysis), *noise_warnings(analysis)]


def density_warnings(analysis: Analysis) -> Iterator[RunWarning]:
    """Density figures that measured the host's noise, not the instances (hollow points)."""
    found = [(run, point) for run in analysis.runs for point in run.points if point.caveat]
    for run, point in found[:MAX_LISTED]:
        yield RunWarning("density", f"{run.label(point.runtime)} / {point.metric} at "
                                    f"N={point.count}: {point.caveat}.")
    if len(found) > MAX_LISTED:
        yield RunWarning("density", f"... and {len(found) - MAX_LISTED} more density point(s) "
                                    "below resolution (hollow in the charts).")


def status_warnings(analysis: Analysis) -> Iterator[RunWarning]:
    for run in analysis.runs:
        status = run.manifest.status
        if status != "complete":
            yield RunWarning("run", f"Run {run.name} is {status}: the numbers cover only the "
                                 "cells that finished.")
        if run.baseline is None:
            yield RunWarning("run", f"Run {run.name} has no runtime with the process driver: no "
                                 "ratios to a baseline and no memory.overhead.")


def skipped_runtimes(run: RunView) -> dict[str, str]:
    """Label -> reason of the runtimes a run listed but could not run on its host (the
    config's skip_unavailable)."""
    return {run.label(str(k)): str(v) for k, v in run.manifest.skipped.items()}


def skipped_warnings(analysis: Analysis) -> Iterator[RunWarning]:
    for run in analysis.runs:
        for label, reason in skipped_runtimes(run).items():
            yield RunWarning("skipped", f"{label} was not run on this host: {reason}")


def tcg_warnings(analysis: Analysis) -> Iterator[RunWarning]:
    for label in uses_tcg(analysis):
        yield RunWarning("accel", f"{label} ran its guest under TCG (CPU emulated in software, "
                               "no KVM): its boot and syscall numbers are not those of a "
                               "hardware-accelerated VM.")


def repetition_warnings(analysis: Analysis) -> Iterator[RunWarning]:
    """One line for every runtime and workload with too few instances (often all of them)."""
    few = [f"{s.label} / {s.workload} ({s.n})" for s in analysis.stats
           if s.metric == "boot.total" and s.n < MIN_REPETITIONS]
    if few:
        yield RunWarning("repetitions", f"Fewer than {MIN_REPETITIONS} successful repetitions, "
                                        "so intervals are wide or missing: " + ", ".join(few))


def is_wide(stat: Stat) -> bool:
    if stat.median is None or stat.ci_low is None or stat.ci_high is None or stat.median == 0:
        return False
    return (stat.ci_high - stat.ci_low) > WIDE_CI * abs(stat.median)


def wide_interval_warnings(stats: list[Stat]) -> Iterator[RunWarning]:
    headline = [s for s in stats if s.metric != "memory.overhead"
                and not s.metric.startswith("density.")
                and not (s.metric.startswith("boot.") and s.metric != "boot.total")]
    wide = [s for s in headline if is_wide(s)]
    for stat in wide[:MAX_LISTED]:
        width = ((stat.ci_high or 0) - (stat.ci_low or 0)) / abs(stat.median or 1)
        yield RunWarning("interval", f"{stat.label} / {stat.workload} / {stat.metric}: the 95 % "
                                  f"interval spans {width:.0%} of the median (more than "
                                  f"{WIDE_CI:.0%}); more repetitions would narrow it.")
    if len(wide) > MAX_LISTED:
        yield RunWarning("interval", f"... and {len(wide) - MAX_LISTED} more metric(s) with wide "
                                  "intervals (see the table).")


def failed_cells(run: RunView) -> pd.DataFrame:
    frame = run.detail
    failed = frame.loc[frame["status"] != "ok", ["runtime", "workload", "reason"]].astype(object)
    return (failed.fillna({"reason": "no reason recorded"})
            .groupby(["runtime", "workload", "reason"], sort=False).size()
            .reset_index(name="count"))


def failure_warnings(analysis: Analysis) -> Iterator[RunWarning]:
    for run in analysis.runs:
        groups = failed_cells(run)
        for row in groups.head(MAX_LISTED * 2).itertuples(index=False):
            yield RunWarning("failed", f"{run.label(str(row.runtime))} / {row.workload}: "
                                    f"{row.count} failed: {row.reason}")
        if len(groups) > MAX_LISTED * 2:
            yield RunWarning("failed", f"... and {len(groups) - MAX_LISTED * 2} more kinds of "
                                    f"failure in {run.name}.")


HOST_KEYS = ("kernel", "cpu_model", "cores", "cgroup_version", "arch")


def host_warnings(analysis: Analysis) -> Iterator[RunWarning]:
    if len(analysis.runs) < 2:
        return
    first = analysis.runs[0].manifest.host
    for run in analysis.runs[1:]:
        host = run.manifest.host
        differ = [key for key in HOST_KEYS if host.get(key) != first.get(key)]
        if differ:
            yield RunWarning("host", f"{run.name} ran on a different host than "
                                  f"{analysis.runs[0].name} ({', '.join(differ)} differ): "
                                  "changes mix the host and the runtime.")


def comparison_warnings(analysis: Analysis) -> Iterator[RunWarning]:
    if len(analysis.runs) > 1 and not analysis.changes:
        yield RunWarning("changes", "The runs share no runtime, workload and metric with "
                                    f"{analysis.runs[0].name}: there is nothing to compare.")


def noise_warnings(analysis: Analysis) -> Iterator[RunWarning]:
    """The host's load moved during the run, or a hypervisor took CPU time from its cells
    (cells.jsonl records both around every cell)."""
    for run in analysis.runs:
        cores = int(run.manifest.host.get("cores") or 1)
        change = noise_change(run.path, cores)
        if change is None:
            continue
        if change.load_moved:
            yield RunWarning("noise", f"{run.name}: the host's load moved between "
                                   f"{change.load_low:.2f} and {change.load_high:.2f} over the "
                                   f"run ({cores} cores): cells ran on a machine that changed "
                                   "under them; compare ratios, and re-measure on a quiet host.")
        if change.stolen:
            worst = max(change.stolen, key=lambda item: item[1])
            yield RunWarning("noise", f"{run.name}: a hypervisor took more than "
                                   f"{STEAL_PERCENT:.0f} % of the CPU time from "
                                   f"{len(change.stolen)} cell(s) (at most {worst[1]:.1f} %, "
                                   f"{worst[0]}): their timings include that wait.")
