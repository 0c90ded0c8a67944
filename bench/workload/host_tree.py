"""A command workload's files from the host: its programs (named by path or found on PATH)
with their shared-library closure, plus the files and directories the config lists."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Mapping

from bench.workload.elf import Resolver, executable_closure
from bench.workload.spec import DEFAULT_PATH, CommandWorkload
from bench.workload.tree import Collector, Entry, with_mount_points
from foundation.errors import WorkloadError


def host_env(workload: CommandWorkload) -> dict[str, str]:
    """The command's whole environment for a host tree: nothing is inherited from bench."""
    return {"PATH": DEFAULT_PATH, "HOME": "/tmp", "LANG": "C", **workload.env}


def find_program(name: str, path: str, where: str) -> str:
    """An absolute program path, as execvp would find it with this PATH."""
    if "/" in name:
        if not os.path.isabs(name):
            raise WorkloadError(f"{where}: {name!r}: name a program by absolute path or by a "
                                "name found on PATH")
        if not (os.path.isfile(name) and os.access(name, os.X_OK)):
            raise WorkloadError(f"{where}: command not found: {name} is not an executable file")
        return name
    found = shutil.which(name, path=path)
    if found is None:
        raise WorkloadError(f"{where}: command not found: {name!r} is not on PATH ({path})")
    return found


def programs(workload: CommandWorkload) -> list[str]:
    """Every program the workload runs: the command (and each runtime's override), the
    background helper, and the listed executables."""
    names = [workload.argv[0]] if workload.argv else []
    names += [o.argv[0] for o in workload.overrides.values() if o.argv]
    if workload.background:
        names.append(workload.background.argv[0])
    return list(dict.fromkeys([*names, *workload.executables]))


def host_entries(workload: CommandWorkload, where: str) -> list[Entry]:
    """The tree's entries; a program not found or a library not resolvable is a
    WorkloadError naming the workload."""
    env = host_env(workload)
    library_path = tuple(p for p in env.get("LD_LIBRARY_PATH", "").split(":") if p)
    resolver = Resolver(library_path)
    collector = Collector()
    try:
        for name in programs(workload):
            program = find_program(name, env["PATH"], where)
            for path in executable_closure(program, resolver):
                collector.add_path(path)
        for listed in workload.files:
            collector.add_path(listed, recursive=True)
    except WorkloadError as error:
        text = str(error)
        raise WorkloadError(text if text.startswith(where) else f"{where}: {text}") from None
    return with_mount_points(collector.entries.values())


def env_pairs(env: Mapping[str, str] | Iterable[str]) -> tuple[tuple[str, str], ...]:
    """KEY=VALUE strings (an image's Env) or a mapping, as ordered pairs."""
    if isinstance(env, Mapping):
        return tuple((str(k), str(v)) for k, v in env.items())
    pairs = [item.split("=", 1) for item in env if "=" in item]
    return tuple((key, value) for key, value in pairs)
