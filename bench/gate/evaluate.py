"""The CI gate: rules applied to results directories, one verdict per rule and row, an exit code.

Three comparisons (the statistics are in bench.gate.significance):
- candidate against a baseline run (relative rules), after refusing runs from hosts that
  differ in what decides performance (CPU model, kernel, cgroup version, accel);
- one variant of a runtime against another in the same run (A/B, relative rules);
- within the candidate run, a runtime against the reference runtime (ratio rules) or a
  fixed limit (absolute rules).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from fnmatch import fnmatchcase
from pathlib import Path

import numpy as np

from bench.gate import calibration as calibrations
from bench.gate.calibration import Calibration, Spread
from bench.gate.correction import finish, power_notes
from bench.gate.guard import guard, run_notes
from bench.gate.rules import (
    AbsoluteRule,
    GateConfig,
    RatioRule,
    RelativeRule,
    Rule,
    parse_gate,
    parse_pair,
    rule_label,
)
from bench.gate.significance import (
    Decision,
    limit_decision,
    min_rank_p_value,
    ratio_test,
    relative_decision,
    relative_test,
    sign_test,
)
from bench.gate.verdicts import Evaluation, GateResult, Item, Pending, exit_code
from bench.history.identity import config_hash
from bench.results.estimates import Floats, median_bounds, min_instances
from bench.results.manifest import Manifest
from bench.results.numbers import format_p
from bench.results.run import Key, Run, Series, loaded
from bench.results.units import parse_quantity
from foundation.errors import ConfigError, GateError, ResultsError, UncalibratedHost

__all__ = ["Evaluation", "GateResult", "Item", "Pending", "exit_code", "finish", "gate_run",
           "gate_runs", "load_rules"]


def gate_config_of(manifest: Manifest) -> GateConfig | None:
    """The run config's gate section, as stored in the manifest (None when it has none)."""
    section = manifest.config.gate
    if section is None:
        return None
    try:
        return parse_gate(section)
    except ConfigError as error:
        raise ResultsError(f"the stored run config's gate section is invalid: {error}") from None


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
           label: str, per_instance: bool) -> tuple[Floats, Floats, Series] | Evaluation:
    """Both sides' observations and the unit, or the verdict of a row that cannot be compared:
    a broken candidate (every sample failed) fails, an absent one is skipped."""
    if candidate is None:
        unit = reference.unit if reference else ""
        return unusable(rule, key, unit, label, "skipped", "not in the candidate run")
    cand = candidate.observations(per_instance)
    if cand.size == 0:
        return unusable(rule, key, candidate.unit, label, "fail", f"every sample failed in the "
                        f"candidate ({candidate.failed}): {candidate.reason}")
    ref = reference.observations(per_instance) if reference is not None else None
    if ref is None or ref.size == 0:
        return unusable(rule, key, candidate.unit, label, "skipped",
                        f"no successful samples in {label}")
    return ref, cand, candidate


def evaluate_relative(rule: RelativeRule, key: Key, reference: Series | None,
                      candidate: Series | None, label: str, config: GateConfig,
                      sitting: Spread | None = None) -> Item:
    checked = usable(rule, key, reference, candidate, label, config.per_instance)
    if isinstance(checked, Evaluation):
        return checked
    ref, cand, series = checked
    unit, alpha, lower = series.unit, rule.alpha or config.alpha, lower_is_better(rule, series)
    floor = quantity(rule.floor, unit, rule)
    tested = relative_test(ref, cand, alpha=alpha, two_sided=config.test == "two-sided",
                           lower_is_better=lower,
                           sitting=None if sitting is None else (sitting.sd, sitting.dof))
    change = tested.change
    evaluation = Evaluation(
        rule_label(rule), rule.kind, *key, unit, label, "pass", "", change.baseline_median,
        change.candidate_median, change.relative, change.relative_low, change.relative_high,
        change.absolute, change.absolute_low, change.absolute_high,
        min(tested.p_worse, tested.p_better), ref.size, cand.size,
        sitting_sd=tested.sitting_sd)
    if tested.underpowered:
        return replace(evaluation, verdict="underpowered", message=tested.underpowered)

    def decide(p_worse: float, p_better: float) -> Decision:
        return relative_decision(change, p_worse, p_better, percent=rule.percent, floor=floor,
                                 alpha=alpha, lower_is_better=lower)

    return Pending(evaluation, alpha, tested.p_worse, tested.p_better, decide,
                   min_rank_p_value(ref.size, cand.size, config.test == "two-sided"))


