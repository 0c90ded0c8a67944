"""The spectrum of isolation and the engine's share, computed from an Analysis.

The spectrum orders every runtime of a run by how much stands between the probe and the
host: a plain process; namespaces set up with no engine (native, lxc); an OCI runtime
called directly (runc, crun); a container engine that calls one (docker, podman); a
user-space kernel (gVisor's runsc, under any of them); a virtual machine. Each kind comes
from the driver fingerprint the run recorded (driver and OCI runtime); within a kind,
runtimes go by median boot time.

The engine tax pairs each engine with the OCI runtime called directly by the oci driver in
the same run (same runtime binary, same probe, same namespaces): docker with runc against
oci with runc, podman with runsc against oci with runsc. The difference of medians is what
the engine adds; the ratio carries the interval bench.results.estimates.ratio_of_medians gives
(none with fewer than 6 instances a side).

Every median here is over instances (one figure per instance), as the summary's and the
verdict table's: the instance is the unit of variation, and pooling batches would give a
getppid median that disagrees with the same runtime's row elsewhere in the report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from bench.results.estimates import ratio_of_medians
from bench.results.numbers import format_value
from reports.analysis import Analysis, Ratio, RunView
from reports.figures import MIB, Chart, new_figure, plot_text, pooled, styled
from reports.notes import drivers_of

KINDS = {
    "process": "plain process",
    "namespaces": "namespaces, no engine",
    "oci": "OCI runtime called directly",
    "engine": "container engine",
    "other": "other",
    "gvisor": "user-space kernel (gVisor)",
    "vm": "virtual machine",
}
DRIVER_KINDS = {"process": "process", "native": "namespaces", "lxc": "namespaces", "oci": "oci",
                "docker": "engine", "podman": "engine", "libvirt": "vm", "qemu": "vm"}
ENGINES = ("docker", "podman")
REFERENCE_DRIVER = "oci"


def kind_of(fingerprint: dict[str, Any]) -> str:
    """The spectrum kind of a runtime from its driver fingerprint."""
    if fingerprint.get("runtime") == "runsc":
        return "gvisor"
    return DRIVER_KINDS.get(str(fingerprint.get("driver")), "other")


@dataclass(frozen=True)
class Place:
    """One runtime on the spectrum: its kind, and the medians the figure draws."""

    label: str
    kind: str
    boot: float | None  # ms
    memory: float | None  # bytes: host PSS plus resident guest RAM
    getppid: float | None  # ns
    getppid_ratio: Ratio | None  # against the run's process baseline


def median_of(analysis: Analysis, label: str, metric: str) -> float | None:
    """The median over instances, as the summary's for the same row (not over pooled batches)."""
    values = pooled(analysis, label, metric, per_instance=True)
    return float(np.median(values)) if len(values) else None


def memory_of(analysis: Analysis, label: str) -> float | None:
    host = median_of(analysis, label, "memory.host_pss")
    return None if host is None else host + (median_of(analysis, label, "memory.guest_ram") or 0.0)


def kinds_by_label(analysis: Analysis) -> dict[str, str]:
    return {run.label(name): kind_of(fingerprint) for run in analysis.runs
            for name, fingerprint in drivers_of(run).items()}


def spectrum(analysis: Analysis) -> list[Place]:
    """Every runtime that booted, from the plain process to the VM."""
    kinds = kinds_by_label(analysis)
    ratios = {s.label: s.ratio for s in analysis.stats if s.metric == "syscall.getppid"}
    places = [Place(label, kinds.get(label, "other"), median_of(analysis, label, "boot.total"),
                    memory_of(analysis, label), median_of(analysis, label, "syscall.getppid"),
                    ratios.get(label)) for label in analysis.labels]
    order = list(KINDS)
    return sorted((p for p in places if p.boot is not None),
                  key=lambda p: (order.index(p.kind), p.boot or 0.0))


