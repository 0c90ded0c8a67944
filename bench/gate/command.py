"""The `bench gate` and `bench calibrate` subcommands (bench.cli adds them with add_parsers)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from foundation.errors import ConfigError
from foundation.files import write_output

if TYPE_CHECKING:
    from bench.gate.calibration import Calibration
    from bench.gate.evaluate import GateResult
    from bench.gate.rules import GateConfig
    from bench.results.run import Run

GATE_HELP = "compare a candidate run with a baseline run (or variants in one run); exit 1 on a " \
    "regression"
GATE_EPILOG = """\
rules (a --rules YAML file, else the candidate run config's `gate:` section, else defaults):
  relative  candidate against baseline (or A/B variant against variant). FAIL when the change
            of medians is worse with Mann-Whitney U p < alpha AND the bad-side bound of its
            bootstrap interval (two-sided 1 - 2*alpha) reaches `percent` AND `floor`; that is,
            a significant regression the data cannot show to be smaller than the threshold.
            A true regression of exactly `percent` fails about 1 - alpha of the time; smaller
            significant ones can fail while the interval is wide (more samples narrow it).
            IMPROVED (exit 0) mirrors it in the good direction: refresh a stale baseline.
  ratio     within the candidate run, median(runtime) / median(reference, default the
            run's baseline runtime) at most `limit`. FAIL when the interval's lower bound
            exceeds the limit (significant at alpha); WARN when only the point estimate does.
  absolute  within the candidate run, median at most `limit`. FAIL when the exact
            order-statistic 1 - alpha lower bound of the median exceeds the limit; WARN when
            only the median does.
  UNDERPOWERED (exit 0): too few samples for any result to reach alpha; add repetitions.
  A row whose candidate samples all failed FAILS. One observation is the median of one
  repetition (one instance) unless the gate section says `sample_unit: sample`.
defaults: relative 10 % on boot.total (floor 0.5 ms), syscall.* (floor 10 ns) and
  memory.overhead (floor 1 MiB); alpha 0.01, two-sided.
history (--history N): the relative rules against each of the last N runs in the history
  store with the candidate's host fingerprint and config hash; a row fails only when it fails
  against a majority of them, so one noisy baseline cannot fail a change on its own.
between sittings (--baseline, --history): relative rules use the calibration of the
  candidate's host kind (architecture, CPU model, cores, kernel, cgroup version, mitigations)
  from --calibration FILE or the gate section's `calibration:`; a file may hold several
  kinds and a calibration of another kind is never applied. Without one the gate refuses
  (exit 2, saying how to calibrate); --uncalibrated gates with the rank test alone.
refused (exit 2): runs whose host cpu_model, kernel, cgroup_version or a runtime's accel
  differ (unless --allow-host-change), missing directories, nothing in common, no
  calibration of this host's kind for a gate between sittings.
exit codes: 0 pass (improved, warn, underpowered, skipped included), 1 a rule failed,
  2 usage or data error."""


CALIBRATE_HELP = "measure a gate on A/A sittings: its calibration, false-fail rate and the " \
    "smallest change it catches"
CALIBRATE_EPILOG = """\
Give K >= 3 results directories of the same config and the same code on one host kind, run
one after the other (K >= 5 to measure the false-fail rate, 10 or more for a useful
calibration); or, with --history, one results directory (e.g. the candidate): the sittings are
then the history store's complete runs of its host kind and config, grouped by commit (runs of
one commit are A/A sittings by construction), their spread pooled over the commits.
`-o FILE` adds this host kind's calibration to FILE (replacing an older one of the same kind,
keeping the other kinds').
  calibration      per row, the SD of the log of its median over the sittings (what a
                   sitting moves it by); `-o FILE` writes it for the gate's `calibration:`.
  false fails      every ordered pair of sittings gated against each other, each pair with a
                   calibration from the other K - 2 sittings only; and without a calibration.
  smallest change  per between-run row, the smallest synthetic regression (the candidate's
                   row scaled by 1 + x) that fails in 90 % of the pairs, the whole gate
                   evaluated (Holm's correction counts every row); "-" when not even +500 %."""


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Adds `gate` and `calibrate` to bench's subcommands."""
    gate = sub.add_parser("gate", help=GATE_HELP, description=GATE_HELP, epilog=GATE_EPILOG,
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    gate.set_defaults(handler=cmd_gate)
    gate.add_argument("--candidate", required=True, metavar="DIR", help="results directory gated")
    gate.add_argument("--baseline", metavar="DIR", help="results directory compared against")
    gate.add_argument("--history", type=int, metavar="N", help="compare with the last N "
                      "comparable runs in the history store (same host and config; a row fails "
                      "only against a majority of them)")
    gate.add_argument("--store", metavar="URL", help="history store for --history (default: "
                      "$BENCH_STORE, else the per-user SQLite file)")
    gate.add_argument("--include-imported", action="store_true", help="with --history: also "
                      "compare with runs brought in by `bench history import` (and runs recorded "
                      "before the store kept where they came from); by default only runs that "
                      "`bench run` recorded on the host where they ran")
    gate.add_argument("--ab", action="append", default=[], metavar="A:B",
                      help="A/B in the candidate run: variant B against variant A (repeatable)")
    gate.add_argument("--rules", metavar="FILE", help="YAML gate section (or a run config "
                      "with one); default: the candidate run config's, else the defaults")
    gate.add_argument("--allow-host-change", action="store_true",
                      help="compare runs from hosts that differ (the differences are noted)")
    gate.add_argument("--calibration", metavar="FILE", help="between-sitting spread from "
                      "`bench calibrate` (default: the gate section's `calibration:`); only "
                      "the candidate host kind's is used")
    gate.add_argument("--uncalibrated", action="store_true", help="gate between sittings "
                      "without a calibration of this host's kind: the rank test alone, which "
                      "counts the drift between sittings as a change")
    gate.add_argument("--junit", metavar="FILE", help="also write JUnit XML")
    gate.add_argument("--markdown", metavar="FILE", help="also write a Markdown table")
    gate.add_argument("--json", action="store_true",
                      help="print the verdicts as JSON on stdout (the table goes to stderr)")
    calibrate = sub.add_parser("calibrate", help=CALIBRATE_HELP, description=CALIBRATE_HELP,
                               epilog=CALIBRATE_EPILOG,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
    calibrate.set_defaults(handler=cmd_calibrate)
    calibrate.add_argument("sittings", nargs="+", metavar="DIR",
                           help="results directories of the same config and code (A/A); with "
                           "--history, one run of the host kind and config to calibrate")
    calibrate.add_argument("--history", action="store_true", help="the sittings from the "
                           "history store: its runs of DIR's host kind and config, by commit")
    calibrate.add_argument("--include-imported", action="store_true", help="with --history: "
                           "also take runs brought in by `bench history import` (by default only "
                           "runs `bench run` recorded here are sittings)")
    calibrate.add_argument("--store", metavar="URL", help="history store for --history "
                           "(default: $BENCH_STORE, else the per-user SQLite file)")
    calibrate.add_argument("-o", "--output", metavar="FILE",
                           help="write the calibration here (a gate's `calibration:` file)")
    calibrate.add_argument("--rules", metavar="FILE", help="YAML gate section (or a run "
                           "config with one); default: the first sitting's, else the defaults")


def cmd_gate(args: argparse.Namespace) -> int:
    from bench.gate.evaluate import exit_code, gate_run, load_rules
    from bench.gate.output import print_table, to_json, to_junit, to_markdown

    rules = load_rules(Path(args.rules)) if args.rules else None
    for pair in args.ab:
        check_pair(pair)
    if args.history is not None:
        result = gate_against_history(args, rules)
    else:
        result = gate_run(Path(args.candidate), Path(args.baseline) if args.baseline else None,
                          rules, allow_host_change=args.allow_host_change, ab=args.ab,
                          calibration=Path(args.calibration) if args.calibration else None,
                          rules_dir=Path(args.rules).parent if args.rules else None,
                          uncalibrated=args.uncalibrated)
    console = Console(stderr=args.json, width=None if sys.stdout.isatty() else 160)
    print_table(result, console)
    if args.junit:
        write_output(Path(args.junit), to_junit(result))
    if args.markdown:
        write_output(Path(args.markdown), to_markdown(result))
    if args.json:
        print(json.dumps(to_json(result), indent=2))
    return exit_code(result)


def gate_against_history(args: argparse.Namespace, rules: GateConfig | None) -> GateResult:
    from bench.gate.history import gate_history
    from bench.history.command import open_from

    if args.baseline:
        raise ConfigError("--history N and --baseline DIR: give one of them")
    store = open_from(args)
    try:
        return gate_history(Path(args.candidate), store, args.history, rules, ab=args.ab,
                            calibration=Path(args.calibration) if args.calibration else None,
                            rules_dir=Path(args.rules).parent if args.rules else None,
                            uncalibrated=args.uncalibrated, imported=args.include_imported)
    finally:
        store.close()


def check_pair(pair: str) -> None:
    from bench.gate.rules import parse_pair

    try:
        parse_pair(pair)
    except ValueError as error:
        raise ConfigError(f"--ab: {error}") from None


def cmd_calibrate(args: argparse.Namespace) -> int:
    from bench.gate.calibration import write
    from bench.gate.evaluate import gate_config_of, load_rules
    from bench.gate.rules import GateConfig
    from bench.results.run import load_run

    runs = [load_run(Path(path)) for path in args.sittings]
    config = (load_rules(Path(args.rules)) if args.rules else
              gate_config_of(runs[0].manifest) or GateConfig())
    console = Console(width=None if sys.stdout.isatty() else 160)
    if args.history:
        if len(runs) != 1:
            raise ConfigError("--history takes one results directory: a run of the host kind "
                              "and config to calibrate (the sittings come from the store)")
        calibration = calibrate_from_history(args, runs[0], config, console)
    else:
        calibration = calibrate_from_sittings(runs, config, console)
    if args.output:
        kept = write(Path(args.output), calibration)
        others = f"; kept the calibrations of {len(kept)} other host kind(s)" if kept else ""
        console.print(f"calibration of {len(calibration.sd)} rows for this host kind written to "
                      f"{args.output}{others}", highlight=False)
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


def calibrate_from_history(args: argparse.Namespace, like: Run, config: GateConfig,
                           console: Console) -> Calibration:
    from bench.gate.history_calibration import from_history
    from bench.gate.output import print_calibration
    from bench.history.command import open_from

    if not config.per_instance:
        raise ConfigError("--history calibrates one observation per repetition (what the "
                          "store keeps); for sample_unit: sample, give the sittings' directories")
    store = open_from(args)
    try:
        calibration, sittings = from_history(store, like, args.include_imported)
    finally:
        store.close()
    print_calibration(calibration, sittings.left_out, console)
    return calibration
