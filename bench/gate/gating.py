"""A gate from what `bench gate` asks to its verdict table, its files and its exit code (the
command line is bench/commands/gate.py)."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from foundation.errors import ConfigError
from foundation.files import write_output

if TYPE_CHECKING:
    from bench.gate.evaluate import GateResult
    from bench.gate.rules import GateConfig
    from bench.history import StoreChoice


@dataclass(frozen=True)
class AgainstHistory:
    """The baselines are the last `count` comparable runs of a history store (`imported`:
    runs brought in by `bench history import` count too)."""

    count: int
    store: StoreChoice
    imported: bool = False


@dataclass(frozen=True)
class GateRequest:
    """What is gated against what, under which rules, and where the verdicts go besides the
    table (JUnit XML, Markdown, JSON on stdout with the table on stderr)."""

    candidate: Path
    baseline: Path | None = None
    history: AgainstHistory | None = None
    ab: tuple[str, ...] = ()
    rules: Path | None = None
    calibration: Path | None = None
    allow_host_change: bool = False
    uncalibrated: bool = False
    junit: Path | None = None
    markdown: Path | None = None
    json: bool = False


def gate(request: GateRequest) -> int:
    from bench.gate.evaluate import exit_code, gate_run, load_rules
    from bench.gate.output import print_table, to_json, to_junit, to_markdown

    rules = load_rules(request.rules) if request.rules else None
    for pair in request.ab:
        check_pair(pair)
    if request.history is not None:
        result = gate_against_history(request, request.history, rules)
    else:
        result = gate_run(request.candidate, request.baseline,
                          rules, allow_host_change=request.allow_host_change, ab=request.ab,
                          calibration=request.calibration,
                          rules_dir=request.rules.parent if request.rules else None,
                          uncalibrated=request.uncalibrated)
    console = Console(stderr=request.json, width=None if sys.stdout.isatty() else 160)
    print_table(result, console)
    if request.junit:
        write_output(request.junit, to_junit(result))
    if request.markdown:
        write_output(request.markdown, to_markdown(result))
    if request.json:
        print(json.dumps(to_json(result), indent=2))
    return exit_code(result)


def gate_against_history(request: GateRequest, history: AgainstHistory,
                         rules: GateConfig | None) -> GateResult:
    from bench.gate.history import gate_history

    if request.baseline:
        raise ConfigError("--history N and --baseline DIR: give one of them")
    with history.store.open() as store:
        return gate_history(request.candidate, store, history.count, rules, ab=request.ab,
                            calibration=request.calibration,
                            rules_dir=request.rules.parent if request.rules else None,
                            uncalibrated=request.uncalibrated, imported=history.imported)


def check_pair(pair: str) -> None:
    from bench.gate.rules import parse_pair

    try:
        parse_pair(pair)
    except ValueError as error:
        raise ConfigError(f"--ab: {error}") from None
