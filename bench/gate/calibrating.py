"""A calibration from what `bench calibrate` asks to its tables and its file (the command
line is bench/commands/calibrate.py)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from foundation.errors import ConfigError

if TYPE_CHECKING:
    from bench.gate.calibration import Calibration
    from bench.gate.rules import GateConfig
    from bench.history import StoreChoice
    from bench.results.run import Run


@dataclass(frozen=True)
class CalibrateRequest:
    """The A/A sittings (or, with `history`, one run whose host kind and config select the
    sittings from that store; `imported`: runs brought in by `bench history import` too),
    the rules, and the file the calibration is added to."""

    sittings: tuple[Path, ...]
    history: StoreChoice | None = None
    imported: bool = False
    rules: Path | None = None
    output: Path | None = None


def calibrate(request: CalibrateRequest) -> int:
    from bench.gate.calibration import write
    from bench.gate.evaluate import gate_config_of, load_rules
    from bench.gate.rules import GateConfig
    from bench.results.run import load_run

    runs = [load_run(path) for path in request.sittings]
    config = (load_rules(request.rules) if request.rules else
              gate_config_of(runs[0].manifest) or GateConfig())
    console = Console(width=None if sys.stdout.isatty() else 160)
    if request.history is not None:
        if len(runs) != 1:
            raise ConfigError("--history takes one results directory: a run of the host kind "
                              "and config to calibrate (the sittings come from the store)")
        calibration = calibrate_from_history(request.history, request.imported, runs[0], config,
                                             console)
    else:
        calibration = calibrate_from_sittings(runs, config, console)
    if request.output:
        kept = write(request.output, calibration)
        others = f"; kept the calibrations of {len(kept)} other host kind(s)" if kept else ""
        console.print(f"calibration of {len(calibration.sd)} rows for this host kind written to "
                      f"{request.output}{others}", highlight=False)
    return 0


def calibrate_from_sittings(runs: list[Run], config: GateConfig, console: Console) -> Calibration:
    from bench.gate.aa import measure
    from bench.gate.calibration import MIN_SITTINGS, estimate
    from bench.gate.output import print_measurement

    if len(runs) >= MIN_SITTINGS + 2:
        measurement = measure(runs, config)
        print_measurement(measurement, console)
        return measurement.calibration
    calibration = estimate(runs, config.per_instance)
    console.print(f"{len(runs)} sittings: enough for a calibration, not for measuring the "
                  f"gate (that needs {MIN_SITTINGS + 2})", highlight=False)
    return calibration


def calibrate_from_history(history: StoreChoice, imported: bool, like: Run, config: GateConfig,
                           console: Console) -> Calibration:
    from bench.gate.history_calibration import from_history
    from bench.gate.output import print_calibration

    if not config.per_instance:
        raise ConfigError("--history calibrates one observation per repetition (what the "
                          "store keeps); for sample_unit: sample, give the sittings' directories")
    with history.open() as store:
        calibration, sittings = from_history(store, like, imported)
    print_calibration(calibration, sittings.left_out, console)
    return calibration
