"""`bench fleet run`: one config on every host of an inventory, wave by wave, into one store.

The steps: check the config and read the inventory here (bad input stops before any host is
touched); read which machine each host is (playbooks/identify.yml, read-only); plan the
waves (bench.fleet.schedule); with --check, stop there and say what would run where.
Otherwise build bench's wheel, run playbooks/run.yml once per wave, and after each wave bring
each host's results directory into <fleet dir>/hosts/<host>/ and record how it ended.
"""

from __future__ import annotations

import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import bench
from bench.fleet.ansible import Ansible, Play
from bench.fleet.hosts import HostLog, HostState
from bench.fleet.inventory import InventoryHost, read_inventory
from bench.fleet.record import HOSTS, Fleet
from bench.fleet.schedule import MachineReads, machine_identity, waves
from bench.fleet.wheel import HOST_SETUP, build_wheel, source_tree
from bench.results.manifest import read_manifest
from foundation.errors import BenchError, ConfigError
from foundation.files import private_directory

STORE_ENV = "BENCH_FLEET_STORE"  # the playbook reads the store URL from here, never a file
NO_IDENTITY = ("no machine identity (neither /sys/class/dmi/id/product_uuid nor "
               "/etc/machine-id could be read): set bench_machine for it in the inventory")


@dataclass(frozen=True)
class FleetRequest:
    fleet_id: str  # names the fleet's folder and everything it creates on a host
    inventory: Path
    config: Path
    store: str  # a store URL, or `none`
    shown_store: str  # the same without its password
    limit: str | None
    forks: int
    timeout: int
    folder: Path  # the fleet directory to create (unused with check)
    check: bool


def run_fleet(request: FleetRequest, say: Callable[[str], None]) -> Fleet:
    """Runs the fleet (or, with check, plans it); the record says how each host ended."""
    from bench.config import load_config
    from bench.fingerprint import git_commit

    load_config(request.config)  # a bad config fails here, not on every host
    hosts = read_inventory(request.inventory, request.limit)
    check_hosts(request, hosts)
    source = source_tree()
    fleet = Fleet(request.fleet_id, str(request.config), str(request.inventory),
                  request.limit, request.shown_store, git_commit(source), bench.__version__,
                  hosts=[HostState.of(host) for host in hosts])
    if not request.check:
        create_folder(request.folder)
        fleet.write(request.folder)
    with private_directory(Path(tempfile.gettempdir()), "bench-fleet-") as work:
        log = work / "ansible.log" if request.check else request.folder / "ansible.log"
        ansible = Ansible(request.inventory, work, log, request.forks, request.timeout,
                          {STORE_ENV: request.store})
        try:
            identify(ansible, fleet, hosts, request.check, say)
            if not request.check:
                run_waves(ansible, fleet, request, source, say)
        except BaseException as stop:
            fleet.status = "failed" if isinstance(stop, BenchError) else "interrupted"
            raise
        else:
            fleet.status = "complete"
        finally:
            fleet.ended = time.time()
            if not request.check:
                fleet.write(request.folder)
    return fleet


def check_hosts(request: FleetRequest, hosts: list[InventoryHost]) -> None:
    if not hosts:
        matching = f" matches --limit {request.limit}" if request.limit else ""
        raise ConfigError(f"inventory {request.inventory}: no host{matching}")
    slots: dict[str, str] = {}
    for host in hosts:
        if slots.setdefault(host.slot, host.name) != host.name:
            raise ConfigError(f"inventory {request.inventory}: hosts {slots[host.slot]!r} and "
                              f"{host.name!r} would share the folder {host.slot!r}: rename one")


def create_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True)
        (folder / HOSTS).mkdir()
    except FileExistsError:
        raise ConfigError(f"{folder}: already exists (a fleet directory is always new)") from None


def identify(ansible: Ansible, fleet: Fleet, hosts: list[InventoryHost], check: bool,
             say: Callable[[str], None]) -> None:
    """Each host's machine identity (or its failure), and the waves they make."""
    states = {state.name: state for state in fleet.hosts}
    events = HostLog(states, say)
    say(f"reading which machine each of {len(hosts)} host(s) is")
    rc = ansible.run(Play("identify", "identify.yml", tuple(states), {}, check), events)
    for host in hosts:
        state = states[host.name]
        reads = events.reads.get(host.name)
        state.machine = machine_identity(host.machine, reads or MachineReads())
        if state.status != "failed" and reads is None:
            state.fail("connect", f"Ansible reported nothing for this host (status {rc}; "
                                  "see ansible.log)")
        elif state.status != "failed" and state.machine is None:
            state.fail("read the machine identity", NO_IDENTITY)
    ready = {s.name: s.machine for s in fleet.hosts if s.status != "failed" and s.machine}
    fleet.waves = waves(ready)
    for number, wave in enumerate(fleet.waves, 1):
        for name in wave:
            states[name].wave = number


def run_waves(ansible: Ansible, fleet: Fleet, request: FleetRequest, source: Path,
              say: Callable[[str], None]) -> None:
    states = {state.name: state for state in fleet.hosts}
    transfer = ansible.work / "transfer"
    transfer.mkdir()
    wheel = build_wheel(source, ansible.work / "wheel", fleet.commit)
    extravars = {"bench_fleet_id": fleet.fleet_id, "bench_wheel": str(wheel),
                 "bench_setup": str(source / HOST_SETUP), "bench_transfer": str(transfer),
                 "bench_config": str(config_copy(request.config, ansible.work))}
    for number, wave in enumerate(fleet.waves, 1):
        say(f"wave {number} of {len(fleet.waves)}: {', '.join(wave)}")
        for name in wave:
            states[name].status, states[name].started = "running", time.time()
        rc = ansible.run(Play(f"wave-{number}", "run.yml", tuple(wave), extravars), HostLog(states, say))
        for name in wave:
            collect(states[name], transfer, request.folder, rc)
            say(f"{name}: {states[name].status}"
                + (f" ({states[name].reason})" if states[name].reason else ""))
        fleet.write(request.folder)


def config_copy(config: Path, work: Path) -> Path:
    """The config under a name Ansible takes literally (its stem is the run's config name)."""
    from bench.fleet.inventory import SLOT

    folder = work / "config"
    folder.mkdir()
    copy = folder / f"{SLOT.sub('_', config.stem)}{config.suffix}"
    copy.write_bytes(config.read_bytes())
    return copy


def collect(state: HostState, transfer: Path, folder: Path, rc: int) -> None:
    """The host's results into <fleet>/hosts/<host>/ (kept for a failed run too), and how it
    ended."""
    state.ended = time.time()
    packed = transfer / f"{state.slot}.tgz"
    if packed.exists():
        try:
            state.results = str(unpack(packed, folder / HOSTS, state.slot).relative_to(folder))
            state.run_id = str(read_manifest(folder / state.results).run_id)
        except (BenchError, OSError, tarfile.TarError) as error:
            state.fail("bring the results back", f"the results that came back are unreadable: "
                                                 f"{error}")
    if state.status == "failed":
        return
    if state.results is None:
        state.fail("bring the results back", f"no results came back (Ansible status {rc}; "
                                             "see ansible.log)")
    else:
        state.status = "done"


def unpack(packed: Path, into: Path, slot: str) -> Path:
    """A host's results.tgz (one folder, results/) as <into>/<slot>; members that would land
    outside, links out and device files are refused (tarfile's data filter)."""
    with tempfile.TemporaryDirectory(dir=into) as scratch, tarfile.open(packed) as archive:
        archive.extractall(scratch, filter="data")
        target = into / slot
        (Path(scratch) / "results").rename(target)
    return target
