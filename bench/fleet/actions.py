"""What `bench fleet run` and `bench fleet report` do, from typed requests: the store every
host records into, the request, the run with its progress and tables, the report written
again. The command line is bench/commands/fleet.py."""

from __future__ import annotations

import datetime
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from rich.table import Table

from bench.fleet.record import HOSTS, Fleet, read_fleet
from bench.fleet.run import FleetRequest
from bench.terminal import err, out, plain
from foundation.errors import ConfigError

REPORT = "fleet.html"
FAILED_EXIT = 3  # as `bench run` with failed cells: the others' results are complete
DEFAULT_TIMEOUT = 6 * 3600  # a wave's; bench/commands/fleet.py states it for --help


def store_of(named: str | None) -> tuple[str, str]:
    """The store every host records into (--store, else $BENCH_STORE), and the same as it
    may be shown."""
    from bench.history import NO_STORE
    from bench.history.location import shown, store_url

    if not named:
        raise ConfigError("bench fleet run needs --store: the PostgreSQL URL every host records "
                          "into (or `none` to record nowhere)")
    if named == NO_STORE:
        return named, named
    if store_url(named, Path("unused")).get_backend_name() == "sqlite":
        raise ConfigError(f"--store {shown(named)}: a SQLite store is a file on each host, where "
                          "the fleet's runs would never meet: give the shared PostgreSQL URL")
    return named, shown(named)


@dataclass(frozen=True)
class FleetAsk:
    """What `bench fleet run` was asked: the inventory, the config, the store named (--store,
    else $BENCH_STORE), Ansible's --limit and forks, a wave's timeout, the fleet directory
    (default: under the config's output), and whether only to say what would run where."""

    inventory: Path
    config: Path
    store: str | None
    limit: str | None = None
    forks: int = 5
    timeout: int = DEFAULT_TIMEOUT
    output: Path | None = None
    check: bool = False


def request_of(ask: FleetAsk) -> FleetRequest:
    from bench.config import load_config
    from bench.running import results_dir_for

    if ask.forks < 1 or ask.timeout < 1:
        raise ConfigError("--forks and --timeout: at least 1")
    store, shown = store_of(ask.store)
    fleet_id = secrets.token_hex(4)
    folder = ask.output or results_dir_for(load_config(ask.config).output, ask.config,
                                           fleet_id, "fleet")
    return FleetRequest(fleet_id, ask.inventory, ask.config, store, shown, ask.limit,
                        ask.forks, ask.timeout, folder, ask.check)


def fleet_run(ask: FleetAsk) -> int:
    from bench.fleet.run import run_fleet

    request = request_of(ask)
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


def fleet_report(folder: Path, output: Path | None) -> int:
    write_report(folder, read_fleet(folder), output)
    return 0
