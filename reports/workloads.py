"""The report's Workloads section: per command workload, each runtime's metric with its 95 %
interval and its ratio to the plain process (from the same run, interleaved), which way is
better, what each runtime's scratch storage was, which runtimes ran shorter runs, and notes
that say what the numbers mean.

Each workload has main figures, the ones its tool exists to measure (`main_metrics`: sysbench's
events/s, fio's IOPS and p99 latency, redis-benchmark's requests/s, a server's start): the
first screen quotes them (reports.overview) and the section draws them, one chart per
workload (reports.workload_figures).

`workload_table` computes everything the section shows from the Analysis;
reports.sections.workloads hands it to templates/sections/workloads.html.j2.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from reports.analysis import Analysis, Ratio, RunView, Stat
from reports.notes import drivers_of, uses_tcg

# what a command workload's section quotes, besides its tool's own workload.* metrics
SHOWN = ("workload.", "cpu.host_per_guest", "memory.peak", "start.total", "start.response")
HIDDEN = ("workload.cpu_time", "workload.duration_host")
# a workload's main figures: what its tool reports per second, and its tail latency; else a
# server's start; else what the user declared; else the command's duration
THROUGHPUT = ("_per_s", "_iops", "_rps")
LATENCY = ("_clat_p99",)
OWN = ("workload.duration", *HIDDEN)
MAX_MAIN = 4


@dataclass(frozen=True)
class Cell:
    """One runtime's figure for one workload metric."""

    label: str
    median: float | None
    ci_low: float | None
    ci_high: float | None
    ratio: Ratio | None
    failed: int
    n: int
    ci_note: str | None = None  # why the median has no interval
    ratio_point: float | None = None  # the ratio, also when it has no interval
    ratio_note: str | None = None  # why the ratio has no interval


@dataclass(frozen=True)
class Row:
    workload: str
    metric: str
    unit: str
    direction: str  # "higher" or "lower" is better
    cells: tuple[Cell, ...]
    main: bool = False  # one of the workload's main figures


@dataclass(frozen=True)
class WorkloadTable:
    rows: list[Row]
    labels: list[str]
    storage: list[tuple[str, str]]  # (runtime label, what its scratch storage was)
    shorter: list[str]  # sentences: runtimes that ran fewer repetitions or shorter runs
    notes: list[str]
    tcg: list[str] = field(default_factory=list)  # labels of guests emulated by TCG
    commands: dict[str, str] = field(default_factory=dict)  # workload -> its command line
    own: set[tuple[str, str]] = field(default_factory=set)  # (label, workload): own command

    def by_workload(self) -> list[tuple[str, list[Row]]]:
        """The rows of each workload, workloads in order."""
        names = list(dict.fromkeys(row.workload for row in self.rows))
        return [(name, [row for row in self.rows if row.workload == name]) for name in names]


def command_workloads(run: RunView) -> dict[str, dict[str, Any]]:
    return {name: spec for name, spec in run.manifest.config.workloads.items()
            if spec.get("mode") == "command"}


def shown(metric: str) -> bool:
    return metric.startswith(SHOWN) and metric not in HIDDEN


def direction_of_row(run: RunView, workload: str, metric: str) -> str:
    rows = run.detail[(run.detail.workload == workload) & (run.detail.metric == metric)]
    found = [str(d) for d in rows.get("direction", []) if isinstance(d, str) and d]
    return found[0] if found else "lower"


def rows_of(analysis: Analysis) -> list[Row]:
    rows: list[Row] = []
    for run in analysis.runs:
        names = command_workloads(run)
        stats = [s for s in analysis.stats if s.run == run.name and s.workload in names
                 and shown(s.metric)]
        keys = dict.fromkeys((s.workload, s.metric) for s in stats)
        mains = {w: main_metrics([m for wl, m in keys if wl == w]) for w in names}
        order = sorted(keys, key=lambda k: (list(names).index(k[0]), k[1] not in mains[k[0]],
                                            main_rank(k[1]) if k[1] in mains[k[0]] else rank(k[1])))
        for workload, metric in order:
            cells = tuple(cell(s) for s in stats if (s.workload, s.metric) == (workload, metric))
            unit = next(s.unit for s in stats if s.metric == metric)
            rows.append(Row(workload, metric, unit, direction_of_row(run, workload, metric), cells,
                            metric in mains[workload]))
    return rows


def main_metrics(metrics: Iterable[str]) -> list[str]:
    """A workload's main figures among its metrics: its tool's throughputs and p99 latencies
    (events/s, MiB/s, IOPS, requests/s, bit/s, bogo-ops/s), else a server's start, else the
    metrics the user declared, else the command's duration; at most MAX_MAIN."""
    own = sorted(m for m in metrics if m.startswith("workload.") and m not in OWN)
    for found in ([m for m in own if m.endswith(THROUGHPUT + LATENCY)],
                  [m for m in metrics if m == "start.total"], own,
                  [m for m in metrics if m == "workload.duration"]):
        if found:
            return sorted(found, key=main_rank)[:MAX_MAIN]
    return []


