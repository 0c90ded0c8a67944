"""The CI gate: rules applied to results directories, one verdict per rule and row, an exit code.

Three comparisons (the statistics are in bench.gate.stats):
- candidate against a baseline run (relative rules), after refusing runs from hosts that
  differ in what decides performance (CPU model, kernel, cgroup version, accel);
- one variant of a runtime against another in the same run (A/B, relative rules);
- within the candidate run, a runtime against the reference runtime (ratio rules) or a
  fixed limit (absolute rules).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ValidationError

from bench.errors import ConfigError, GateError, ResultsError
from bench.gate.rules import (
    RULE_TAGS,
    AbsoluteRule,
    GateConfig,
    RatioRule,
    RelativeRule,
    Rule,
    parse_pair,
    rule_label,
)
from bench.gate.stats import (
    Floats,
    compare_relative,
    limit_decision,
    median_bounds,
    min_samples_for_median_bound,
    ratio_of_medians,
)
from bench.results.frames import load_samples
from bench.results.manifest import baseline_runtime, read_manifest
from bench.results.units import parse_quantity
from runtimes.models import describe_errors

Key = tuple[str, str, str]  # runtime, workload, metric
HOST_KEYS = ("cpu_model", "kernel", "cgroup_version")
FAILING = frozenset({"fail"})


@dataclass(frozen=True)
class Series:
    unit: str
    values: Floats  # the successful samples
    failed: int
    reason: str | None
    direction: str = "lower"  # which way is better, as the samples say


@dataclass(frozen=True)
class Run:
    path: Path
    manifest: dict[str, Any]
    series: dict[Key, Series]

    def runtimes(self) -> set[str]:
        return {key[0] for key in self.series}


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
    p_value: float | None = None
    n_reference: int = 0
    n_candidate: int = 0


@dataclass
class GateResult:
    candidate: str
    baseline: str | None
    alpha: float
    evaluations: list[Evaluation]
    notes: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for item in self.evaluations:
            counts[item.verdict] = counts.get(item.verdict, 0) + 1
        return counts


def exit_code(result: GateResult) -> int:
    """0 when nothing failed (improvements and warnings included), 1 on any failure."""
    return 1 if any(e.verdict in FAILING for e in result.evaluations) else 0


def observations(group: pd.DataFrame, per_repetition: bool) -> Floats:
    """The successful values, or one median per cell (an instance is the experimental unit)."""
    ok = group[group.status == "ok"].dropna(subset=["value"])
    if per_repetition:
        return ok.groupby("cell", sort=True)["value"].median().to_numpy(dtype=float)
    return ok["value"].to_numpy(dtype=float)


def load_run(path: Path, per_repetition: bool = True) -> Run:
    manifest = read_manifest(path)
    frame = load_samples(path)
    series = {}
    for (runtime, workload, metric, unit), group in frame.groupby(
            ["runtime", "workload", "metric", "unit"], sort=True):
        ok = observations(group, per_repetition)
        failed = group[group.status == "failed"]
        reason = next(iter(failed["reason"].dropna()), None)
        series[(str(runtime), str(workload), str(metric))] = Series(
            str(unit), ok, len(failed), None if reason is None else str(reason),
            str(group.direction.iloc[0]))
    return Run(path, manifest, series)


def gate_config_of(manifest: dict[str, Any]) -> GateConfig | None:
    """The run config's gate section, as stored in the manifest (None when it has none)."""
    section = manifest.get("config", {}).get("gate")
    if section is None:
        return None
    try:
        return GateConfig.model_validate(section)
    except ValidationError as error:
        raise ResultsError(f"the stored run config's gate section is invalid: "
                           f"{error.errors()[0]['msg']}") from None


def lower_is_better(rule: Rule, series: Series) -> bool:
    """The rule's direction if it gives one, else what the samples carry."""
    return (rule.direction or series.direction) == "lower"


