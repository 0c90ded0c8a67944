"""`bench fleet run INVENTORY CONFIG` and `bench fleet report FLEET_DIR`.

bench.cli adds these with add_parser and passes the store the environment names
(args.env_store): the CLI alone reads the environment.
"""

from __future__ import annotations

import argparse
import datetime
import secrets
import time
from pathlib import Path

from rich.table import Table

from bench.fleet.record import HOSTS, Fleet, read_fleet
from bench.fleet.run import FleetRequest
from bench.terminal import err, out, plain
from foundation.errors import ConfigError

HELP = "run one config on every host of an Ansible inventory, into one store"
REPORT = "fleet.html"
FAILED_EXIT = 3  # as `bench run` with failed cells: the others' results are complete
DEFAULT_TIMEOUT = 6 * 3600


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Adds `fleet run` and `fleet report` to bench's subcommands."""
    fleet = sub.add_parser("fleet", help=HELP, description=HELP + " (through Ansible)")
    actions = fleet.add_subparsers(dest="fleet_command", required=True, metavar="ACTION")
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
    run.add_argument("-f", "--forks", type=int, default=5, help="hosts Ansible works on at once "
                     "(default 5)")
    run.add_argument("--timeout", type=int, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                     help=f"stop a wave that runs longer (default {DEFAULT_TIMEOUT} s)")
    run.add_argument("-o", "--output", metavar="DIR", help="the fleet directory to create "
                     "(default: <config output>/<time>-<config>-fleet-<id>)")
    run.set_defaults(handler=cmd_fleet_run)
    report = actions.add_parser("report", help="write a fleet directory's report again")
    report.add_argument("fleet", metavar="FLEET_DIR", help="a directory bench fleet run wrote")
    report.add_argument("-o", "--output", metavar="FILE", help=f"default: FLEET_DIR/{REPORT}")
    report.set_defaults(handler=cmd_fleet_report)


def store_of(args: argparse.Namespace) -> tuple[str, str]:
    """The store every host records into, and the same as it may be shown."""
    from bench.history import NO_STORE
    from bench.history.location import shown, store_url

    named = args.store or args.env_store
    if not named:
        raise ConfigError("bench fleet run needs --store: the PostgreSQL URL every host records "
                          "into (or `none` to record nowhere)")
    if named == NO_STORE:
        return named, named
    if store_url(named, Path("unused")).get_backend_name() == "sqlite":
        raise ConfigError(f"--store {shown(named)}: a SQLite store is a file on each host, where "
                          "the fleet's runs would never meet: give the shared PostgreSQL URL")
    return named, shown(named)


def request_of(args: argparse.Namespace) -> FleetRequest:
    from bench.config import load_config
    from bench.run_command import results_dir_for

    if args.forks < 1 or args.timeout < 1:
        raise ConfigError("--forks and --timeout: at least 1")
    store, shown = store_of(args)
    config = Path(args.config)
    fleet_id = secrets.token_hex(4)
    folder = Path(args.output) if args.output else results_dir_for(
        load_config(config).output, config, fleet_id, "fleet")
    return FleetRequest(fleet_id, Path(args.inventory), config, store, shown, args.limit,
                        args.forks, args.timeout, folder, args.check)


def cmd_fleet_run(args: argparse.Namespace) -> int:
    from bench.fleet.run import run_fleet

    request = request_of(args)
    fleet = run_fleet(request, progress)
    if request.check:
        out.print(plan_table(fleet, request))
        return FAILED_EXIT if fleet.failed else 0
    out.print(hosts_table(fleet))
    write_report(request.folder, fleet)
    err.print(f"fleet {fleet.fleet_id}: {len(fleet.hosts) - len(fleet.failed)} of "
              f"{len(fleet.hosts)} host(s) done -> {plain(str(request.folder))}", highlight=False)
    return FAILED_EXIT if fleet.failed else 0


def progress(text: str) -> None:
    err.print(f"[dim]{time.strftime('%H:%M:%S')}[/] {plain(text)}", highlight=False)


def plan_table(fleet: Fleet, request: FleetRequest) -> Table:
    table = Table(title=f"--check: what would run where (nothing was started); every run "
                  f"records into {plain(fleet.store)}", title_justify="left")
    for column in ("wave", "host", "address", "machine", "would run"):
        table.add_column(column)
    for host in sorted(fleet.hosts, key=lambda h: (h.wave or 0, h.name)):
        what = (f"bench run {plain(request.config.name)} -> {plain(str(request.folder))}/{HOSTS}/"
                f"{plain(host.slot)}" if host.status != "failed"
                else f"[red]nothing: {plain(host.step or '')}: {plain(host.reason or '')}[/]")
        table.add_row(str(host.wave or "-"), plain(host.name), plain(host.where),
                      plain(host.machine or "-"), what)
    return table


def hosts_table(fleet: Fleet) -> Table:
    table = Table(title=f"fleet {fleet.fleet_id}", title_justify="left")
    for column in ("host", "address", "wave", "status", "run", "reason"):
        table.add_column(column)
    for host in fleet.hosts:
        status = "[green]done[/]" if host.status == "done" else f"[red]{plain(host.status)}[/]"
        reason = f"{plain(host.step or '')}: {plain(host.reason or '')}" if host.reason else ""
        table.add_row(plain(host.name), plain(host.where), str(host.wave or "-"), status,
                      plain(host.run_id or "-"), reason)
    return table


def write_report(folder: Path, fleet: Fleet, output: Path | None = None) -> Path:
    from reports.fleet import FleetHost, write_fleet_report

    hosts = [FleetHost(h.name, h.where, h.machine, h.status,
                       f"{h.step}: {h.reason}" if h.reason else None,
                       folder / h.results if h.results else None) for h in fleet.hosts]
    started = datetime.datetime.fromtimestamp(fleet.created, tz=datetime.UTC)
    title = (f"fleet {fleet.fleet_id}: {Path(fleet.config).name} on {len(fleet.hosts)} host(s), "
             f"{started:%Y-%m-%d %H:%M} UTC")
    page = write_fleet_report(hosts, output or folder / REPORT, title, fleet.store)
    err.print(f"fleet report: {plain(str(page))}", highlight=False)
    return page


def cmd_fleet_report(args: argparse.Namespace) -> int:
    folder = Path(args.fleet)
    write_report(folder, read_fleet(folder), Path(args.output) if args.output else None)
    return 0