def evaluate_ratio(rule: RatioRule, key: Key, reference: Series | None,
                   candidate: Series | None, label: str, config: GateConfig) -> Item:
    checked = usable(rule, key, reference, candidate, label, config.per_instance)
    if isinstance(checked, Evaluation):
        return checked
    ref, cand, series = checked
    unit, alpha, lower = series.unit, rule.alpha or config.alpha, lower_is_better(rule, series)
    tested = ratio_test(cand, ref, rule.limit, alpha, lower)
    if tested is None:
        return unusable(rule, key, unit, label, "skipped",
                        f"the median of {label} is not positive: no ratio")
    ratio, p_beyond = tested
    evaluation = Evaluation(rule_label(rule), rule.kind, *key, unit, label, "pass", "",
                            float(np.median(ref)), float(np.median(cand)), ratio.point,
                            ratio.low, ratio.high, p_value=p_beyond, n_reference=ref.size,
                            n_candidate=cand.size)
    if ratio.low is None or ratio.high is None:  # too few on a side, or a value not positive
        return replace(evaluation, verdict="underpowered", message=str(ratio.note))
    low, high = ratio.low, ratio.high

    def decide(p_worse: float, _: float) -> Decision:
        return limit_check(low, ratio.point, high, rule.limit, lower, p_worse, alpha)

    return Pending(evaluation, alpha, p_beyond, None, decide, 0.5 ** min(ref.size, cand.size))


def limit_check(low: float, point: float, high: float, limit: float, lower: bool,
                p_adjusted: float, alpha: float) -> Decision:
    """limit_decision, where a bound beyond the limit fails only if it survives the correction."""
    decision = limit_decision(low, point, high, limit, lower)
    if decision.verdict == "fail" and p_adjusted >= alpha:
        return Decision("warn", f"beyond the limit alone, but not after the correction for the "
                        f"gate's rows (adjusted p={format_p(p_adjusted)})")
    return decision


def evaluate_absolute(rule: AbsoluteRule, key: Key, candidate: Series | None,
                      config: GateConfig) -> Item:
    checked = usable(rule, key, candidate, candidate, "the candidate", config.per_instance)
    if isinstance(checked, Evaluation):
        return checked
    values, series = checked[1], checked[2]
    unit, alpha, lower = series.unit, rule.alpha or config.alpha, lower_is_better(rule, series)
    limit = quantity(rule.limit, unit, rule)
    median = float(np.median(values))
    bounds = median_bounds(values, alpha)
    evaluation = Evaluation(rule_label(rule), rule.kind, *key, unit, "limit", "pass", "", limit,
                            median, None, None, None, n_candidate=values.size)
    if bounds is None:
        return replace(evaluation, verdict="underpowered", message=f"a median bound needs "
                       f"{min_instances(1 - 2 * alpha)} samples")
    low, high = bounds
    p_beyond = sign_test(values, limit, lower)
    evaluation = replace(evaluation, change_low=low, change_high=high, p_value=p_beyond)

    def decide(p_worse: float, _: float) -> Decision:
        return limit_check(low, median, high, limit, lower, p_worse, alpha)

    return Pending(evaluation, alpha, p_beyond, None, decide, 0.5 ** values.size)


def relative_rules(config: GateConfig) -> list[RelativeRule]:
    return [rule for rule in config.rules if isinstance(rule, RelativeRule)]