def matches(rule: Rule, key: Key) -> bool:
    runtime, workload, metric = key
    return (fnmatchcase(metric, rule.metric) and fnmatchcase(runtime, rule.runtime)
            and fnmatchcase(workload, rule.workload))


def quantity(value: float | str, unit: str, rule: Rule) -> float:
    try:
        return parse_quantity(value, unit)
    except ValueError as error:
        raise GateError(f"rule {rule_label(rule)!r}: {error}") from None


def unusable(rule: Rule, key: Key, unit: str, reference: str, verdict: str,
             message: str) -> Evaluation:
    return Evaluation(rule_label(rule), rule.kind, *key, unit, reference, verdict, message)


def usable(rule: Rule, key: Key, reference: Series | None, candidate: Series | None,
           label: str) -> tuple[Series, Series] | Evaluation:
    """Both sides with samples, or the verdict of a row that cannot be compared: a broken
    candidate (every sample failed) fails, an absent one is skipped."""
    if candidate is None:
        unit = reference.unit if reference else ""
        return unusable(rule, key, unit, label, "skipped", "not in the candidate run")
    if candidate.values.size == 0:
        return unusable(rule, key, candidate.unit, label, "fail", f"every sample failed in the "
                        f"candidate ({candidate.failed}): {candidate.reason}")
    if reference is None or reference.values.size == 0:
        return unusable(rule, key, candidate.unit, label, "skipped",
                        f"no successful samples in {label}")
    return reference, candidate


def evaluate_relative(rule: RelativeRule, key: Key, reference: Series | None,
                      candidate: Series | None, label: str, config: GateConfig) -> Evaluation:
    checked = usable(rule, key, reference, candidate, label)
    if isinstance(checked, Evaluation):
        return checked
    reference, candidate = checked
    alpha = rule.alpha or config.alpha
    change, p_value, decision = compare_relative(
        reference.values, candidate.values, percent=rule.percent,
        floor=quantity(rule.floor, candidate.unit, rule), alpha=alpha,
        two_sided=config.test == "two-sided", lower_is_better=lower_is_better(rule, candidate))
    return Evaluation(rule_label(rule), rule.kind, *key, candidate.unit, label, decision.verdict,
                      decision.reason, change.baseline_median, change.candidate_median,
                      change.relative, change.relative_low, change.relative_high,
                      change.absolute, change.absolute_low, change.absolute_high, p_value,
                      reference.values.size, candidate.values.size)


def evaluate_ratio(rule: RatioRule, key: Key, reference: Series | None,
                   candidate: Series | None, label: str, alpha: float) -> Evaluation:
    checked = usable(rule, key, reference, candidate, label)
    if isinstance(checked, Evaluation):
        return checked
    reference, candidate = checked
    needed = min_samples_for_median_bound(alpha)
    ratio = ratio_of_medians(candidate.values, reference.values, alpha)
    if ratio is None:
        return unusable(rule, key, candidate.unit, label, "skipped",
                        f"the median of {label} is not positive: no ratio")
    point, low, high = ratio
    if min(reference.values.size, candidate.values.size) < needed:
        verdict, message = "underpowered", f"a ratio needs {needed} samples on each side"
    else:
        decision = limit_decision(low, point, high, rule.limit, lower_is_better(rule, candidate))
        verdict, message = decision.verdict, decision.reason
    return Evaluation(rule_label(rule), rule.kind, *key, candidate.unit, label, verdict, message,
                      float(np.median(reference.values)), float(np.median(candidate.values)),
                      point, low, high, n_reference=reference.values.size,
                      n_candidate=candidate.values.size)


def evaluate_absolute(rule: AbsoluteRule, key: Key, candidate: Series | None,
                      alpha: float) -> Evaluation:
    checked = usable(rule, key, candidate, candidate, "the candidate")
    if isinstance(checked, Evaluation):
        return checked
    candidate = checked[1]
    limit = quantity(rule.limit, candidate.unit, rule)
    median = float(np.median(candidate.values))
    bounds = median_bounds(candidate.values, alpha)
    if bounds is None:
        verdict = "underpowered"
        message = f"a median bound needs {min_samples_for_median_bound(alpha)} samples"
        low = high = None
    else:
        low, high = bounds
        decision = limit_decision(low, median, high, limit, lower_is_better(rule, candidate))
        verdict, message = decision.verdict, decision.reason
    return Evaluation(rule_label(rule), rule.kind, *key, candidate.unit, "limit", verdict,
                      message, limit, median, None, low, high, n_candidate=candidate.values.size)


