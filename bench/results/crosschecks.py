"""Cross-checks (`bench verify`): each headline figure beside an independent reference taken
in the same sitting, with the agreement between them. Written by bench.verify into the
results directory as verify.json, read by the report.

A line compares bench's figure with the reference's as the relative difference
bench / reference - 1 and its interval (memory, read from one instance at one moment: the range
of the instances' pairs; timings taken beside each cell, the reference right after bench's own
cell: the median of the ratios of bench's figure in each cell to each run of that cell's
reference, with the 95 % percentile bootstrap over the cells, each cell kept whole, so what
moves the host from one minute to the next moves both sides of a cell and stays out of the
interval; other timings: the bootstrap of the ratio of medians, each side resampled on its
own);
the verdict holds that interval against a tolerance stated with the line: *agree* when the
whole interval lies within it, *disagree* when the whole interval lies outside, *unclear*
when it straddles (too few instances to tell). A reference that could not be taken is a
line with its reason, never a number.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from bench.results.documents import read_results_file
from bench.results.estimates import CONFIDENCE, RESAMPLES, percentile_interval, resampled_medians
from bench.results.numbers import format_value
from bench.results.writer import write_json_atomic
from foundation.errors import ResultsError

VERIFY = "verify.json"
SEED = 0
FORMAT = "bench-verify"
# 2: by_cell (a version-1 file has none: its lines read as unpaired); 3: reference_runs (a
# version-2 file has none: each cell reads as one run, its median)
FORMAT_VERSION = 3
MAX_CHECKS_BYTES = 16 << 20  # a few hundred KiB in practice (every reference run)
DRAWN_LIMIT = 4_000_000  # ratios drawn at once by a by-cell bootstrap (32 MB)

Verdict = Literal["agree", "disagree", "unclear", "failed"]


@dataclass(frozen=True)
class CrossCheck:
    """One headline figure of one runtime against one independent reference."""

    figure: str            # bench's metric, e.g. syscall.getppid, boot.total, memory.guest_ram
    runtime: str
    reference: str         # the tool: "perf bench syscall basic", "hyperfine -N", ...
    how: str               # what the reference measured, to which end point
    unit: str
    tolerance: float       # the relative difference accepted, e.g. 0.05
    paired: bool           # read from the same instance at the same moment (memory)
    bench: list[float] = field(default_factory=list)      # per instance
    reference_values: list[float] = field(default_factory=list)
    failed: str | None = None  # why the reference could not be taken
    # what the instrument itself cannot tell apart, in the unit: a difference within it agrees
    # whatever the tolerance makes of it (a cgroup's charge: the kernel's charge batch)
    resolution: float = 0.0
    # bench[i] and reference_values[i] are one cell's: bench's instance and the reference
    # taken right after it, in the same minute of the sitting (timings beside each cell)
    by_cell: bool = False
    # each cell's reference runs as timed, corrected as reference_values (whose cell value is
    # their median), in the cells' order (by_cell lines; empty: one run per cell, its value)
    reference_runs: list[list[float]] = field(default_factory=list)

    def agreement(self) -> Agreement:
        return agreement(self)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "agreement": asdict(self.agreement())}


@dataclass(frozen=True)
class Agreement:
    bench: float | None       # median of bench's figure over instances
    reference: float | None   # median of the reference
    difference: float | None  # bench - reference, in the unit
    relative: float | None    # bench / reference - 1
    relative_low: float | None
    relative_high: float | None
    verdict: Verdict
    reason: str | None = None


def agreement(check: CrossCheck) -> Agreement:
    if check.failed is not None or not check.bench or not check.reference_values:
        reason = check.failed or ("bench has no value" if not check.bench else "no reference value")
        return Agreement(None, None, None, None, None, None, "failed", reason)
    ours, theirs = float(np.median(check.bench)), float(np.median(check.reference_values))
    if theirs == 0:
        return Agreement(ours, theirs, ours, None, None, None, "failed", "the reference is 0")
    pairs = len(check.bench) == len(check.reference_values)
    if check.paired and pairs:
        # read from one instance at one moment: every pair must agree, so the range of the
        # pairs' ratios is the interval (distribution-free, whatever the number of instances)
        ratios = np.asarray(check.bench) / np.asarray(check.reference_values)
        point, low, high = float(np.median(ratios)), float(ratios.min()), float(ratios.max())
    elif check.by_cell and pairs:
        point, low, high = bootstrap_cell_ratios(check.bench, cell_runs(check))
    else:
        point, low, high = bootstrap_ratio(check.bench, check.reference_values)
    tolerance = max(check.tolerance, check.resolution / abs(theirs))
    return Agreement(ours, theirs, ours - theirs, point - 1, low - 1, high - 1,
                     verdict(low - 1, high - 1, tolerance))


def bootstrap_ratio(ours: list[float], theirs: list[float]) -> tuple[float, float, float]:
    """median(ours) / median(theirs) with the percentile bootstrap's 95 % interval (the shared
    bootstrap, each side resampled over its own instances or runs)."""
    rng = np.random.default_rng(SEED)
    ratios = resampled_medians(ours, rng) / resampled_medians(theirs, rng)
    low, high = percentile_interval(ratios, (1 - CONFIDENCE) / 2, (1 - CONFIDENCE) / 2)
    return float(np.median(ours) / np.median(theirs)), low, high


def cell_runs(check: CrossCheck) -> list[list[float]]:
    """Each cell's reference runs: as kept, or the cell's value as its one run (a line of
    format 2, or a reference run once per cell)."""
    if len(check.reference_runs) == len(check.reference_values) and all(check.reference_runs):
        return check.reference_runs
    return [[value] for value in check.reference_values]


def bootstrap_cell_ratios(ours: list[float], runs: list[list[float]]) -> tuple[float, float, float]:
    """The median of the ratios ours[i] / runs[i][j], bench's figure in each cell against each
    run of that cell's reference (a Hodges-Lehmann estimate of the ratio, within the cells),
    with the percentile bootstrap's 95 % interval, the cells resampled, each kept whole: its
    pair and all its runs (the shared bootstrap).

    Each of bench's cells is one start, so its single starts are held against the reference's
    single runs, not against their median: where starts fall into modes (lxc-start waits for
    one RCU grace period or two: 11, 15 or 26 ms on this host), a single start against a
    median of nine scatters with the mode that start fell in, and the median of 30 single
    starts moves with how many fell in the slow mode. Against every run of its cell, each
    start is compared with the reference's own spread of modes (docs/methodology.md,
    "Cross-checks"). With one run per cell this is the median of the cells' ratios."""
    rng = np.random.default_rng(SEED)
    width = max(len(cell) for cell in runs)
    table = np.full((len(runs), width), np.nan)
    for row, (value, cell) in enumerate(zip(ours, runs, strict=True)):
        table[row, :len(cell)] = value / np.asarray(cell, dtype=float)
    chunk = max(1, min(RESAMPLES, DRAWN_LIMIT // table.size))  # resamples drawn at once
    medians = np.concatenate([
        np.nanmedian(table[rng.integers(0, len(runs), size=(size, len(runs)))].reshape(size, -1),
                     axis=1)
        for size in [chunk] * (RESAMPLES // chunk) + [RESAMPLES % chunk] if size])
    low, high = percentile_interval(medians, (1 - CONFIDENCE) / 2, (1 - CONFIDENCE) / 2)
    return float(np.nanmedian(table)), low, high


def tolerance_text(check: CrossCheck) -> str:
    """The tolerance as the terminal and the report show it: "±5%", and the resolution that
    also agrees where the line has one ("±5% or 256 KiB")."""
    text = f"\u00b1{check.tolerance:.0%}"
    return text + (f" or {format_value(check.resolution, check.unit)}" if check.resolution else "")


def verdict(low: float, high: float, tolerance: float) -> Verdict:
    if -tolerance <= low and high <= tolerance:
        return "agree"
    if high < -tolerance or low > tolerance:
        return "disagree"
    return "unclear"


def write_checks(path: Path, checks: Sequence[CrossCheck], tools: dict[str, str],
                 sitting: dict[str, Any]) -> Path:
    document = {"format": FORMAT, "format_version": FORMAT_VERSION, "tools": tools,
                "sitting": sitting, "checks": [check.to_dict() for check in checks]}
    target = path / VERIFY
    write_json_atomic(target, document)
    return target


def read_checks(path: Path) -> list[CrossCheck] | None:
    """The cross-checks of a results directory, or None when it has none."""
    file = path / VERIFY
    data = read_results_file(file, MAX_CHECKS_BYTES)
    if data is None:
        return None
    try:
        document = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        raise ResultsError(f"{file}: unreadable (not a JSON document)") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ResultsError(f"{file}: not bench's cross-checks")
    if not isinstance(document.get("format_version"), int) or document["format_version"] > FORMAT_VERSION:
        raise ResultsError(f"{file}: format version {document.get('format_version')!r} is newer "
                           f"than this bench reads ({FORMAT_VERSION}); upgrade bench")
    fields = set(CrossCheck.__dataclass_fields__)
    return [CrossCheck(**{k: v for k, v in line.items() if k in fields})
            for line in document["checks"]]
