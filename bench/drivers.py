"""Finds runtime drivers through the `bench.runtimes` entry points, so a third party can add one."""

from __future__ import annotations

import functools
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING

from foundation.errors import ConfigError, RuntimeUnavailable

if TYPE_CHECKING:
    from runtimes.base import AnyDriver

GROUP = "bench.runtimes"


@functools.cache
def registered() -> dict[str, EntryPoint]:
    """The group's entry points, read once per process: scanning every installed package's
    metadata takes tens of milliseconds, and a config names its drivers once per runtime."""
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def known_drivers() -> list[str]:
    return sorted(registered())


def driver_class(name: str, where: str = "driver") -> type[AnyDriver]:
    """The class registered as `name`; an unknown name lists the known ones."""
    ep = registered().get(name)
    if ep is None:
        raise ConfigError(f"{where}: unknown driver {name!r} (known: {', '.join(known_drivers())})")
    try:
        loaded: type[AnyDriver] = ep.load()
    except ImportError as error:
        raise RuntimeUnavailable(f"driver {name!r} could not be loaded: {error}") from error
    return loaded