def relative_rules(config: GateConfig) -> list[RelativeRule]:
    return [rule for rule in config.rules if isinstance(rule, RelativeRule)]


def compare_runs(baseline: Run, candidate: Run, config: GateConfig) -> list[Evaluation]:
    """Relative rules, candidate run against baseline run, row by row."""
    keys = sorted(set(baseline.series) | set(candidate.series))
    return [evaluate_relative(rule, key, baseline.series.get(key), candidate.series.get(key),
                              "baseline", config)
            for rule in relative_rules(config) for key in keys
            if matches(rule, key) and key in baseline.series]


def compare_variants(run: Run, pair: tuple[str, str], config: GateConfig) -> list[Evaluation]:
    """A/B: the relative rules on variant B against variant A, both from the same run."""
    reference, variant = pair
    for name in pair:
        if name not in run.runtimes():
            raise GateError(f"--ab {reference}:{variant}: no runtime {name!r} in {run.path} "
                            f"(it has {', '.join(sorted(run.runtimes()))})")
    rows = sorted(key for key in run.series if key[0] == reference)
    return [evaluate_relative(rule, (variant, w, m), run.series[(reference, w, m)],
                              run.series.get((variant, w, m)), reference, config)
            for rule in relative_rules(config) for (_, w, m) in rows
            if matches(rule, (variant, w, m))]


def reference_runtime(rule: RatioRule, run: Run) -> str:
    name = rule.against or baseline_runtime(run.manifest)
    if name is None:
        raise GateError(f"rule {rule_label(rule)!r}: the run has no process baseline runtime; "
                        "name the reference with `against:`")
    if name not in run.runtimes():
        raise GateError(f"rule {rule_label(rule)!r}: no runtime {name!r} in {run.path}")
    return name


def check_limits(run: Run, config: GateConfig) -> list[Evaluation]:
    """Ratio and absolute rules, within the candidate run."""
    evaluations = []
    for rule in config.rules:
        alpha = rule.alpha or config.alpha
        if isinstance(rule, RatioRule):
            ref = reference_runtime(rule, run)
            evaluations += [evaluate_ratio(rule, key, run.series.get((ref, key[1], key[2])),
                                           run.series[key], ref, alpha)
                            for key in sorted(run.series) if key[0] != ref and matches(rule, key)]
        elif isinstance(rule, AbsoluteRule):
            evaluations += [evaluate_absolute(rule, key, run.series[key], alpha)
                            for key in sorted(run.series) if matches(rule, key)]
    return evaluations


def differences(before: dict[str, Any], after: dict[str, Any], keys: Iterable[str],
                prefix: str) -> list[str]:
    return [f"{prefix}{key} {before.get(key)!r} -> {after.get(key)!r}"
            for key in keys if before.get(key) != after.get(key)]


def host_differences(baseline: dict[str, Any], candidate: dict[str, Any],
                     runtimes: Iterable[str]) -> list[str]:
    """What makes two runs incomparable: host CPU, kernel, cgroup version, per-runtime accel."""
    found = differences(baseline.get("host", {}), candidate.get("host", {}), HOST_KEYS, "host ")
    base_drivers, cand_drivers = baseline.get("drivers", {}), candidate.get("drivers", {})
    for name in sorted(runtimes):
        found += differences(base_drivers.get(name, {}), cand_drivers.get(name, {}), ["accel"],
                             f"runtime {name} ")
    return found


