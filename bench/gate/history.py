"""The gate against history: a candidate run against the last N comparable runs in the store.

Comparable: the same host fingerprint hash and config hash (bench.history.identity), and
for each runtime the same accelerator (kvm/tcg); runs that differ there are left out and
named in the notes. Only runs that `bench run` recorded on the host where they ran take
part, unless told to take imported ones too (`--include-imported`): a results directory
brought in by `bench history import` can claim any host, time and figures, so it never
decides a verdict unasked. "Last N" is by the store's clock (bench.history.queries).

How the N runs are pooled, so that one noisy baseline cannot fail a change on its own: each
relative rule compares the candidate with each past run separately (the same test as
`--baseline`: Mann-Whitney U and the interval of the change of medians, one observation
per instance), and the verdicts vote. A row fails only when it fails against a strict
majority of the runs compared (3 of 5); "improved" and "underpowered" are decided the same
way; anything else passes. A real regression fails against every run; an unlucky baseline
is one vote. Pooling the instances of all N runs into one sample would not do this: runs
from different sittings differ in level, and a pooled sample would make the sitting-to-
sitting spread look like a difference between candidate and history.

The figures shown for a row come from the comparison at the majority mark: the past runs
ordered by their median from the candidate's worst case to its best, the k-th of them
(k = the majority), so the figure shown is the one that decides the vote.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from bench.gate.calibration import Calibration
from bench.gate.correction import finish
from bench.gate.evaluate import (
    check_limits,
    compare_variants,
    config_dir_of,
    evaluate_relative,
    gate_config_of,
    load_calibration,
    lower_is_better,
    matches,
    relative_rules,
    sitting_notes,
    usable,
)
from bench.gate.guard import host_differences, run_notes
from bench.gate.rules import GateConfig, RelativeRule, parse_pair
from bench.gate.verdicts import Evaluation, GateResult, Item
from bench.history.database import Store
from bench.history.identity import config_hash, host_hash
from bench.history.queries import RunLine, comparable_runs, count_not_recorded_here, row_instances
from bench.history.reading import CorruptRun
from bench.results.manifest import Manifest
from bench.results.run import Key, Run, Series, load_run
from foundation.errors import GateError

Past = tuple[RunLine, dict[Key, Series]]
VOTED = ("fail", "improved", "underpowered")


def majority(count: int) -> int:
    return count // 2 + 1


def history_series(run: RunLine, instances: dict[Key, list[float] | None],
                   units: dict[Key, str]) -> dict[Key, Series]:
    """A past run's rows as the gate's series: one observation per instance."""
    return {key: Series(units.get(key, ""), np.asarray(values, dtype=float),
                        np.asarray(values, dtype=float))
            for key, values in instances.items() if values}


def at_majority_mark(past: Sequence[Past], key: Key, lower: bool) -> int:
    """Index of the run at the majority mark: the past runs ordered from the candidate's
    worst case (the fastest past run, for lower-is-better metrics) to its best, the k-th.
    The row fails when at least k comparisons fail, which is, near enough, whether this one does."""
    medians = [float(np.median(series[key].instances)) for _, series in past]
    order = sorted(range(len(past)), key=lambda i: medians[i], reverse=not lower)
    return order[majority(len(past)) - 1]


Row = tuple[RelativeRule, Key]


def compared_with(past: Past, rows: Sequence[Row], own: Sequence[Item], candidate: Run,
                  config: GateConfig, calibration: Calibration | None = None,
                  ) -> tuple[dict[Row, Evaluation], list[Evaluation]]:
    """Every row against one past run, with the candidate's own A/B and limit rows, decided
    together as `--baseline` decides them (Holm's correction over the rows compared, and the
    between-sitting calibration when there is one: each past run is another sitting)."""
    line, series = past
    having = [row for row in rows if row[1] in series]
    items: list[Item] = [evaluate_relative(rule, key, series[key], candidate.series.get(key),
                                           line.run_id, config,
                                           calibration.of(key) if calibration else None)
                         for rule, key in having]
    evaluations, _ = finish([*items, *own])
    return dict(zip(having, evaluations, strict=False)), evaluations[len(having):]


def evaluate_pooled(row: Row, past: Sequence[Past], decided: Sequence[dict[Row, Evaluation]],
                    candidate: Run) -> Evaluation:
    """The relative rule against each past run that has the row, then the vote."""
    rule, key = row
    having = [(item, verdicts[row]) for item, verdicts in zip(past, decided, strict=True)
              if row in verdicts]
    label = f"history ({len(having)} runs)"
    pooled = (Series(having[0][0][1][key].unit,
                     np.concatenate([p[1][key].instances for p, _ in having]),
                     np.concatenate([p[1][key].instances for p, _ in having]))
              if having else None)
    checked = usable(rule, key, pooled, candidate.series.get(key), label, True)
    if isinstance(checked, Evaluation):
        return checked
    each = [evaluation for _, evaluation in having]
    counts = {verdict: sum(e.verdict == verdict for e in each) for verdict in VOTED}
    needed = majority(len(each))
    verdict = next((v for v in VOTED if counts[v] >= needed), "pass")
    shown = each[at_majority_mark([p for p, _ in having], key,
                                  lower_is_better(rule, checked[2]))]
    tally = ", ".join(f"{e.reference}: {e.verdict}" for e in each)
    message = (f"{verdict} by majority: {counts['fail']} of {len(each)} runs fail, "
               f"{needed} needed ({tally}); figures against {shown.reference}: {shown.message}")
    return replace(shown, reference=f"{shown.reference}, middle of {len(each)} runs",
                   verdict=verdict, message=message)


def accel_differences(candidate: Manifest, past: Manifest) -> list[str]:
    return host_differences(past, candidate, set(candidate.config.runtimes))


def comparable(store: Store, candidate: Run, count: int,
               imported: bool = False) -> tuple[list[Past], list[str]]:
    """The newest `count` comparable runs, with their rows; notes on what was left out."""
    manifest = candidate.manifest
    keys = (host_hash(manifest), config_hash(manifest), str(manifest.run_id))
    corrupt: list[CorruptRun] = []
    lines = comparable_runs(store, *keys, count * 2, imported, corrupt)
    kept: list[RunLine] = []
    notes = [f"left out run {error.run_id}: {error.reason}" for error in corrupt]
    others = 0 if imported else count_not_recorded_here(store, *keys)
    if others:
        notes.append(f"left out {others} comparable run(s) not recorded here by `bench run` "
                     "(imported, or recorded before the store kept the origin): "
                     "--include-imported takes them")
    for line, past_manifest in lines:
        differs = accel_differences(manifest, past_manifest)
        if differs:
            notes.append(f"left out run {line.run_id}: {'; '.join(differs)}")
        elif len(kept) < count:
            kept.append(line)
    units = {key: series.unit for key, series in candidate.series.items()}
    instances = row_instances(store, [line.run_id for line in kept])
    past = [(line, history_series(line, instances[line.run_id], units)) for line in kept]
    missing = [line.run_id for line, series in past if not series]
    if missing:
        notes.append(f"no per-instance observations stored for {', '.join(missing)} "
                     "(recorded before schema revision 0002: re-import their directories)")
    return [item for item in past if item[1]], notes


def described(past: Sequence[Past], store: Store, manifest: Manifest) -> str:
    runs = ", ".join(f"{line.run_id} ({line.commit or 'no commit'})" for line, _ in past)
    return (f"history of {store.name}: host {host_hash(manifest)[:8]}, config "
            f"{config_hash(manifest)[:8]}, runs {runs}")


def gate_history(candidate_dir: Path, store: Store, count: int,
                 gate_config: GateConfig | None, *, ab: Sequence[str] = (),
                 calibration: Path | None = None, rules_dir: Path | None = None,
                 uncalibrated: bool = False, imported: bool = False) -> GateResult:
    """Relative rules against the last `count` comparable runs (majority vote), plus the
    candidate's own A/B, ratio and absolute rules, as `bench gate --baseline` does, with
    the same calibration of the candidate's host kind (--calibration FILE, else the gate
    section's), refused without one unless `uncalibrated`: each past run is another sitting."""
    if count < 1:
        raise GateError("--history N: N must be at least 1")
    candidate = load_run(candidate_dir)
    config = gate_config or gate_config_of(candidate.manifest) or GateConfig()
    if not config.per_instance:
        raise GateError("--history compares one observation per repetition (what the store "
                        "keeps); for sample_unit: sample, gate against --baseline DIR")
    past, notes = comparable(store, candidate, count, imported)
    if not past:
        raise GateError(f"no comparable run in {store.name} for {candidate_dir} (same host "
                        f"fingerprint {host_hash(candidate.manifest)[:8]} and config hash "
                        f"{config_hash(candidate.manifest)[:8]}"
                        f"{'' if imported else ', recorded here by bench run'}): record some runs "
                        f"first{'' if imported else ' (--include-imported takes imported ones)'}")
    spread = load_calibration(config, calibration, rules_dir or config_dir_of(candidate.manifest),
                              candidate, uncalibrated)
    keys = sorted({key for _, series in past for key in series})
    rows = [(rule, key) for rule in relative_rules(config) for key in keys if matches(rule, key)]
    own = [item for pair in [*config.ab, *ab]
           for item in compare_variants(candidate, parse_pair(pair), config)]
    own += check_limits(candidate, config)
    decided = [compared_with(item, rows, own, candidate, config, spread) for item in past]
    evaluations = [evaluate_pooled(row, past, [d for d, _ in decided], candidate)
                   for row in rows]
    evaluations += decided[0][1]
    notes = [f"compared with {len(past)} run(s): {described(past, store, candidate.manifest)}",
             *run_notes(candidate, "candidate"), *sitting_notes(spread, candidate), *notes]
    new = sorted({f"{k[0]}/{k[1]}/{k[2]}" for k in set(candidate.series) - set(keys)})
    if new:
        notes.append(f"not in history, not compared: {', '.join(new)}")
    return GateResult(str(candidate_dir), described(past, store, candidate.manifest),
                      config.alpha, evaluations, notes)
