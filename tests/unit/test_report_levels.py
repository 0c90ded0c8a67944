"""The syscall section shows each instance's getppid median (the levels an interval over
instances is taken across) and how the instances were placed."""

from __future__ import annotations

from pathlib import Path

from reports.analysis import analyse
from reports.levels import instance_levels, level_notes, placement
from tests.report_fixtures import ALL, write_results


def test_one_dot_per_instance_for_each_runtime(tmp_path: Path) -> None:
    analysis = analyse([write_results(tmp_path / "run", runtimes=ALL, repetitions=6)])
    chart = instance_levels(analysis)
    assert chart is not None
    drawn = {trace.name: list(trace.y) for trace in chart.figure.data}
    expected = {label: sorted(values) for (label, _, metric), values in analysis.instances.items()
                if metric == "syscall.getppid"}
    assert drawn.keys() == expected.keys() and len(drawn) >= 2
    assert all(drawn[name] == [float(v) for v in expected[name]] for name in drawn)
    assert all(trace.boxpoints == "all" for trace in chart.figure.data)


def test_no_levels_without_syscall_instances(tmp_path: Path) -> None:
    analysis = analyse([write_results(tmp_path / "run", runtimes=ALL, repetitions=6)])
    analysis.instances = {key: values for key, values in analysis.instances.items()
                          if key[2] != "syscall.getppid"}
    assert instance_levels(analysis) is None
    assert level_notes(analysis) == []


def test_placement_says_pinned_or_left_to_the_scheduler() -> None:
    drivers = {"process": {"cpus": "1"}, "native": {"cpus": None}, "docker": {}}
    assert placement(drivers, ["docker", "native", "process"]) == (
        "process pinned to CPU(s) 1; docker, native unpinned (the scheduler chose their CPUs)")
    assert placement({}, []) == ""


def test_the_notes_name_the_cause_and_the_placement(tmp_path: Path) -> None:
    notes = level_notes(analyse([write_results(tmp_path / "run", runtimes=ALL, repetitions=6)]))
    assert "CPU's speed" in notes[0] and "cpu_levels.py" in notes[0]
    assert notes[1].startswith("Placement: ") and "unpinned" in notes[1]
