"""The instances behind a syscall median: each instance's own figure, and where they ran.

Per-instance getppid medians of one runtime fall on a few levels a few per cent apart while
the batches inside one instance agree. tests/benchmarks/cpu_levels.py shows where the levels
come from: on one thread pinned to one CPU, with the same pages throughout, getppid steps
exactly as a fixed user-space loop's speed steps, so a level is the CPU's speed while that
instance ran (its clock, a sibling or the hypervisor sharing its core), not the instance's
placement; pinning does not remove it. The report shows the levels so that a ratio's interval
can be read against them, and says how the instances were placed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import plotly.graph_objects as go

from bench.results.numbers import format_value
from reports.analysis import Analysis
from reports.figures import Chart, color_of, label_rank, new_figure, plot_text, styled

LEVELS_METRIC = "syscall.getppid"


def instance_levels(analysis: Analysis, metric: str = LEVELS_METRIC) -> Chart | None:
    """One dot per instance (its median), per runtime and workload, with the box of their
    quartiles: the levels a median over instances is taken across."""
    found = sorted(((label, workload, values) for (label, workload, name), values
                    in analysis.instances.items() if name == metric and len(values) > 1),
                   key=lambda item: (label_rank(analysis, item[0]), item[1]))
    if not found:
        return None
    several = len({workload for _, workload, _ in found}) > 1
    figure = new_figure()
    for label, workload, values in found:
        name = f"{label} / {workload}" if several else label
        figure.add_trace(go.Box(
            y=sorted(float(v) for v in values), name=plot_text(name), boxpoints="all",
            jitter=0.5, pointpos=0, marker={"size": 6, "color": color_of(analysis, label)},
            line={"width": 1}, fillcolor="rgba(0,0,0,0)", showlegend=False,
            hoverinfo="text",
            hovertext=[plot_text(f"{name}: one instance, {format_value(float(v), 'ns')}")
                       for v in sorted(values)]))
    figure.update_yaxes(title_text=f"{metric.removeprefix('syscall.')}: ns per call, one dot "
                        "per instance")
    return styled(figure, 360, f"{metric}: each instance's median (the levels)")


def placement(drivers: Mapping[str, Any], runtimes: Iterable[str]) -> str:
    """How each runtime's instances were placed, from its driver's fingerprint: pinned to
    CPUs (the `cpus` option) or left to the scheduler."""
    pinned = {name: (drivers.get(name) or {}).get("cpus") for name in runtimes}
    free = sorted(name for name, cpus in pinned.items() if not cpus)
    parts = [f"{name} pinned to CPU(s) {cpus}" for name, cpus in sorted(pinned.items()) if cpus]
    if free:
        parts.append(f"{', '.join(free)} unpinned (the scheduler chose their CPUs)")
    return "; ".join(parts)


def level_notes(analysis: Analysis) -> list[str]:
    """The levels' reading and each run's placement, where the run timed syscalls."""
    if not any(name == LEVELS_METRIC for _, _, name in analysis.instances):
        return []
    notes = ["Each instance's getppid median sits on one of a few levels a few per cent "
             "apart: the CPU's speed while that instance ran (tests/benchmarks/cpu_levels.py "
             "shows getppid stepping exactly as a fixed user-space loop's speed steps, on one "
             "pinned thread), not where the instance was placed. Pinning does not remove the "
             "levels; only more instances, interleaved, average them out, which is why every "
             "interval here is over instances and ratios come from one sitting."]
    for run in analysis.runs:
        runtimes = sorted({key[0] for key in run.instances if key[2] == LEVELS_METRIC})
        where = placement(run.manifest.drivers, runtimes)
        if where:
            notes.append(f"Placement{f' in {run.name}' if len(analysis.runs) > 1 else ''}: "
                         f"{where}.")
    return notes