def driver_changes(baseline: dict[str, Any], candidate: dict[str, Any],
                   runtimes: Iterable[str]) -> list[str]:
    """Driver fingerprint changes (engine version, seccomp profile...): reported, not refused."""
    found = []
    for name in sorted(runtimes):
        before = baseline.get("drivers", {}).get(name, {})
        after = candidate.get("drivers", {}).get(name, {})
        keys = sorted((set(before) | set(after)) - {"accel"})
        found += differences(before, after, keys, f"runtime {name} driver ")
    return found


def guard(baseline: Run, candidate: Run, allow_host_change: bool) -> list[str]:
    """Refuses runs from different hosts; returns notes about what changed and was allowed."""
    common = baseline.runtimes() & candidate.runtimes()
    changed = host_differences(baseline.manifest, candidate.manifest, common)
    if changed and not allow_host_change:
        raise GateError(f"{baseline.path} and {candidate.path} are not comparable: "
                        f"{'; '.join(changed)} (pass --allow-host-change to compare anyway)")
    notes = [f"allowed: {line}" for line in changed]
    return notes + driver_changes(baseline.manifest, candidate.manifest, common)


def run_notes(run: Run, role: str) -> list[str]:
    status = run.manifest.get("status")
    return [] if status == "complete" else [f"the {role} run's status is {status!r}"]


def against_baseline(baseline_dir: Path, candidate: Run, config: GateConfig,
                     allow_host_change: bool) -> tuple[list[Evaluation], list[str]]:
    baseline = load_run(baseline_dir, config.sample_unit == "repetition")
    if not set(baseline.series) & set(candidate.series):
        raise GateError(f"{baseline_dir} and {candidate.path} have no metric in common "
                        "(same runtime, workload and metric)")
    notes = guard(baseline, candidate, allow_host_change) + run_notes(baseline, "baseline")
    new = sorted({f"{k[0]}/{k[1]}" for k in set(candidate.series) - set(baseline.series)})
    if new:
        notes.append(f"not in the baseline, not compared: {', '.join(new)}")
    return compare_runs(baseline, candidate, config), notes


def gate_run(candidate_dir: Path, baseline_dir: Path | None, gate_config: GateConfig | None,
             *, allow_host_change: bool = False, ab: Sequence[str] = ()) -> GateResult:
    """Every rule on every row it matches. gate_config None: the candidate config's gate
    section, else the defaults. Raises GateError/ResultsError (exit 2) when nothing compares."""
    config = gate_config or gate_config_of(read_manifest(Path(candidate_dir))) or GateConfig()
    candidate = load_run(Path(candidate_dir), config.sample_unit == "repetition")
    evaluations, notes = [], run_notes(candidate, "candidate")
    if baseline_dir is not None:
        found, more = against_baseline(Path(baseline_dir), candidate, config, allow_host_change)
        evaluations += found
        notes += more
    for pair in [*config.ab, *ab]:
        evaluations += compare_variants(candidate, parse_pair(pair), config)
    evaluations += check_limits(candidate, config)
    if not evaluations:
        raise GateError("nothing to gate: no rule matched a metric"
                        + ("" if baseline_dir or ab or config.ab else
                           " (give --baseline DIR or --ab A:B for relative rules)"))
    return GateResult(str(candidate_dir), None if baseline_dir is None else str(baseline_dir),
                      config.alpha, evaluations, notes)


def load_rules(path: Path) -> GateConfig:
    """A --rules file: a gate section, or a whole run config that has one."""
    from runtimes.yaml_input import load_yaml, read_text

    try:
        document = load_yaml(read_text(path))  # within bounds, like a run config
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the rules ({error.strerror})") from None
    except ValueError as error:
        raise ConfigError(f"{path}: {error}") from None
    if isinstance(document, dict) and "gate" in document:
        document = document["gate"]
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: expected a mapping (a gate section: alpha, test, rules, ab)")
    try:
        return GateConfig.model_validate(document)
    except ValidationError as error:
        raise ConfigError(f"{path}: {describe_errors(error, (), RULE_TAGS)}") from None
