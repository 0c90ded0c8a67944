"""The report's sections, in reading order: each is a small function that returns a Section.

A function returns None when its section would have nothing to show, and the page and
its navigation leave that section out: a density run's report has no empty boot,
memory and syscall cards.

Adding a section (a Workloads table, a runtime spectrum, Cross-checks) takes:
- a function `name(analysis) -> Section | None`, listed in SECTIONS where it belongs;
- for charts only, nothing else: Section(charts=[...]) draws them in the plain card
  (templates/section.html.j2) with the notes beside them;
- for anything else, a template sections/<key>.html.j2 that extends section.html.j2 and
  fills its `content` block from `section.data` (sections/verdict.html.j2 is an example).
Values in `data` are plain Python objects: the templates escape every one of them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.results.crosschecks import CrossCheck, read_checks, tolerance_text
from bench.results.numbers import format_value
from reports import figures
from reports.analysis import Analysis, Change, RunView, Stat, is_headline, is_phase, trend
from reports.figures import Chart
from reports.hypervisor import NOTES as STACK_NOTES
from reports.hypervisor import stack_chart, stack_shares
from reports.intervals import difference_text
from reports.levels import instance_levels, level_notes
from reports.notes import NOTES, drivers_of, skipped_runtimes, uses_tcg
from reports.overview import overview, repetitions, when
from reports.spectrum import KINDS, engine_labels, engine_tax, spectrum_chart
from reports.spectrum import spectrum as runtime_spectrum
from reports.storms import storm_section
from reports.workload_figures import findings_chart, workload_chart
from reports.workloads import by_label, rows_of, workload_table


@dataclass(frozen=True)
class Section:
    """One card of the page: its anchor, title, nav entry, notes, charts and template data."""

    key: str  # the element id and the nav anchor
    title: str
    nav: str  # the link text in the navigation bar
    notes: Sequence[str] = ()  # plain-language "what this means", beside the content
    charts: Sequence[Chart] = ()
    data: Mapping[str, Any] = field(default_factory=dict)  # what the section's template reads
    wide: bool = False  # full-width content with the notes above it (tables)
    template: str = "section.html.j2"


def sections(analysis: Analysis) -> list[Section]:
    return [s for build in SECTIONS if (s := build(analysis)) is not None]


def summary(analysis: Analysis) -> Section:
    """The first screen; for command workloads, one chart of their main figures' ratios."""
    rows = rows_of(analysis)
    baselines = [run.label(run.baseline) for run in analysis.runs if run.baseline]
    chart = findings_chart(rows, baselines[0], uses_tcg(analysis),
                           {label: figures.color_of(analysis, label) for label in analysis.labels}
                           ) if rows and baselines else None
    return Section("summary", "What this run measured", "Summary", charts=charts(chart),
                   data={"overview": overview(analysis)}, wide=True,
                   template="sections/summary.html.j2")


FAMILIES = (("boot", "Boot"), ("memory", "Memory"), ("syscall", "Syscalls"), ("stop", "Teardown"))
METRIC_ORDER = ("boot.total", "memory.host_pss", "memory.guest_ram", "memory.cgroup",
                "memory.overhead", *(f"syscall.{name}" for name in figures.SYSCALL_ORDER))


@dataclass(frozen=True)
class Family:
    """One verdict table: the rows that matter (failures, then differences from the baseline),
    and the rest, folded (no difference the samples show, the baseline, no ratio)."""

    title: str
    shown: list[Stat]
    folded: list[Stat]

    @property
    def untold(self) -> int:
        """Folded rows whose ratio has no interval: whether they differ, the samples cannot say."""
        return sum(1 for stat in self.folded if stat.ratio is None and stat.ratio_point is not None)


def verdict(analysis: Analysis) -> Section | None:
    headline = [s for s in analysis.stats if is_headline(s.metric)]
    failed = failed_cells(analysis)
    families = [family_table(title, ordered(analysis, rows), failed)
                for family, title in [*FAMILIES, ("", "Other")]
                if (rows := [s for s in headline if family_of(s.metric) == family])]
    phases = ordered(analysis, [s for s in analysis.stats if is_phase(s.metric)])
    if not families and not phases:
        return None
    return Section("verdict", "Verdict: every runtime and metric", "Verdict", NOTES["verdict"],
                   data={"families": families, "phases": phases, "failed_cells": failed},
                   wide=True, template="sections/verdict.html.j2")


