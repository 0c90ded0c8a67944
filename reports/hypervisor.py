"""The hypervisor stack's share: where a VM's boot and memory go, stage by stage, between
three guests of one run that boot the same kernel and initramfs under the same accelerator.

- The management stack: libvirt (its daemon, its XML, its domain lifecycle) against the
  qemu driver's q35, QEMU started directly on the same machine model (q35) with libvirt's
  settings for it. The difference is what libvirt adds.
- The machine model: q35 (SeaBIOS, PCIe, ACPI) against microvm (qboot, no PCI), both QEMU
  started directly. The difference is what the PC costs.

Each driver names its own boot phases; they fall into the same stages (the VMM starting
until the guest runs; to the first console byte; the kernel to /init; /init to the ready
marker), summed per instance, so a stage compares like with like. Intervals are those of
the engine's share (reports.spectrum.interval_of: the ratio of medians over instances, none
below 6 instances a side). Only cells of the probe's own workloads count here: a command
workload's guest adds disks (and, on a microvm, ACPI to find them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from bench.results.estimates import ratio_of_medians
from reports.analysis import Analysis, Ratio, RunView
from reports.figures import Chart, phase_chart, pooled
from reports.notes import drivers_of

# (key, what the stage is, the phases of every VM driver that fall in it)
STAGES = (
    ("start", "VMM start, until the guest runs", frozenset({"create", "console", "resume", "process",
                                                            "qmp", "running", "disks"})),
    ("firmware", "to the first console byte (firmware, or the kernel's setup code)",
     frozenset({"first_byte"})),
    ("kernel", "the kernel, to /init (host clock)", frozenset({"kernel_to_init"})),
    ("init", "/init to the ready marker", frozenset({"ready"})),
)
# what else is compared: (metric, what it is, unit)
FIGURES = (("boot.total", "boot.total: request to ready", "ms"),
           ("guest.kernel_to_init", "the kernel to /init (the guest kernel's own clock)", "ms"),
           ("memory.host_pss.vmm", "the VMM's own memory (PSS, guest RAM and TCG cache apart)",
            "bytes"),
           ("memory.host_pss.tcg_code_cache", "TCG's translation cache", "bytes"),
           ("memory.guest_ram", "guest RAM resident on the host", "bytes"))
PROBE_MODES = frozenset({"ready", "syscall", "memtouch"})
NOTES = [
    "Three guests of this run boot the same kernel and initramfs under the same accelerator. "
    "libvirt against QEMU's q35 started directly is the management stack's share: libvirtd, "
    "its domain XML and lifecycle, on the same machine model with the same settings. q35 "
    "against microvm is the machine model's share: a PC with SeaBIOS, PCIe and ACPI against "
    "QEMU's minimal machine (qboot, no PCI).",
    "Each row is one stage, summed per instance over the phases each driver names for it, "
    "then the median over instances; the ratio's 95 % interval needs 6 instances a side. The "
    "kernel's stage is seen twice: on the host's clock (the console's \"Run /init\" line) "
    "and on the guest kernel's own clock at /init, which under TCG on a busy host runs slow.",
]


@dataclass(frozen=True)
class StageRow:
    """One stage or figure of a pair: both medians, the share and the ratio."""

    stage: str
    unit: str
    candidate: float | None
    reference: float | None
    ratio: Ratio | None
    point: float | None  # the ratio, also when it has no interval
    note: str | None  # why there is no interval

    @property
    def share(self) -> float | None:
        if self.candidate is None or self.reference is None:
            return None
        return self.candidate - self.reference


@dataclass(frozen=True)
class StackPair:
    """A comparison of two guests: what `candidate` adds over `reference`."""

    share: str  # "management stack" or "machine model"
    candidate: str
    reference: str
    accel: str
    rows: list[StageRow]


def machine_of(fingerprint: dict[str, Any]) -> str:
    """q35 or microvm, whatever the versioned name (pc-q35-7.2 is q35)."""
    machine = str(fingerprint.get("machine", ""))
    return "q35" if "q35" in machine else machine


def guests(run: RunView) -> dict[tuple[str, str, str], str]:
    """(driver, machine, accel) -> the first runtime of the run that is such a guest."""
    found: dict[tuple[str, str, str], str] = {}
    for name, fingerprint in drivers_of(run).items():
        if fingerprint.get("driver") in ("libvirt", "qemu"):
            key = (str(fingerprint["driver"]), machine_of(fingerprint), str(fingerprint.get("accel")))
            found.setdefault(key, name)
    return found


def pairs_of(run: RunView) -> list[tuple[str, str, str, str]]:
    """(share, candidate, reference, accel) for every pair this run can show."""
    found = guests(run)
    result = []
    for accel in sorted({key[2] for key in found}):
        libvirt, q35 = found.get(("libvirt", "q35", accel)), found.get(("qemu", "q35", accel))
        microvm = found.get(("qemu", "microvm", accel))
        if libvirt and q35:
            result.append(("management stack", libvirt, q35, accel))
        if q35 and microvm:
            result.append(("machine model", q35, microvm, accel))
    return result


def probe_cells(run: RunView, runtime: str) -> pd.DataFrame:
    """The ok rows of a runtime's cells that ran a probe workload (no command, no disks)."""
    modes = {name: run.manifest.config.mode_of(name) for name in run.manifest.config.workloads}
    detail = run.detail
    rows = detail[(detail["runtime"] == runtime) & (detail["status"] == "ok")]
    return rows[rows["workload"].map(lambda w: modes.get(str(w)) in PROBE_MODES).astype(bool)]


