"""Holm's correction over every row of a gate, then each row's verdict.

A gate tests tens of rows; each at alpha alone, identical code would fail some row of most
gates. Holm's step-down procedure adjusts the p-values so that the chance of failing any row
of a gate on noise is at most alpha, whatever the dependence between rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from bench.gate.significance import holm
from bench.gate.verdicts import Evaluation, Item, Pending
from bench.results.numbers import format_p


def adjusted(items: Sequence[Item]) -> dict[int, tuple[float, float]]:
    """Holm's adjusted (p worse, p better) of every tested item, by its index in `items`.

    Rows whose rule sets its own alpha form their own family: the gate's false-fail rate is
    at most the sum of the families' levels (the gate's alpha when no rule sets one).
    """
    pending = {i: item for i, item in enumerate(items) if isinstance(item, Pending)}
    found: dict[int, tuple[float, float]] = {}
    for alpha in {item.alpha for item in pending.values()}:
        family = [i for i, item in pending.items() if item.alpha == alpha]
        worse = holm([pending[i].p_worse for i in family])
        improvable = [i for i in family if pending[i].p_better is not None]
        better = dict(zip(improvable, holm([pending[i].p_better or 1.0 for i in improvable]),
                          strict=True))
        found.update({i: (w, better.get(i, 1.0)) for i, w in zip(family, worse, strict=True)})
    return found


def finish(items: Sequence[Item]) -> tuple[list[Evaluation], int]:
    """Holm's correction over the tested rows, then each row's verdict."""
    corrected = adjusted(items)
    return [decide(item, *corrected[i]) if isinstance(item, Pending) else item
            for i, item in enumerate(items)], len(corrected)


def power_notes(items: Sequence[Item]) -> list[str]:
    """Rules whose rows cannot fail alone once the correction counts every row of the gate:
    their smallest possible p-value times the number of rows is not below alpha."""
    pending = [item for item in items if isinstance(item, Pending)]
    weak: dict[str, float] = {}
    for item in pending:
        rows = sum(other.alpha == item.alpha for other in pending)
        if item.smallest_p * rows >= item.alpha:
            weak[item.evaluation.rule] = max(weak.get(item.evaluation.rule, 0.0), item.smallest_p)
    return [f"rule {rule!r}: with these repetitions a row's p-value is at least {format_p(p_min)}, "
            f"too large to fail on its own after the correction for {len(pending)} rows: add "
            "repetitions" for rule, p_min in weak.items()]


def decide(item: Pending, p_worse: float, p_better: float) -> Evaluation:
    decision = item.decide(p_worse, p_better)
    message = decision.reason
    raw = item.decide(item.p_worse, item.p_better if item.p_better is not None else 1.0)
    if raw.verdict != decision.verdict and raw.verdict in {"fail", "improved"}:
        message = (f"{raw.reason}, alone; not after Holm's correction for the gate's rows "
                   f"(adjusted p={format_p(min(p_worse, p_better))})")
    adjusted = p_worse if item.p_better is None else min(p_worse, p_better)
    return replace(item.evaluation, verdict=decision.verdict, message=message,
                   p_adjusted=adjusted)
