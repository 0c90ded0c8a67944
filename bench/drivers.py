"""Finds runtime drivers through the `bench.runtimes` entry points, so a third party can add one."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import TYPE_CHECKING

from bench.errors import ConfigError
from runtimes.errors import RuntimeUnavailable

if TYPE_CHECKING:
    from runtimes.base import AnyDriver

GROUP = "bench.runtimes"


def known_drivers() -> list[str]:
    return sorted(ep.name for ep in entry_points(group=GROUP))


def driver_class(name: str, where: str = "driver") -> type[AnyDriver]:
    """The class registered as `name`; an unknown name lists the known ones."""
    for ep in entry_points(group=GROUP, name=name):
        try:
            loaded: type[AnyDriver] = ep.load()
        except ImportError as error:
            raise RuntimeUnavailable(f"driver {name!r} could not be loaded: {error}") from error
        return loaded
    raise ConfigError(f"{where}: unknown driver {name!r} (known: {', '.join(known_drivers())})")
