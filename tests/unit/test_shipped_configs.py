"""Every shipped config gives every row an interval (issue 26): each runtime runs at least the
instances an exact 95 % interval of a median needs, and the header says how long a run takes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench.config import load_config
from bench.results.estimates import min_instances

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
# a density ladder's unit is the ladder, not the repetition (configs/density.yaml says how it
# gets its intervals); every other config repeats instances (a storm config, storms)
REPEATED = ["ci-gate.yaml", "full.yaml", "image-isolations.yaml", "quick.yaml", "runtimes.yaml",
            "starts.yaml", "storms.yaml", "vms.yaml", "workloads.yaml"]


@pytest.mark.parametrize("name", REPEATED)
def test_every_runtime_runs_enough_instances_for_an_interval(name: str) -> None:
    config = load_config(CONFIGS / name)
    few = {runtime: config.repetitions_of(runtime) for runtime in config.runtimes
           if config.repetitions_of(runtime) < min_instances()}
    assert not few, f"{name}: too few repetitions for a 95 % interval of a median: {few}"


@pytest.mark.parametrize("name", ["full.yaml", "image-isolations.yaml", "quick.yaml",
                                  "runtimes.yaml", "starts.yaml", "workloads.yaml"])
def test_the_header_says_how_long_a_run_takes(name: str) -> None:
    header = "".join(line for line in (CONFIGS / name).read_text().splitlines(keepends=True)
                     if line.startswith("#"))
    assert re.search(r"\d+(-\d+)? min", header), f"{name}: no run time in its header"
    assert "PLACEHOLDER" not in header