def family_table(title: str, stats: list[Stat], failed: dict[tuple[str, str], int]) -> Family:
    """Failures first, then worse, then better; everything else folded, in reading order."""
    order = {"failed": 0, "worse": 1, "better": 2}
    kinds = [(stat, standing(stat, failed)) for stat in stats]
    shown = sorted((item for item in kinds if item[1] in order), key=lambda item: order[item[1]])
    return Family(title, [stat for stat, _ in shown], [s for s, kind in kinds if kind not in order])


def failed_cells(analysis: Analysis) -> dict[tuple[str, str], int]:
    """Failed cells (repetitions) per runtime label and workload, where there are any."""
    return {(run.label(runtime), workload): count for run in analysis.runs
            for (runtime, workload, metric), count in run.failed.items() if metric == "cell"}


def standing(stat: Stat, failed: dict[tuple[str, str], int]) -> str:
    """failed (a failed sample or cell, or no measurement), worse, better, or same (the rest)."""
    if stat.failed or stat.median is None or (stat.label, stat.workload) in failed:
        return "failed"
    return trend(stat.ratio, stat.metric, stat.direction) if stat.ratio else "same"


def family_of(metric: str) -> str:
    family = metric.split(".", 1)[0]
    return family if family in {f for f, _ in FAMILIES} else ""


def metric_rank(metric: str) -> int:
    return METRIC_ORDER.index(metric) if metric in METRIC_ORDER else len(METRIC_ORDER)


def ordered(analysis: Analysis, stats: Iterable[Stat]) -> list[Stat]:
    """Headline metrics first, in reading order; then runtimes from lightest to heaviest."""
    def key(stat: Stat) -> tuple[int, str, int, str]:
        return (metric_rank(stat.metric), stat.metric, figures.label_rank(analysis, stat.label),
                stat.workload)
    return sorted(stats, key=key)


def charts(*made: Chart | None) -> list[Chart]:
    return [chart for chart in made if chart is not None]


def tcg_notes(analysis: Analysis) -> list[str]:
    return NOTES["tcg"] if uses_tcg(analysis) else []


def boot(analysis: Analysis) -> Section | None:
    drawn = charts(figures.boot_phases(analysis), figures.boot_distribution(analysis))
    return Section("boot", "Boot: from request to ready", "Boot",
                   NOTES["boot"] + tcg_notes(analysis), drawn) if drawn else None


def memory(analysis: Analysis) -> Section | None:
    drawn = charts(figures.memory_breakdown(analysis), figures.memory_overhead(analysis))
    return Section("memory", "Memory: what an idle instance costs", "Memory", NOTES["memory"],
                   drawn) if drawn else None


def syscalls(analysis: Analysis) -> Section | None:
    drawn = charts(figures.syscall_latency(analysis), figures.syscall_ratio(analysis),
                   instance_levels(analysis))
    return Section("syscalls", "Syscalls: the cost of one call", "Syscalls",
                   NOTES["syscalls"] + level_notes(analysis) + tcg_notes(analysis),
                   drawn) if drawn else None


def workloads(analysis: Analysis) -> Section | None:
    """Command workloads: each runtime's metric, its interval and its ratio to the process."""
    found = workload_table(analysis)
    if found is None:
        return None
    groups = [{"workload": workload, "command": found.commands.get(workload, ""),
               "chart": workload_chart(workload, rows, found.tcg),
               "rows": [(row, by_label(row, found.labels)) for row in rows],
               "cells": [cell for row in rows for cell in by_label(row, found.labels)],
               "own": [label for label in found.labels if (label, workload) in found.own]}
              for workload, rows in found.by_workload()]
    return Section("workloads", "Workloads: your programs in every runtime", "Workloads",
                   found.notes, data={"labels": found.labels, "groups": groups,
                                      "storage": found.storage, "shorter": found.shorter},
                   wide=True, template="sections/workloads.html.j2")


