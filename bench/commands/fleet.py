"""`bench fleet run INVENTORY CONFIG` and `bench fleet report FLEET_DIR`: what they do is
bench/fleet/actions.py (the request, the run and its tables), bench/fleet/run.py (Ansible)."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.commands.arguments import environment_of, path_or_none

NAME = "fleet"
HELP = "run one config on every host of an Ansible inventory, into one store"
DESCRIPTION = HELP + " (through Ansible)"
DEFAULT_FORKS = 5
DEFAULT_TIMEOUT = 6 * 3600  # as bench.fleet.actions.DEFAULT_TIMEOUT: this module imports nothing heavy


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="fleet_command", required=True, metavar="ACTION")
    run = actions.add_parser("run", help=HELP, description=HELP + ": bench goes to each host "
                             "as a wheel built here, runs its host set-up and `bench run CONFIG`, "
                             "records into --store and sends its results directory back; hosts "
                             "of one machine run one after the other, machines in parallel")
    run.add_argument("inventory", help="an Ansible inventory (INI or YAML file, or a directory)")
    run.add_argument("config", help="the bench config every host runs")
    run.add_argument("--store", metavar="URL", help="the shared history store every host records "
                     "into: a postgresql:// URL the hosts can reach, or `none` "
                     "(default: $BENCH_STORE)")
    run.add_argument("-l", "--limit", metavar="PATTERN", help="only these hosts (an Ansible "
                     "host pattern, as ansible-playbook --limit)")
    run.add_argument("-C", "--check", action="store_true", help="say what would run where "
                     "(reads each host's machine identity) and start nothing")
    run.add_argument("-f", "--forks", type=int, default=DEFAULT_FORKS,
                     help=f"hosts Ansible works on at once (default {DEFAULT_FORKS})")
    run.add_argument("--timeout", type=int, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                     help=f"stop a wave that runs longer (default {DEFAULT_TIMEOUT} s)")
    run.add_argument("-o", "--output", metavar="DIR", help="the fleet directory to create "
                     "(default: <config output>/<time>-<config>-fleet-<id>)")
    report = actions.add_parser("report", help="write a fleet directory's report again")
    report.add_argument("fleet", metavar="FLEET_DIR", help="a directory bench fleet run wrote")
    report.add_argument("-o", "--output", metavar="FILE", help="default: FLEET_DIR/fleet.html")


def main(args: argparse.Namespace) -> int:
    from bench.fleet.actions import FleetAsk, fleet_report, fleet_run

    if args.fleet_command == "report":
        return fleet_report(Path(args.fleet), path_or_none(args.output))
    return fleet_run(FleetAsk(Path(args.inventory), Path(args.config),
                              args.store or environment_of(args).store, args.limit, args.forks,
                              args.timeout, path_or_none(args.output), args.check))
