"""What a gate can and cannot do on this host, measured from A/A sittings of one config.

`bench calibrate DIR DIR DIR ...` reads K sittings of the same config and the same code and
says three things:

- the calibration: per row, how much a sitting moves its median (bench.gate.calibration);
- the false-fail rate per gate: every ordered pair of sittings gated against each other,
  each pair with a calibration estimated from the *other* sittings only (held out, so the
  rate is not flattered by calibrating on the very pair it judges); also without one;
- the smallest change each between-run row catches: the candidate's row scaled by 1 + x
  the bad way, for x on a ladder, the whole gate evaluated (so Holm's correction counts every
  row), and the smallest x that fails in at least CAUGHT of the pairs.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field, replace

from bench.gate.calibration import MIN_SITTINGS, Calibration, estimate
from bench.gate.correction import adjusted, decide, finish
from bench.gate.evaluate import (
    evaluate_relative,
    gate_items,
    lower_is_better,
    matches,
    relative_rules,
)
from bench.gate.rules import GateConfig
from bench.gate.verdicts import Item, Pending
from bench.results.run import Key, Run, Series
from foundation.errors import ResultsError

# the synthetic regressions tried (a binary search: about four per row), the bad way
SHIFTS = (0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0)
CAUGHT = 0.9  # a shift is caught when this share of the pairs fails on its row
SHIFT_PAIRS = 20  # pairs the shifts are tried on (spread over all of them): seconds per row


@dataclass
class Measurement:
    calibration: Calibration  # from every sitting: the one to use from now on
    pairs: int = 0
    failing_gates: int = 0  # held-out calibration
    failing_gates_uncalibrated: int = 0
    failing_rows: Counter[str] = field(default_factory=Counter)
    smallest_caught: dict[Key, float | None] = field(default_factory=dict)


def held_out(runs: list[Run], pair: tuple[int, int], per_instance: bool) -> Calibration:
    return estimate([run for index, run in enumerate(runs) if index not in pair], per_instance)


def scaled(run: Run, key: Key, factor: float) -> Run:
    """The run with one row's figures multiplied: a synthetic regression of that row."""
    series = run.rows[key]
    moved = Series(series.unit, series.instances * factor, series.values * factor,
                   series.failed, series.reason)
    return replace(run, series={**run.series, key: moved})


def row_fails(items: list[Item], at: list[int]) -> bool:
    """Whether any of the items at `at` fails once the whole gate is corrected."""
    corrected = adjusted(items)
    return any(isinstance(item := items[i], Pending)
               and decide(item, *corrected[i]).verdict == "fail" for i in at)


def between_rows(items: list[Item], key: Key) -> list[int]:
    """Where in the gate's items the between-run relative rows of `key` are."""
    return [i for i, item in enumerate(items)
            if (e := item.evaluation if isinstance(item, Pending) else item).reference
            == "baseline" and (e.runtime, e.workload, e.metric) == key and e.kind == "relative"]


def shifted_items(items: list[Item], at: list[int], baseline: Run, candidate: Run, key: Key,
                  config: GateConfig, calibration: Calibration) -> list[Item]:
    rules = [rule for rule in relative_rules(config) if matches(rule, key)]
    fresh = [evaluate_relative(rule, key, baseline.rows.get(key), candidate.rows.get(key),
                               "baseline", config, calibration.of(key)) for rule in rules]
    replaced = list(items)
    for index, item in zip(at, fresh, strict=True):
        replaced[index] = item
    return replaced


def gateable(runs: list[Run], config: GateConfig) -> list[Key]:
    """Rows some between-run relative rule matches, present and positive in every sitting."""
    common = set.intersection(*(set(run.rows) for run in runs))
    return sorted(key for key in common
                  if any(matches(rule, key) for rule in relative_rules(config))
                  and all(run.rows[key].instances.size
                          and run.rows[key].instances.min() > 0 for run in runs))


def shift_caught(runs: list[Run], key: Key, config: GateConfig, factor: float,
                 pairs: dict[tuple[int, int], tuple[list[Item], Calibration]]) -> bool:
    """Whether the row, scaled by `factor` in the candidate, fails in CAUGHT of the pairs."""
    allowed = int((1 - CAUGHT) * len(pairs))
    misses = 0
    for (a, b), (items, calibration) in pairs.items():
        at = between_rows(items, key)
        moved = scaled(runs[b], key, factor)
        if not row_fails(shifted_items(items, at, runs[a], moved, key, config, calibration),
                         at):
            misses += 1
            if misses > allowed:
                return False
    return True


def smallest_shift(runs: list[Run], key: Key, config: GateConfig,
                   pairs: dict[tuple[int, int], tuple[list[Item], Calibration]]) -> float | None:
    """The smallest shift on the ladder that is caught (a binary search: bigger shifts are
    caught at least as often); None when even the largest is not."""
    worse = all(lower_is_better(rule, runs[0].rows[key]) for rule in relative_rules(config)
                if matches(rule, key))
    low, high = 0, len(SHIFTS)  # the answer's index lies in [low, high]; high: none
    while low < high:
        middle = (low + high) // 2
        factor = 1 + SHIFTS[middle] if worse else 1 / (1 + SHIFTS[middle])
        if shift_caught(runs, key, config, factor, pairs):
            high = middle
        else:
            low = middle + 1
    return SHIFTS[low] if low < len(SHIFTS) else None


def measure(runs: list[Run], config: GateConfig) -> Measurement:
    """The calibration, the held-out false-fail rate and the smallest change caught."""
    if len(runs) < MIN_SITTINGS + 2:
        raise ResultsError(f"measuring a gate needs at least {MIN_SITTINGS + 2} A/A sittings "
                           f"(a calibration from {MIN_SITTINGS}, held out from each pair); "
                           f"got {len(runs)}")
    found = Measurement(estimate(runs, config.per_instance))
    pairs: dict[tuple[int, int], tuple[list[Item], Calibration]] = {}
    for a, b in itertools.permutations(range(len(runs)), 2):
        calibration = held_out(runs, (a, b), config.per_instance)
        items, _ = gate_items(runs[b], runs[a], config, calibration=calibration)
        pairs[(a, b)] = (items, calibration)
        evaluations, _ = finish(items)
        failed = [e for e in evaluations if e.verdict == "fail"]
        found.pairs += 1
        found.failing_gates += bool(failed)
        found.failing_rows.update(f"{e.runtime}/{e.workload}/{e.metric}" for e in failed)
        bare, _ = gate_items(runs[b], runs[a], config)
        found.failing_gates_uncalibrated += any(e.verdict == "fail" for e in finish(bare)[0])
    sample = dict(list(pairs.items())[::max(1, len(pairs) // SHIFT_PAIRS)])
    for key in gateable(runs, config):
        found.smallest_caught[key] = smallest_shift(runs, key, config, sample)
    return found