def compare_runs(baseline: Run, candidate: Run, config: GateConfig,
                 calibration: Calibration | None = None) -> list[Item]:
    """Relative rules, candidate run against baseline run, row by row; with a calibration,
    each row's change carries its sitting-to-sitting variance."""
    keys = sorted(set(baseline.series) | set(candidate.series))
    return [evaluate_relative(rule, key, baseline.series.get(key), candidate.series.get(key),
                              "baseline", config,
                              calibration.of(key) if calibration is not None else None)
            for rule in relative_rules(config) for key in keys
            if matches(rule, key) and key in baseline.series]


def compare_variants(run: Run, pair: tuple[str, str], config: GateConfig) -> list[Item]:
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
    name = rule.against or run.baseline
    if name is None:
        raise GateError(f"rule {rule_label(rule)!r}: the run has no process baseline runtime; "
                        "name the reference with `against:`")
    if name not in run.runtimes():
        raise GateError(f"rule {rule_label(rule)!r}: no runtime {name!r} in {run.path}")
    return name


def check_limits(run: Run, config: GateConfig) -> list[Item]:
    """Ratio and absolute rules, within the candidate run."""
    items: list[Item] = []
    for rule in config.rules:
        if isinstance(rule, RatioRule):
            ref = reference_runtime(rule, run)
            items += [evaluate_ratio(rule, key, run.series.get((ref, key[1], key[2])),
                                     run.series[key], ref, config)
                      for key in sorted(run.series) if key[0] != ref and matches(rule, key)]
        elif isinstance(rule, AbsoluteRule):
            items += [evaluate_absolute(rule, key, run.series[key], config)
                      for key in sorted(run.series) if matches(rule, key)]
    return items


def against_baseline(baseline: Run, candidate: Run, config: GateConfig,
                     allow_host_change: bool,
                     calibration: Calibration | None) -> tuple[list[Item], list[str]]:
    notes = comparable(baseline, candidate, allow_host_change) + run_notes(baseline, "baseline")
    new = sorted({f"{k[0]}/{k[1]}" for k in set(candidate.series) - set(baseline.series)})
    if new:
        notes.append(f"not in the baseline, not compared: {', '.join(new)}")
    notes += sitting_notes(calibration, candidate)
    return compare_runs(baseline, candidate, config, calibration), notes


def comparable(baseline: Run, candidate: Run, allow_host_change: bool) -> list[str]:
    """Refuses two runs that cannot compare (GateError); the notes on what changed."""
    if not set(baseline.series) & set(candidate.series):
        raise GateError(f"{baseline.path} and {candidate.path} have no metric in common "
                        "(same runtime, workload and metric)")
    return guard(baseline, candidate, allow_host_change)


def sitting_notes(calibration: Calibration | None, candidate: Run) -> list[str]:
    if calibration is None:
        return ["between-sitting variation is not calibrated (--uncalibrated): the baseline "
                "and the candidate ran in different sittings, and a rank test counts their "
                "drift as a change (calibrate with `bench calibrate`; A/B inside one run "
                "avoids it)"]
    notes = [f"between-sitting variation calibrated from {calibration.sittings} A/A sittings "
             f"of this host's kind {calibrations.describe_kind(calibration.host)} "
             f"({calibration.source})"]
    if calibration.config_hash not in (None, config_hash(candidate.manifest)):
        notes.append("the calibration's sittings ran another config (repetitions, options...): "
                     "its spread may not be this config's; recalibrate")
    return notes


def load_calibrations(config: GateConfig, path: Path | None,
                      config_dir: Path | None) -> tuple[list[Calibration], str | None]:
    """--calibration FILE, else the gate section's `calibration:` file (a relative path is
    taken next to the config that names it, else from the working directory), else none;
    and the file's name."""
    if path is not None:
        return calibrations.read(path), str(path)
    if not config.calibration:
        return [], None
    named = Path(config.calibration)
    if not named.is_absolute() and config_dir is not None and (config_dir / named).exists():
        named = config_dir / named
    return calibrations.read(named), str(named)


