"""What killed runs left behind, found and removed (`bench clean`, and `bench run --resume`
before it starts): every driver's leftovers, the runs' scratch directories and the scratch
storage their ledgers name. A run that is still going (its lock is held) is left alone
unless forced. The command line is bench/commands/clean.py.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from pathlib import Path

from bench.cache import default_cache_dir
from bench.cache.ledger import forget, read_ledgers
from bench.config import Config
from bench.drivers import driver_class, known_drivers
from bench.results.lock import is_locked
from bench.workload.spec import CommandWorkload
from foundation.errors import ConfigError
from runtimes.base import AnyDriver, DriverOptions, instance_prefix
from runtimes.commands import sweep_scratch

RUN_ID = r"(?:[0-9a-f]{32}|[0-9a-f]{6})"  # what bench run makes: 32 hex digits, 6 before
RUN_ID_ARGUMENT = re.compile(r"[0-9A-Za-z]{1,32}")
RUN_IN_NAME = re.compile(r"(?<![0-9A-Za-z])bench-([0-9A-Za-z]+)-")


@dataclass(frozen=True)
class Target:
    """One place a driver works: the driver, with options naming an endpoint or URI."""

    driver: str
    options: DriverOptions


def targets(configs: Iterable[Config]) -> list[Target]:
    """Every driver with its default options, then each configured runtime's options (a
    docker endpoint or libvirt URI of a config is swept too); host processes first."""
    found = [Target(name, driver_class(name).Options()) for name in known_drivers()]
    found += [Target(spec.driver, spec.options) for config in configs
              for spec in config.runtimes.values()]
    unique: dict[tuple[str, str | None], Target] = {}
    for target in found:
        endpoint = driver_class(target.driver).endpoint(target.options)
        unique.setdefault((target.driver, endpoint), target)
    return sorted(unique.values(), key=lambda target: target.driver != "process")


def clean_target(cls: type[AnyDriver], options: DriverOptions, run_id: str | None,
                 dry_run: bool) -> list[str]:
    if cls.unavailable_reason(options) is not None:
        return []  # nothing of ours can be running where the driver cannot run
    return cls.clean(options, run_id, dry_run)


def check_run_id(run_id: str) -> None:
    """A run id to clean: never empty (which would match every run), only letters and digits."""
    if not RUN_ID_ARGUMENT.fullmatch(run_id):
        raise ConfigError(f"--run: {run_id!r} is not a run id (the letters and digits after "
                          "'bench-' in what a run creates)")


def scratch_dirs(run_id: str | None) -> list[Path]:
    """The runners' scratch directories, bench-<run id>-<random>, of one run or all."""
    pattern = re.compile(rf"{re.escape(instance_prefix(run_id)) if run_id else 'bench-' + RUN_ID + '-'}\w+")
    return [folder for folder in sorted(Path(tempfile.gettempdir()).glob(f"{instance_prefix()}*"))
            if pattern.fullmatch(folder.name) and folder.is_dir() and not folder.is_symlink()]


def live_runs() -> set[str]:
    """Run ids whose runner is alive: it holds the lock on its scratch directory
    (bench-<run id>-<random> in the temp dir; any run id, not only the 32 (formerly 6) hex
    digits bench makes)."""
    folders = Path(tempfile.gettempdir()).glob(f"{instance_prefix()}*")
    return {owner for folder in folders if (owner := run_of(folder.name)) is not None
            and folder.is_dir() and not folder.is_symlink() and is_locked(folder)}


def run_of(line: str) -> str | None:
    """The run id in a name bench made (bench-<run id>-...), wherever it sits in `line`."""
    found = RUN_IN_NAME.search(line)
    return found.group(1) if found else None


def clean_leftovers(run_id: str | None, dry_run: bool, configs: Iterable[Config] = (),
                    force: bool = False, live: AbstractSet[str] | None = None) -> list[str]:
    """Every driver's leftovers (host processes first), then the runs' scratch directories
    (the temp dir's, and those their ledgers name: a config's scratch.dir anywhere); one
    run's, or every run's. A run that is still going (its lock is held; `live`, when the
    caller has already listed them) is left alone unless `force`."""
    live = set() if force else live_runs() if live is None else live
    if run_id is not None:
        return [] if run_id in live else clean_run(run_id, dry_run, configs, force)
    if not live:
        return clean_run(None, dry_run, configs, force)
    # some run is alive: find what every run left, then clean only the dead runs, one by one
    dead = {owner for line in clean_run(None, True, configs) if (owner := run_of(line))}
    dead |= {ledger.run_id for ledger in read_ledgers(default_cache_dir()) if not ledger.live}
    return [line for owner in sorted(dead - live)
            for line in clean_run(owner, dry_run, configs, force)]


def workload_scratch_dirs(configs: Iterable[Config]) -> set[Path]:
    """The scratch directories command workloads of these configs name (scratch.dir)."""
    return {spec.scratch.dir for config in configs for spec in config.workloads.values()
            if isinstance(spec, CommandWorkload) and spec.scratch and spec.scratch.dir}


def clean_run(run_id: str | None, dry_run: bool, configs: Iterable[Config],
              force: bool = False) -> list[str]:
    found: list[str] = []
    configs = list(configs)
    for target in targets(configs):
        found += clean_target(driver_class(target.driver), target.options, run_id, dry_run)
    for folder in workload_scratch_dirs(configs):  # a command workload's own scratch.dir
        found += sweep_scratch(folder, instance_prefix(run_id), dry_run)
    found += clean_ledgers(run_id, dry_run, force)
    for folder in scratch_dirs(run_id):
        if not dry_run:
            shutil.rmtree(folder, ignore_errors=True)
        found.append(f"temp dir {folder}")
    return found


def clean_ledgers(run_id: str | None, dry_run: bool, force: bool) -> list[str]:
    """The scratch storage that dead runs' ledgers name (a config's scratch.dir, wherever
    it was: no --config needed), then the ledgers; a live run's only when forced."""
    found: list[str] = []
    for ledger in read_ledgers(default_cache_dir()):
        if (run_id is not None and ledger.run_id != run_id) or (ledger.live and not force):
            continue
        for folder in ledger.scratch_dirs:
            found += sweep_scratch(Path(folder), instance_prefix(ledger.run_id), dry_run)
        if not dry_run:
            forget(ledger)
    return found
