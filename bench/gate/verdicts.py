"""What the gate decides, row by row: the shapes every part of the gate and every output shares."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from bench.gate.significance import Decision

FAILING = frozenset({"fail"})


@dataclass(frozen=True)
class Evaluation:
    """One rule applied to one row; the columns every output shows."""

    rule: str
    kind: str
    runtime: str
    workload: str
    metric: str
    unit: str
    reference: str  # "baseline", the reference runtime or variant, or "limit"
    verdict: str
    message: str
    reference_median: float | None = None  # the limit, for absolute rules
    candidate_median: float | None = None
    change: float | None = None  # relative change (fraction), ratio, or None
    change_low: float | None = None
    change_high: float | None = None
    absolute_change: float | None = None
    absolute_low: float | None = None
    absolute_high: float | None = None
    p_value: float | None = None  # the row's own p-value (the smaller direction's)
    n_reference: int = 0
    n_candidate: int = 0
    p_adjusted: float | None = None  # after Holm's correction over every row of the gate
    sitting_sd: float | None = None  # the calibrated SD of the row's log median over sittings


@dataclass(frozen=True)
class Pending:
    """A tested row waiting for the correction: its p-values and how to decide with them."""

    evaluation: Evaluation
    alpha: float
    p_worse: float
    p_better: float | None  # None: no "improved" verdict for this rule
    decide: Callable[[float, float], Decision]  # (adjusted p worse, adjusted p better)
    smallest_p: float = 0.0  # the smallest p-value this test can give at these sizes


Item = Evaluation | Pending


@dataclass
class GateResult:
    candidate: str
    baseline: str | None
    alpha: float
    evaluations: list[Evaluation]
    notes: list[str] = field(default_factory=list)
    tests: int = 0  # rows whose p-values the correction counted

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for item in self.evaluations:
            counts[item.verdict] = counts.get(item.verdict, 0) + 1
        return counts


def exit_code(result: GateResult) -> int:
    """0 when nothing failed (improvements and warnings included), 1 on any failure."""
    return 1 if any(e.verdict in FAILING for e in result.evaluations) else 0