def load_calibration(config: GateConfig, path: Path | None, config_dir: Path | None,
                     candidate: Run, uncalibrated: bool = False) -> Calibration | None:
    """The calibration of the candidate's host kind, for a gate between sittings. Without
    one the gate refuses (UncalibratedHost, exit 2), unless told `uncalibrated`: then the
    rank test alone decides, and a note says what that costs."""
    found, source = load_calibrations(config, path, config_dir)
    chosen = calibrations.for_host(found, candidate.manifest)
    if chosen is None and not uncalibrated:
        raise UncalibratedHost(
            calibrations.describe_kind(calibrations.host_identity(candidate.manifest)),
            source, tuple(calibrations.describe_kind(c.host) for c in found))
    return chosen


def config_dir_of(manifest: Manifest) -> Path | None:
    """Where the run's config file was (the manifest records its path)."""
    found = manifest.config_path
    return Path(found).parent if found else None


def gate_items(candidate: Run, baseline: Run | None, config: GateConfig, *,
               allow_host_change: bool = False, ab: Sequence[str] = (),
               calibration: Calibration | None = None) -> tuple[list[Item], list[str]]:
    """Every rule on every row it matches, tested but not yet corrected; and the notes."""
    items: list[Item] = []
    notes = run_notes(candidate, "candidate")
    if baseline is not None:
        found, more = against_baseline(baseline, candidate, config, allow_host_change,
                                       calibration)
        items += found
        notes += more
    for pair in [*config.ab, *ab]:
        items += compare_variants(candidate, parse_pair(pair), config)
    items += check_limits(candidate, config)
    if not items:
        raise GateError("nothing to gate: no rule matched a metric"
                        + ("" if baseline or ab or config.ab else
                           " (give --baseline DIR or --ab A:B for relative rules)"))
    return items, notes


def gate_runs(candidate: Run, baseline: Run | None, config: GateConfig, *,
              allow_host_change: bool = False, ab: Sequence[str] = (),
              calibration: Calibration | None = None) -> GateResult:
    """Every rule on every row it matches, corrected for the number of rows."""
    items, notes = gate_items(candidate, baseline, config, allow_host_change=allow_host_change,
                              ab=ab, calibration=calibration)
    evaluations, tests = finish(items)
    notes += power_notes(items)
    return GateResult(str(candidate.path), None if baseline is None else str(baseline.path),
                      config.alpha, evaluations, notes, tests)


def gate_run(candidate_run: Path | Run, baseline_run: Path | Run | None,
             gate_config: GateConfig | None, *, allow_host_change: bool = False,
             ab: Sequence[str] = (), calibration: Path | None = None,
             rules_dir: Path | None = None, uncalibrated: bool = False) -> GateResult:
    """Every rule on every row it matches, between two results directories (or runs already
    loaded). gate_config None: the candidate config's gate section, else the defaults.
    Raises GateError/ResultsError (exit 2) when nothing compares, and UncalibratedHost when
    a baseline run is given without a calibration of the candidate's host kind (unless
    `uncalibrated`)."""
    candidate = loaded(candidate_run)
    config = gate_config or gate_config_of(candidate.manifest) or GateConfig()
    baseline = loaded(baseline_run) if baseline_run is not None else None
    spread = None
    if baseline is not None:
        comparable(baseline, candidate, allow_host_change)  # refused before the calibration
        spread = load_calibration(config, calibration, rules_dir or config_dir_of(
            candidate.manifest), candidate, uncalibrated)
    return gate_runs(candidate, baseline, config, allow_host_change=allow_host_change, ab=ab,
                     calibration=spread)


def load_rules(path: Path) -> GateConfig:
    """A --rules file: a gate section, or a whole run config that has one."""
    from foundation.yaml_input import load_yaml, read_text

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
        return parse_gate(document)
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None