def spectrum(analysis: Analysis) -> Section | None:
    """Every runtime from the plain process to the VM: boot, memory, getppid; and the
    runtimes the host could not run, with the reason."""
    places = runtime_spectrum(analysis)
    skipped = [(label, reason) for run in analysis.runs
               for label, reason in skipped_runtimes(run).items()]
    if len(places) < 2 and not skipped:
        return None
    rows = [{"label": p.label, "kind": KINDS[p.kind], "boot": p.boot, "memory": p.memory,
             "getppid": p.getppid, "ratio": p.getppid_ratio} for p in places]
    return Section("spectrum", "The spectrum: from a process to a VM", "Spectrum",
                   NOTES["spectrum"], charts(spectrum_chart(places)),
                   data={"rows": rows, "skipped": skipped}, wide=True,
                   template="sections/spectrum.html.j2")


def engine(analysis: Analysis) -> Section | None:
    """Docker's and podman's boot and teardown against the OCI runtime they call, run directly."""
    taxes = engine_tax(analysis)
    if not taxes:
        return None
    chart = figures.phase_chart(analysis, engine_labels(taxes),
                                "Boot phases: each engine beside its OCI runtime called directly")
    return Section("engine", "The engine's share: docker and podman against runc alone",
                   "Engine tax", NOTES["engine"], charts(chart), data={"taxes": taxes},
                   wide=True, template="sections/engine.html.j2")


def hypervisor(analysis: Analysis) -> Section | None:
    """libvirt against QEMU's q35 (the management stack), q35 against microvm (the machine
    model), stage by stage (reports.hypervisor)."""
    found = stack_shares(analysis)
    if not found:
        return None
    return Section("hypervisor", "The hypervisor stack's share: libvirt, q35 and microvm",
                   "Hypervisor stack", STACK_NOTES + tcg_notes(analysis),
                   charts(stack_chart(analysis, found)), data={"pairs": found}, wide=True,
                   template="sections/hypervisor.html.j2")


def density(analysis: Analysis) -> Section | None:
    drawn = figures.density_charts(analysis)
    return Section("density", "Density: many instances at once", "Density", NOTES["density"],
                   drawn) if drawn else None


def storms(analysis: Analysis) -> Section | None:
    """Start storms (reports/storms.py): latency and throughput against N, per runtime."""
    found = storm_section(analysis)
    return None if found is None else Section(
        "storms", "Start storms: many instances asked for at once", "Storms", found.notes,
        found.charts, data={"rows": found.rows}, wide=True, template="sections/storms.html.j2")


def changes(analysis: Analysis) -> Section | None:
    if not analysis.changes:
        return None
    first = analysis.runs[0]

    def key(change: Change) -> tuple[int, str, int, str, str]:
        return (metric_rank(change.metric), change.metric,
                figures.label_rank(analysis, first.label(change.runtime)), change.workload,
                change.against)

    shown = sorted(analysis.changes, key=key)
    notes = list(dict.fromkeys(c.note for c in shown if c.ratio is None and c.note))
    return Section("changes", f"Changes against {first.name}", "Changes", NOTES["changes"],
                   data={"first": first.name, "changes": shown, "notes": notes},
                   wide=True, template="sections/changes.html.j2")


def setup(analysis: Analysis) -> Section:
    runs = [{"name": run.name, "run": run_facts(run), "host": host_facts(run),
             "mitigations": mitigations(run), "drivers": driver_rows(run)}
            for run in analysis.runs]
    return Section("setup", "Run, host and drivers", "Setup", NOTES["setup"],
                   data={"runs": runs, "several": len(runs) > 1}, wide=True,
                   template="sections/setup.html.j2")


Facts = list[tuple[str, str]]


def facts(items: Iterable[tuple[str, Any]]) -> Facts:
    """(label, text) pairs, the empty ones left out."""
    return [(str(k), text_of(v)) for k, v in items if v not in (None, "", {}, [])]