def main_rank(metric: str) -> tuple[bool, str]:
    """Throughputs before latencies, each by name (read before write)."""
    return (metric.endswith(LATENCY), metric)


def rank(metric: str) -> tuple[int, str]:
    return (0 if metric.startswith("workload.") and metric != "workload.duration" else
            1 if metric.startswith(("workload.", "start.")) else 2, metric)


def cell(stat: Stat) -> Cell:
    return Cell(stat.label, stat.median, stat.ci_low, stat.ci_high, stat.ratio, stat.failed, stat.n,
                stat.ci_note, stat.ratio_point, stat.ratio_note)


def storage_of(analysis: Analysis) -> list[tuple[str, str]]:
    found = []
    for run in analysis.runs:
        for runtime, fingerprint in drivers_of(run).items():
            if fingerprint.get("scratch"):
                where = f"{fingerprint['scratch']}; in {fingerprint.get('scratch_dir', '?')} " \
                        f"({fingerprint.get('scratch_fs', '?')})"
                found.append((run.label(runtime), where))
    return found


def own_commands(analysis: Analysis) -> set[tuple[str, str]]:
    """(runtime label, workload) where the runtime ran its own command (an override's argv)."""
    return {(run.label(name), workload) for run in analysis.runs
            for workload, spec in command_workloads(run).items()
            for name, override in (spec.get("overrides") or {}).items()
            if isinstance(override, dict) and override.get("argv")}


def shorter_runs(analysis: Analysis) -> list[str]:
    """Runtimes given fewer repetitions or their own (shorter) command, as configured."""
    found = []
    for run in analysis.runs:
        config = run.manifest.config
        for name, spec in config.runtimes.items():
            if spec.get("repetitions"):
                found.append(f"{run.label(name)} ran {spec['repetitions']} repetitions (the run: "
                             f"{config.repetitions}).")
        for workload, spec in command_workloads(run).items():
            for name, override in (spec.get("overrides") or {}).items():
                if isinstance(override, dict) and override.get("argv"):
                    found.append(f"{run.label(name)} ran {workload} as "
                                 f"`{' '.join(map(str, override['argv']))}` instead of "
                                 f"`{' '.join(map(str, spec.get('argv') or []))}`.")
    return found


NOTES = [
    "Each figure is the median over instances with its 95 % interval; the ratio divides it by "
    "the plain process's median from the same run (runs interleaved, so drift cancels). For "
    "a throughput (higher is better) a ratio below 1 is a cost; for a time or latency (lower "
    "is better) a ratio above 1 is.",
    "CPU-bound work costs a container almost nothing: its instructions run on the host CPU "
    "at full speed, and namespaces, cgroups and seccomp only act when the program enters "
    "the kernel, which sysbench cpu rarely does. cpu.host_per_guest near 1 says the same: "
    "the host spent about what the program used.",
    "A TCG guest is many times slower: QEMU translates every guest instruction in software "
    "because no hardware virtualization was usable. Its numbers describe the emulator, not "
    "a KVM guest, and cpu.host_per_guest compares QEMU's host CPU time with the CPU time "
    "the guest kernel counted on its own clock (which, under TCG, also runs while QEMU "
    "waits for a host CPU, so the ratio can fall below 1 on a busy host).",
    "Disk numbers depend on where the bytes went (the storage table): the process writes to "
    "a host directory, native and docker to a bind mount of one (not the container's "
    "overlay), and a guest to an ext4 image file through virtio-blk and QEMU's block layer, "
    "with its cache mode deciding whether the host page cache sits in between. O_DIRECT "
    "skips the page cache in every runtime that allows it.",
    "Network workloads run client and server inside the instance on its own loopback: a "
    "container's loopback is the host kernel's TCP stack in another namespace (about the "
    "same cost), a guest's is the guest kernel's stack running on emulated or virtual CPUs.",
    "memory.peak is the instance's peak host charge where one exists (a cgroup's peak, QEMU's "
    "peak resident set with the guest RAM it touched); memory.peak_rss is the largest resident "
    "set among the command's own processes, measured inside, comparable across runtimes.",
]


def workload_table(analysis: Analysis) -> WorkloadTable | None:
    """What the Workloads section shows; None for runs without command workloads."""
    rows = rows_of(analysis)
    if not rows:
        return None
    notes, tcg = list(NOTES), uses_tcg(analysis)
    if not tcg:
        notes = [n for n in notes if not n.startswith("A TCG guest")]
    commands = {name: " ".join(map(str, spec.get("argv") or [])) for run in analysis.runs
                for name, spec in command_workloads(run).items()}
    return WorkloadTable(rows, analysis.labels, storage_of(analysis), shorter_runs(analysis), notes,
                         tcg, commands, own_commands(analysis))


def by_label(row: Row, labels: Iterable[str]) -> list[Cell | None]:
    found = {c.label: c for c in row.cells}
    return [found.get(label) for label in labels]
