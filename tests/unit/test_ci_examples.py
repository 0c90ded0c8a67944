"""The CI matrix examples (docs/examples, docs/ci-matrix.md) stay true: they load as YAML, hold
a matrix over runner types, and every bench command in them is one bench accepts, naming
files this checkout has."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from bench.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "docs" / "examples"


def load(name: str) -> dict[str, Any]:
    document = yaml.safe_load((EXAMPLES / name).read_text())
    assert isinstance(document, dict)
    return document


def github_steps(document: dict[str, Any]) -> tuple[list[Any], list[str]]:
    job = document["jobs"]["bench"]
    assert job["runs-on"] == "${{ matrix.runner }}"
    return job["strategy"]["matrix"]["runner"], [step["run"] for step in job["steps"]
                                                 if "run" in step]


def gitlab_steps(document: dict[str, Any]) -> tuple[list[Any], list[str]]:
    job = document["bench"]
    (axis,) = job["parallel"]["matrix"]
    assert job["tags"] == ["$RUNNER_TYPE"]
    return axis["RUNNER_TYPE"], list(job["script"])


def bench_commands(lines: list[str]) -> list[list[str]]:
    """Each command line's words from `bench` on (a `sudo -E` before it is the runner's)."""
    found = []
    for line in lines:
        words = shlex.split(line)
        if "bench" in words:
            found.append(words[words.index("bench") + 1:])
    return found


def check_command(argv: list[str]) -> None:
    """bench's own parser takes it (SystemExit otherwise), and the files it names exist."""
    build_parser(argv[0]).parse_args(argv)
    for word in argv:
        if word.startswith("configs/"):
            assert (ROOT / word).is_file(), word


@pytest.mark.parametrize(("name", "steps"), [("github-actions.yml", github_steps),
                                             ("gitlab-ci.yml", gitlab_steps)])
def test_each_example_runs_bench_per_runner_type_into_one_store(name: str, steps: Any) -> None:
    runners, lines = steps(load(name))
    assert len(runners) >= 2
    assert any(".ci/host-setup" in line for line in lines)
    commands = bench_commands(lines)
    assert [argv[0] for argv in commands] == ["run", "gate"]
    for argv in commands:
        check_command(argv)
    run, gate = commands
    assert "--store-required" in run and "--history" in gate
    assert "BENCH_STORE" in (EXAMPLES / name).read_text()


def test_the_check_refuses_a_command_bench_does_not_know() -> None:
    with pytest.raises(SystemExit):
        check_command(["gate", "--candidate", "results/candidate", "--histroy", "5"])
    with pytest.raises(AssertionError):
        check_command(["run", "configs/no-such-config.yaml"])