def text_of(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def run_facts(run: RunView) -> Facts:
    manifest = run.manifest
    config = manifest.config
    runtimes = {name: config.driver_of(name) for name in config.runtimes}
    workloads = {name: config.mode_of(name) for name in config.workloads}
    return facts([
        ("results", str(run.path)), ("started", when(manifest.created)),
        ("status", manifest.status), ("run id", manifest.run_id),
        ("config", manifest.config_path), ("description", config.description),
        ("repetitions", repetitions(config)),
        ("runtimes", ", ".join(f"{k} ({v})" for k, v in runtimes.items())),
        ("workloads", ", ".join(f"{k} ({v})" for k, v in workloads.items())),
        ("baseline", run.baseline or "none"),
        ("not run here", "; ".join(f"{k}: {v}" for k, v in skipped_runtimes(run).items()))])


HOST_FIELDS = (("kernel", "kernel"), ("kernel_version", "kernel build"), ("arch", "arch"),
               ("cpu_model", "CPU"), ("cores", "cores"), ("memory_bytes", "memory"),
               ("cgroup_version", "cgroup version"), ("hostname", "hostname"),
               ("python", "Python"), ("bench_version", "bench"), ("bench_commit", "commit"))


def host_facts(run: RunView) -> Facts:
    host = run.manifest.host
    known = [(label, host_value(key, host.get(key))) for key, label in HOST_FIELDS]
    other = [(k, v) for k, v in host.items() if k not in dict(HOST_FIELDS) and k != "mitigations"]
    return facts(known + other)


def host_value(key: str, value: Any) -> Any:
    if key == "memory_bytes" and isinstance(value, int | float):
        return format_value(float(value), "bytes")
    return value


def mitigations(run: RunView) -> str:
    listed = run.manifest.host.get("mitigations") or {}
    if isinstance(listed, dict):
        return "; ".join(f"{k}: {v}" for k, v in listed.items())
    return text_of(listed)


KEY_FACTS = ("isolation", "accel", "seccomp", "runtime", "runtime_version", "engine_version",
             "containerd_version", "libvirt_version", "hypervisor_version", "domain_type",
             "cpu_model", "cgroup_version")


def driver_rows(run: RunView) -> list[dict[str, str]]:
    """The facts that decide each runtime's numbers; the whole fingerprint folds out."""
    return [{"runtime": name, "driver": str(fingerprint.get("driver", "?")),
             "key": " \u00b7 ".join(f"{k}: {text_of(fingerprint[k])}" for k in KEY_FACTS
                                    if fingerprint.get(k) not in (None, "", [], {})),
             "fingerprint": json.dumps(fingerprint, indent=1, sort_keys=True, default=str)}
            for name, fingerprint in drivers_of(run).items()]


VERDICT_CLASS = {"agree": "better", "disagree": "worse", "unclear": "same", "failed": "worse"}


def crosschecks(analysis: Analysis) -> Section | None:
    """`bench verify`'s lines (verify.json), for the runs that have them."""
    runs = [{"name": run.name, "rows": [crosscheck_row(check) for check in checks]}
            for run in analysis.runs if (checks := read_checks(run.path))]
    if not runs:
        return None
    return Section("crosschecks", "Cross-checks: bench against independent references",
                   "Cross-checks", NOTES["crosschecks"], data={"runs": runs}, wide=True,
                   template="sections/crosschecks.html.j2")


def crosscheck_row(check: CrossCheck) -> dict[str, str]:
    result = check.agreement()
    return {"figure": check.figure, "runtime": check.runtime, "reference": check.reference,
            "how": check.how, "bench": format_value(result.bench, check.unit),
            "reference_value": format_value(result.reference, check.unit),
            "difference": difference_text(result), "tolerance": tolerance_text(check),
            "verdict": result.verdict, "verdict_class": VERDICT_CLASS[result.verdict],
            "n": f"{len(check.bench)} / {len(check.reference_values)}"}


# the page in reading order: the first screen, the numbers, the charts, the cross-checks, then
# the setup
SECTIONS: tuple[Callable[[Analysis], Section | None], ...] = (
    summary, verdict, boot, memory, syscalls, workloads, spectrum, engine, hypervisor, density,
    storms, changes, crosschecks, setup)