def stage_values(rows: pd.DataFrame, phases: frozenset[str]) -> np.ndarray[Any, Any]:
    """Per instance (cell), the sum of these boot phases; cells without any of them left out."""
    metrics = {f"boot.{phase}" for phase in phases}
    chosen = rows[rows["metric"].isin(metrics)]
    return chosen.groupby("cell")["value"].sum().to_numpy(dtype=float)


def figure_values(rows: pd.DataFrame, metric: str) -> np.ndarray[Any, Any]:
    """Per instance (cell), its figure of this metric (the median where it has several)."""
    chosen = rows[rows["metric"] == metric]
    return chosen.groupby("cell")["value"].median().to_numpy(dtype=float)


def compare(stage: str, unit: str, mine: np.ndarray[Any, Any],
            theirs: np.ndarray[Any, Any]) -> StageRow:
    if not len(mine) or not len(theirs):
        return StageRow(stage, unit, median(mine), median(theirs), None, None, "no instances")
    found = ratio_of_medians(mine, theirs)
    return StageRow(stage, unit, median(mine), median(theirs), found.bounds() if found else None,
                    found.point if found else None, found.note if found else "no ratio")


def median(values: np.ndarray[Any, Any]) -> float | None:
    return float(np.median(values)) if len(values) else None


def pair_rows(run: RunView, candidate: str, reference: str) -> list[StageRow]:
    mine, theirs = probe_cells(run, candidate), probe_cells(run, reference)
    rows = [compare(title, "ms", stage_values(mine, phases), stage_values(theirs, phases))
            for _, title, phases in STAGES]
    rows += [compare(title, unit, figure_values(mine, metric), figure_values(theirs, metric))
             for metric, title, unit in FIGURES]
    return [row for row in rows if row.candidate is not None or row.reference is not None]


def stack_shares(analysis: Analysis) -> list[StackPair]:
    """Every pair of guests each run of the analysis can compare."""
    return [StackPair(share, run.label(candidate), run.label(reference), accel,
                      pair_rows(run, candidate, reference))
            for run in analysis.runs for share, candidate, reference, accel in pairs_of(run)]


def stack_chart(analysis: Analysis, found: list[StackPair]) -> Chart | None:
    """The guests' own boot phases, stacked in time order, one bar per guest."""
    labels: list[str] = []
    for pair in found:
        labels += [label for label in (pair.candidate, pair.reference) if label not in labels]
    present = [label for label in labels if len(pooled(analysis, label, "boot.total"))]
    return phase_chart(analysis, present, "Boot phases: libvirt, QEMU's q35 and QEMU's microvm")
