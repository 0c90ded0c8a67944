"""The gate end to end on synthetic results directories: verdicts, guard, A/B, outputs, exits."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import FrozenInstanceError
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench.config import parse_config
from bench.gate.evaluate import exit_code, gate_run, load_rules
from bench.gate.output import row, to_markdown
from bench.gate.rules import GateConfig, parse_gate
from bench.results.manifest import Manifest, RunConfig
from bench.results.sample import Sample
from bench.results.units import parse_quantity
from bench.results.writer import RunWriter
from foundation.errors import ConfigError, GateError, ResultsError
from tests.gate_fixtures import HOST, MEDIANS, cli, make_run, values


def verdicts(result: Any) -> dict[tuple[str, str, str], str]:
    return {(e.runtime, e.workload, e.metric): e.verdict for e in result.evaluations}


def test_same_code_passes_and_a_regression_fails(tmp_path: Path) -> None:
    base = make_run(tmp_path / "base", seed=1)
    same = make_run(tmp_path / "same", seed=2)
    slow = make_run(tmp_path / "slow", seed=3, medians={**MEDIANS, ("idle", "boot.total"): 6.5})
    result = gate_run(same, base, None, uncalibrated=True)
    assert exit_code(result) == 0 and set(verdicts(result).values()) == {"pass"}
    result = gate_run(slow, base, None, uncalibrated=True)
    assert verdicts(result)[("process", "idle", "boot.total")] == "fail"
    assert exit_code(result) == 1
    assert cli(["gate", "--baseline", str(base), "--candidate", str(slow), "--uncalibrated"]) == 1
    assert cli(["gate", "--baseline", str(slow), "--candidate", str(base), "--uncalibrated"]) == 0  # improved


def test_improvement_is_reported_and_passes(tmp_path: Path) -> None:
    base = make_run(tmp_path / "base", seed=1)
    fast = make_run(tmp_path / "fast", seed=4,
                    medians={**MEDIANS, ("syscalls", "syscall.getppid"): 180.0})
    result = gate_run(fast, base, None, uncalibrated=True)
    assert verdicts(result)[("process", "syscalls", "syscall.getppid")] == "improved"
    assert exit_code(result) == 0


def test_defaults_cover_boot_syscall_and_memory_overhead(tmp_path: Path) -> None:
    base = make_run(tmp_path / "base", {"process": 1.0, "other": 1.0}, seed=1)
    cand = make_run(tmp_path / "cand", {"process": 1.0, "other": 1.0}, seed=2)
    metrics = {e.metric for e in gate_run(cand, base, None, uncalibrated=True).evaluations}
    assert metrics == {"boot.total", "syscall.getppid", "memory.overhead"}


def test_the_candidate_config_gate_section_is_used_and_rules_override_it(tmp_path: Path) -> None:
    gate = {"rules": [{"kind": "relative", "metric": "memory.host_pss", "percent": 5}]}
    base = make_run(tmp_path / "base", seed=1)
    cand = make_run(tmp_path / "cand", seed=2, gate=gate)
    found = gate_run(cand, base, None, uncalibrated=True)
    assert {e.metric for e in found.evaluations} == {"memory.host_pss"}
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - {kind: relative, metric: boot.total, percent: 10}\n")
    assert {e.metric for e in gate_run(cand, base, load_rules(rules), uncalibrated=True).evaluations} == {
        "boot.total"}


def test_host_differences_are_refused_unless_allowed(tmp_path: Path) -> None:
    base = make_run(tmp_path / "base", seed=1)
    other_cpu = make_run(tmp_path / "cpu", seed=2, host={"cpu_model": "Intel Xeon"})
    with pytest.raises(GateError, match="cpu_model 'AMD EPYC 7B13' -> 'Intel Xeon'"):
        gate_run(other_cpu, base, None)
    assert cli(["gate", "--baseline", str(base), "--candidate", str(other_cpu)]) == 2
    result = gate_run(other_cpu, base, None, allow_host_change=True, uncalibrated=True)
    assert any("cpu_model" in note for note in result.notes)
    for field in ("kernel", "cgroup_version"):
        changed = make_run(tmp_path / field, seed=2, host={field: "other"})
        with pytest.raises(GateError, match=field):
            gate_run(changed, base, None)


def test_accel_of_a_runtime_is_part_of_the_guard(tmp_path: Path) -> None:
    scales = {"process": 1.0, "vm": 1.0}
    kvm = make_run(tmp_path / "kvm", scales, seed=1, drivers={"vm": {"accel": "kvm"}})
    tcg = make_run(tmp_path / "tcg", scales, seed=2, drivers={"vm": {"accel": "tcg"}})
    with pytest.raises(GateError, match="runtime vm accel 'kvm' -> 'tcg'"):
        gate_run(tcg, kvm, None)
    seccomp = make_run(tmp_path / "seccomp", scales, seed=3,
                       drivers={"vm": {"accel": "kvm", "seccomp": "unconfined"}})
    # other driver changes are noted, not refused
    notes = gate_run(seccomp, kvm, None, uncalibrated=True).notes
    assert any("seccomp" in note for note in notes)


def test_data_errors_exit_2(tmp_path: Path) -> None:
    base = make_run(tmp_path / "base", seed=1)
    assert cli(["gate", "--baseline", str(tmp_path / "nope"), "--candidate", str(base)]) == 2
    elsewhere = make_run(tmp_path / "elsewhere", {"docker": 1.0}, seed=2)
    with pytest.raises(GateError, match="no metric in common"):
        gate_run(elsewhere, base, None)
    with pytest.raises(GateError, match="nothing to gate"):
        gate_run(base, None, None)
    assert cli(["gate", "--candidate", str(base), "--ab", "process"]) == 2
    assert cli(["gate", "--candidate", str(base), "--ab", "process:docker"]) == 2
    with pytest.raises(ResultsError):
        gate_run(tmp_path / "nope", base, None)


def test_a_broken_candidate_fails(tmp_path: Path) -> None:
    scales = {"process": 1.0, "docker": 1.2}
    base = make_run(tmp_path / "base", scales, seed=1)
    broken = make_run(tmp_path / "broken", scales, seed=2, failed=["docker"])
    result = gate_run(broken, base, None, uncalibrated=True)
    failing = [e for e in result.evaluations if e.verdict == "fail"]
    assert failing and all(e.runtime == "docker" and "it broke" in e.message for e in failing)


def test_ab_variants_in_one_run(tmp_path: Path) -> None:
    run = make_run(tmp_path / "ab", {"process": 1.0, "docker-unconfined": 1.0,
                                     "docker-default": 1.3}, seed=5)
    result = gate_run(run, None, None, ab=["docker-unconfined:docker-default"])
    assert {e.reference for e in result.evaluations} == {"docker-unconfined"}
    assert verdicts(result)[("docker-default", "syscalls", "syscall.getppid")] == "fail"
    assert cli(["gate", "--candidate", str(run), "--ab", "docker-unconfined:docker-default"]) == 1
    reverse = gate_run(run, None, None, ab=["docker-default:docker-unconfined"])
    assert verdicts(reverse)[("docker-unconfined", "syscalls", "syscall.getppid")] == "improved"
    same = gate_run(run, None, GateConfig(ab=["process:docker-unconfined"]))
    assert exit_code(same) == 0


def ratio_gate(limit: float, metric: str = "syscall.getppid") -> GateConfig:
    return parse_gate(
        {"rules": [{"kind": "ratio", "metric": metric, "runtime": "docker*", "limit": limit}]})


@pytest.mark.parametrize(("scale", "limit", "verdict"), [
    (1.3, 1.5, "pass"), (2.0, 1.5, "fail"), (1.56, 1.5, "warn")])
def test_ratio_rule_against_the_process_baseline(tmp_path: Path, scale: float, limit: float,
                                                 verdict: str) -> None:
    run = make_run(tmp_path / "run", {"process": 1.0, "docker": scale}, seed=6, repetitions=8)
    result = gate_run(run, None, ratio_gate(limit))
    (only,) = result.evaluations
    assert (only.runtime, only.reference, only.verdict) == ("docker", "process", verdict)
    assert only.change == pytest.approx(scale, rel=0.05)


def test_ratio_rule_needs_enough_repetitions(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", {"process": 1.0, "docker": 3.0}, seed=6, repetitions=5)
    result = gate_run(run, None, ratio_gate(1.5))
    (only,) = result.evaluations
    assert only.verdict == "underpowered"
    assert only.message == "5 instances: a 98 % interval of a median needs at least 7"
    assert only.change_low is None  # five instances: the ratio has no interval at all...
    assert row(only)["change"].endswith("x [no interval]")  # ...and every table says so
    assert "no interval" in to_markdown(result)


@pytest.mark.parametrize(("median", "verdict"), [(25.0, "fail"), (19.0, "pass"), (20.6, "warn")])
def test_absolute_rule(tmp_path: Path, median: float, verdict: str) -> None:
    run = make_run(tmp_path / "run", {"process": 1.0, "native": 1.0}, seed=7, repetitions=10,
                   medians={("idle", "boot.total"): median})
    gate = parse_gate({"rules": [{"kind": "absolute", "metric": "boot.total",
                                                 "runtime": "native", "limit": "20 ms"}]})
    (only,) = gate_run(run, None, gate).evaluations
    assert (only.runtime, only.verdict, only.reference_median) == ("native", verdict, 20.0)


def test_samples_of_one_instance_count_once(tmp_path: Path) -> None:
    """Batches of one instance move together; pooling them would make noise significant."""
    rng = np.random.default_rng(8)
    paths = []
    levels = {"base": (200, 210, 220, 300, 310, 320), "cand": (210, 220, 300, 310, 320, 330)}
    for name, instances in levels.items():  # each instance lands at its own level
        path = tmp_path / name
        store = RunWriter.create(path, Manifest(run_id=name, config=RunConfig({"runtimes": {}}), host=HOST))
        for rep, level in enumerate(instances):
            store.append([Sample("process", "syscalls", "syscall.getppid", v, rep, cell=rep)
                          for v in values(rng, level, 30, 0.01)])
        store.close()
        paths.append(path)
    pooled = GateConfig(sample_unit="sample")
    (by_instance,) = gate_run(paths[1], paths[0], GateConfig(), uncalibrated=True).evaluations
    (by_sample,) = gate_run(paths[1], paths[0], pooled, uncalibrated=True).evaluations
    assert (by_instance.n_candidate, by_instance.verdict) == (6, "pass")
    assert (by_sample.n_candidate, by_sample.verdict) == (180, "fail")


def test_outputs_junit_markdown_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = make_run(tmp_path / "base", seed=1)
    slow = make_run(tmp_path / "slow", seed=3, medians={**MEDIANS, ("idle", "boot.total"): 7.0})
    junit, markdown = tmp_path / "gate.xml", tmp_path / "gate.md"
    capsys.readouterr()
    code = cli(["gate", "--uncalibrated", "--baseline", str(base), "--candidate", str(slow),
                "--junit", str(junit), "--markdown", str(markdown), "--json"])
    assert code == 1
    document = json.loads(capsys.readouterr().out)
    assert document["verdict"] == "fail" and document["exit_code"] == 1
    root = ET.parse(junit).getroot()
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    cases = suite.findall("testcase")
    assert len(cases) == len(document["evaluations"]) == int(suite.get("tests", "0"))
    failures = [case for case in cases if case.find("failure") is not None]
    assert len(failures) == int(suite.get("failures", "0")) == document["counts"]["fail"]
    assert all(case.find("failure").get("message") for case in failures)  # type: ignore[union-attr]
    assert any("boot.total" in (case.get("name") or "") for case in failures)
    text = markdown.read_text()
    assert "| metric | runtime |" in text and "**fail**" in text


def test_quantities_convert_to_the_metric_unit() -> None:
    assert parse_quantity("0.5 ms", "ms") == 0.5
    assert parse_quantity("0.5 ms", "ns") == pytest.approx(500_000)
    assert parse_quantity("1 MiB", "bytes") == 1 << 20
    assert parse_quantity(10, "ns") == 10
    with pytest.raises(ValueError, match="cannot be converted"):
        parse_quantity("1 MiB", "ns")


def test_gate_section_in_a_run_config() -> None:
    document = {"runtimes": {"process": {"driver": "process"}},
                "workloads": {"idle": {"mode": "ready"}},
                "gate": {"alpha": 0.05, "rules": [
                    {"kind": "relative", "metric": "boot.*", "percent": 5, "floor": "0.5 ms"},
                    {"kind": "ratio", "metric": "syscall.getppid", "limit": 1.5},
                    {"kind": "absolute", "metric": "boot.total", "runtime": "native",
                     "limit": 20}]}}
    config = parse_config(document)
    assert config.gate is not None and len(config.gate.rules) == 3
    bad = {**document, "gate": {"rules": [{"kind": "relative", "metric": "x", "percent": -1}]}}
    with pytest.raises(ConfigError, match="gate.rules.0"):
        parse_config(bad)
    bad = {**document, "gate": {"rules": [{"kind": "ratio", "metric": "x", "limit": 2,
                                           "floor": 1}]}}
    with pytest.raises(ConfigError, match="floor: unknown key"):
        parse_config(bad)
    for value, says in ((True, "expected a number, not true or false"),
                        (float("nan"), "finite number"), (float("inf"), "finite number")):
        bad = {**document, "gate": {"alpha": value}}
        with pytest.raises(ConfigError, match=f"gate.alpha: .*{says}"):
            parse_config(bad)
    config = parse_config({**document, "gate": {"rules": [
        {"kind": "absolute", "metric": "boot.total", "limit": "20 ms"}]}})
    assert config.gate is not None and config.gate.rules[0].kind == "absolute"
    with pytest.raises(FrozenInstanceError):
        config.gate.alpha = 0.2  # type: ignore[misc]


def test_rules_file_errors_are_config_errors(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules: [{kind: relative, metric: boot.total}]\n")
    with pytest.raises(ConfigError, match="percent"):
        load_rules(rules)
    rules.write_text("gate:\n  ab: ['a:b']\nruntimes: {}\n")  # a whole run config
    assert load_rules(rules).ab == ["a:b"]
    with pytest.raises(ConfigError, match="cannot read"):
        load_rules(tmp_path / "missing.yaml")


def test_example_ci_config_loads() -> None:
    from bench.config import load_config

    config = load_config(Path(__file__).parents[2] / "configs" / "ci-gate.yaml")
    assert config.gate is not None and config.gate.rules


# --- between sittings: Holm's correction and the calibration ---------------------------

SITTINGS = [1.0, 1.25, 0.85, 1.1, 0.9, 1.2]  # what each sitting did to every figure (load...)


def test_a_calibration_absorbs_the_drift_between_sittings(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sittings = [make_run(tmp_path / f"s{i}", {"process": shift}, seed=20 + i)
                for i, shift in enumerate(SITTINGS)]
    base = make_run(tmp_path / "base", {"process": 0.85}, seed=30)
    drifted = make_run(tmp_path / "drifted", {"process": 1.2}, seed=31)  # same code, +41 %
    # a rank test calls the drift a change
    assert exit_code(gate_run(drifted, base, None, uncalibrated=True)) == 1
    calibration = tmp_path / "calibration.json"
    assert cli(["calibrate", *map(str, sittings), "-o", str(calibration)], capsys) == 0
    printed = capsys.readouterr().out
    assert "of 30 ordered pairs of sittings failed the gate" in printed
    assert calibration.exists()
    calibrated = gate_run(drifted, base, None, calibration=calibration)
    assert exit_code(calibrated) == 0, [e.message for e in calibrated.evaluations]
    boot = next(e for e in calibrated.evaluations if e.metric == "boot.total")
    assert boot.sitting_sd == pytest.approx(float(np.std(np.log(SITTINGS), ddof=1)), rel=0.2)
    assert any("calibrated from 6 A/A sittings" in note for note in calibrated.notes)
    slower = make_run(tmp_path / "slower", {"process": 1.0}, seed=32,
                      medians={**MEDIANS, ("idle", "boot.total"): 5.0 * 6})
    found = verdicts(gate_run(slower, base, None, calibration=calibration))
    assert found[("process", "idle", "boot.total")] == "fail"  # far beyond the sittings' spread
    assert found[("process", "syscalls", "syscall.getppid")] == "pass"


def test_the_calibration_is_named_in_the_gate_section_next_to_its_config(tmp_path: Path) -> None:
    sittings = [make_run(tmp_path / f"s{i}", {"process": shift}, seed=40 + i)
                for i, shift in enumerate(SITTINGS[:3])]
    config_dir = tmp_path / "configs"
    config_dir.mkdir()
    assert cli(["calibrate", *map(str, sittings), "-o", str(config_dir / "cal.json")]) == 0
    rules = config_dir / "rules.yaml"
    rules.write_text("calibration: cal.json\nrules:\n"
                     "  - {kind: relative, metric: boot.total, percent: 10}\n")
    base = make_run(tmp_path / "base", {"process": 0.85}, seed=50)
    drifted = make_run(tmp_path / "drifted", {"process": 1.2}, seed=51)
    assert cli(["gate", "--baseline", str(base), "--candidate", str(drifted), "--rules",
                str(rules)]) == 0
    (config_dir / "cal.json").write_text("{}")
    assert cli(["gate", "--baseline", str(base), "--candidate", str(drifted), "--rules",
                str(rules)]) == 2  # an unreadable calibration is a data error


def test_holm_counts_every_row_of_the_gate(tmp_path: Path) -> None:
    """A row significant alone but not among the gate's rows passes and says why."""
    base = make_run(tmp_path / "base", {"process": 1.0, "a": 1.0, "b": 1.0, "c": 1.0}, seed=60,
                    repetitions=6)
    cand = make_run(tmp_path / "cand", {"process": 1.0, "a": 1.0, "b": 1.0, "c": 1.15}, seed=61,
                    repetitions=6)
    alone = gate_run(cand, base, parse_gate(
        {"rules": [{"kind": "relative", "metric": "boot.total", "runtime": "c", "percent": 5}]}),
        uncalibrated=True)
    assert verdicts(alone)[("c", "idle", "boot.total")] == "fail"
    together = gate_run(cand, base, parse_gate(
        {"rules": [{"kind": "relative", "metric": "*", "percent": 5}]}), uncalibrated=True)
    row = next(e for e in together.evaluations if (e.runtime, e.metric) == ("c", "boot.total"))
    assert row.verdict == "pass" and "not after Holm's correction" in row.message
    assert row.p_adjusted is not None and row.p_value is not None
    assert row.p_adjusted > row.p_value and together.tests >= 12


def test_rules_too_weak_for_the_correction_are_named(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", {"process": 1.0, "docker": 1.0}, seed=70, repetitions=8)
    gate = parse_gate({"rules": [
        {"kind": "absolute", "metric": "*", "limit": 1e12},
        {"kind": "ratio", "metric": "*", "runtime": "docker", "limit": 2}]})
    notes = gate_run(run, None, gate).notes
    assert any("too large to fail on its own after the correction" in n for n in notes)
