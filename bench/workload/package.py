"""Command workloads made ready for a run: each one's tree built (or found in the cache)
before anything starts, and the probe's spec for each runtime it runs on.

Bad input stops the run here with one line and exit 2 (a command not found, a library
not resolvable, an image that is not local), before a results directory exists.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.workload.host_tree import env_pairs, host_entries, host_env
from bench.workload.image_tree import image_tree
from bench.workload.spec import DEFAULT_PATH, CommandWorkload
from bench.workload.tree import cached_tree
from foundation.errors import WorkloadError
from runtimes.commands import CommandSpec, PackagedCommand, Tree

# drivers that run host programs in place cannot run an image's filesystem
IN_PLACE_DRIVERS = frozenset({"process"})


@dataclass(frozen=True)
class PreparedWorkload:
    """One command workload's tree, its listing (every file with its size and sha256: the
    tree's manifest.json in the cache), environment and default command."""

    name: str
    workload: CommandWorkload
    tree: Tree
    listing: dict[str, Any]
    env: tuple[tuple[str, str], ...]
    default_argv: tuple[str, ...]

    def summary(self) -> dict[str, Any]:
        """What the run's manifest records (the file list goes to trees/<digest>.json)."""
        keys = ("digest", "source", "files", "bytes", "image", "image_id")
        return {key: self.listing[key] for key in keys if key in self.listing}


# where every runtime mounts something of its own over the tree (native a tmpfs on /tmp, a
# guest devtmpfs on /dev, every one a procfs on /proc): what a tree holds there is hidden
MOUNTED_OVER = ("tmp", "proc", "dev")


def refuse_hidden(listing: dict[str, Any], where: str) -> None:
    """A tree whose files sit where runtimes mount over them would run in one runtime and
    fail at exec time in another: refused here, before anything starts. An image's empty
    placeholders (dev/console, made by `docker export`) and directories are let through."""
    for row in listing.get("entries", ()):
        top, _, rest = str(row["path"]).partition("/")
        if top not in MOUNTED_OVER or not rest or row["kind"] == "dir":
            continue
        if top == "tmp" or row["kind"] == "link" or int(row.get("size", 0)) > 0:
            raise WorkloadError(f"{where}: /{row['path']} would be hidden: every runtime mounts "
                                f"its own /{top} over the tree; move it elsewhere (e.g. /opt) "
                                "and name it from there")


def prepare_one(name: str, workload: CommandWorkload, cache_dir: Path, run_id: str) -> PreparedWorkload:
    where = f"workloads.{name}"
    if workload.image is None:
        entries = host_entries(workload, where)
        tree, listing = cached_tree(cache_dir, entries, {"source": "host"})
        refuse_hidden(listing, where)
        return PreparedWorkload(name, workload, tree, listing, env_pairs(host_env(workload)),
                                workload.argv)
    tree, listing, image = image_tree(workload.image, cache_dir, run_id, where)
    refuse_hidden(listing, where)
    env = dict(env_pairs(image.env))
    env.setdefault("PATH", DEFAULT_PATH)
    env.update(workload.env)
    argv = workload.argv or image.default_argv()
    if not argv:
        raise WorkloadError(f"{where}: image {workload.image!r} has no entrypoint or command: "
                            "give argv")
    return PreparedWorkload(name, workload, tree, listing, env_pairs(env), argv)


def prepare_workloads(workloads: Mapping[str, object], cache_dir: Path,
                      run_id: str) -> dict[str, PreparedWorkload]:
    """Every command workload of a config, its tree built or found in the cache."""
    return {name: prepare_one(name, workload, cache_dir, run_id)
            for name, workload in workloads.items() if isinstance(workload, CommandWorkload)}


def check_runtime(prepared: PreparedWorkload, runtime: str, driver: str, runs_commands: bool) -> None:
    """Refuse a pairing that cannot work, before anything starts."""
    where = f"workloads.{prepared.name}"
    if not runs_commands:
        raise WorkloadError(f"{where}: runtime {runtime!r} (driver {driver}) cannot run command "
                            "workloads yet: leave it out with `runtimes:` in the workload")
    if prepared.workload.image is not None and driver in IN_PLACE_DRIVERS:
        raise WorkloadError(f"{where}: runtime {runtime!r} runs host programs in place, and this "
                            "workload's files come from an image: list the runtimes it runs on "
                            "with `runtimes:` (native, docker, libvirt)")


def command_spec(prepared: PreparedWorkload, runtime: str, scratch_root: Path) -> CommandSpec:
    """The probe's spec for one runtime (its override applied)."""
    workload = prepared.workload
    override = workload.overrides.get(runtime)
    argv = (override.argv if override and override.argv else None) or prepared.default_argv
    timeout = override.timeout if override and override.timeout else workload.timeout
    scratch = workload.scratch.placed(scratch_root) if workload.scratch is not None else None
    return CommandSpec(
        argv=argv, env=prepared.env,
        background=workload.background.argv if workload.background else (),
        background_port=workload.background.port if workload.background else None,
        readiness=workload.readiness, timeout_s=max(1, round(timeout)), scratch=scratch)


def packaged(prepared: Mapping[str, PreparedWorkload], runtime: str,
             scratch_root: Path) -> dict[str, PackagedCommand]:
    """The command workloads one runtime runs, with its specs."""
    return {name: PackagedCommand(name, item.tree, command_spec(item, runtime, scratch_root))
            for name, item in prepared.items() if item.workload.runs_on(runtime)}


def write_tree_manifests(results: Path, prepared: Mapping[str, PreparedWorkload]) -> None:
    """trees/<digest>.json in the results directory: every file, its size and sha256."""
    folder = results / "trees"
    for item in prepared.values():
        folder.mkdir(exist_ok=True)
        target = folder / f"{item.tree.digest}.json"
        if not target.exists():
            target.write_text(json.dumps(item.listing, indent=1) + "\n")