@dataclass(frozen=True)
class EngineTax:
    """An engine's boot (or teardown) against the same OCI runtime called directly."""

    engine: str  # its label
    reference: str  # the oci runtime's label
    runtime: str  # the OCI runtime both use
    metric: str  # boot.total or stop.total
    engine_ms: float
    reference_ms: float
    ratio: Ratio | None

    @property
    def share_ms(self) -> float:
        """What the engine adds: the difference of the medians."""
        return self.engine_ms - self.reference_ms


def pairs(run: RunView) -> list[tuple[str, str, str]]:
    """(engine label, reference label, OCI runtime) for each engine with a direct reference."""
    drivers = drivers_of(run)
    references: dict[str, str] = {}
    for name, fingerprint in drivers.items():
        if fingerprint.get("driver") == REFERENCE_DRIVER and fingerprint.get("runtime"):
            references.setdefault(str(fingerprint["runtime"]), run.label(name))
    return [(run.label(name), references[str(fingerprint.get("runtime"))],
             str(fingerprint.get("runtime")))
            for name, fingerprint in drivers.items()
            if fingerprint.get("driver") in ENGINES and fingerprint.get("runtime") in references]


def engine_tax(analysis: Analysis) -> list[EngineTax]:
    """Boot and teardown of every engine against its reference, where both have samples."""
    found = []
    for run in analysis.runs:
        for engine, reference, runtime in pairs(run):
            for metric in ("boot.total", "stop.total"):
                mine = pooled(analysis, engine, metric, per_instance=True)
                theirs = pooled(analysis, reference, metric, per_instance=True)
                if len(mine) and len(theirs):
                    found.append(EngineTax(engine, reference, runtime, metric,
                                           float(np.median(mine)), float(np.median(theirs)),
                                           interval_of(mine, theirs)))
    return found


def interval_of(engine: Any, reference: Any) -> Ratio | None:
    """The ratio of the medians with its 95 % interval; None when there is none to show."""
    found = ratio_of_medians(engine, reference)
    return found.bounds() if found else None


def engine_labels(taxes: list[EngineTax]) -> list[str]:
    """The references and engines, each reference before its engines."""
    labels: list[str] = []
    for tax in taxes:
        for label in (tax.reference, tax.engine):
            if label not in labels:
                labels.append(label)
    return labels


KIND_COLORS = {"process": "#7f7f7f", "namespaces": "#2ca02c", "oci": "#1f77b4", "engine": "#ff7f0e",
               "other": "#bcbd22", "gvisor": "#9467bd", "vm": "#d62728"}
PANELS = (("boot", "boot.total, ms", 1.0, "ms"),
          ("memory", "host memory per idle instance, MiB", MIB, "bytes"),
          ("getppid", "getppid, ns per call", 1.0, "ns"))


def spectrum_chart(places: list[Place]) -> Chart | None:
    """Three panels sharing the runtimes' axis: boot, memory and getppid, each on a log axis
    (they span orders of magnitude from the process to the VM), bars coloured by kind."""
    panels = [panel for panel in PANELS if any(getattr(p, panel[0]) for p in places)]
    if not places or not panels:
        return None
    figure = make_subplots(rows=1, cols=len(panels), shared_yaxes=True, horizontal_spacing=0.04,
                           figure=new_figure())
    names = [plot_text(p.label) for p in places]
    shown: set[str] = set()
    for column, (key, title, scale, unit) in enumerate(panels, start=1):
        for place, name in zip(places, names, strict=True):
            value = getattr(place, key)
            if not value:
                continue
            figure.add_trace(go.Bar(
                y=[name], x=[value / scale], orientation="h", name=plot_text(KINDS[place.kind]),
                legendgroup=place.kind, showlegend=place.kind not in shown,
                marker_color=KIND_COLORS[place.kind],
                hoverinfo="text", hovertext=[f"{name}: {format_value(value, unit)}"]),
                row=1, col=column)
            shown.add(place.kind)
        figure.update_xaxes(type="log", title_text=plot_text(title), row=1, col=column)
    figure.update_yaxes(autorange="reversed", categoryorder="array", categoryarray=names)
    figure.update_layout(bargap=0.3)
    return styled(figure, 80 + 34 * len(places),
                  "The spectrum: from the plain process to the VM (log axes, medians)")
