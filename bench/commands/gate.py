"""`bench gate`: a candidate run against a baseline, the history store or its own variants;
the gate itself is bench/gate/gating.py."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.commands.arguments import path_or_none, store_choice

NAME = "gate"
HELP = "compare a candidate run with a baseline run (or variants in one run); exit 1 on a " \
    "regression"
EPILOG = """\
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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--candidate", required=True, metavar="DIR", help="results directory gated")
    parser.add_argument("--baseline", metavar="DIR", help="results directory compared against")
    parser.add_argument("--history", type=int, metavar="N", help="compare with the last N "
                        "comparable runs in the history store (same host and config; a row fails "
                        "only against a majority of them)")
    parser.add_argument("--store", metavar="URL", help="history store for --history (default: "
                        "$BENCH_STORE, else the per-user SQLite file)")
    parser.add_argument("--include-imported", action="store_true", help="with --history: also "
                        "compare with runs brought in by `bench history import` (and runs recorded "
                        "before the store kept where they came from); by default only runs that "
                        "`bench run` recorded on the host where they ran")
    parser.add_argument("--ab", action="append", default=[], metavar="A:B",
                        help="A/B in the candidate run: variant B against variant A (repeatable)")
    parser.add_argument("--rules", metavar="FILE", help="YAML gate section (or a run config "
                        "with one); default: the candidate run config's, else the defaults")
    parser.add_argument("--allow-host-change", action="store_true",
                        help="compare runs from hosts that differ (the differences are noted)")
    parser.add_argument("--calibration", metavar="FILE", help="between-sitting spread from "
                        "`bench calibrate` (default: the gate section's `calibration:`); only "
                        "the candidate host kind's is used")
    parser.add_argument("--uncalibrated", action="store_true", help="gate between sittings "
                        "without a calibration of this host's kind: the rank test alone, which "
                        "counts the drift between sittings as a change")
    parser.add_argument("--junit", metavar="FILE", help="also write JUnit XML")
    parser.add_argument("--markdown", metavar="FILE", help="also write a Markdown table")
    parser.add_argument("--json", action="store_true",
                        help="print the verdicts as JSON on stdout (the table goes to stderr)")


def main(args: argparse.Namespace) -> int:
    from bench.gate.gating import AgainstHistory, GateRequest, gate

    history = (AgainstHistory(args.history, store_choice(args), args.include_imported)
               if args.history is not None else None)
    return gate(GateRequest(
        Path(args.candidate), path_or_none(args.baseline), history, tuple(args.ab),
        path_or_none(args.rules), path_or_none(args.calibration), args.allow_host_change,
        args.uncalibrated, path_or_none(args.junit), path_or_none(args.markdown), args.json))
