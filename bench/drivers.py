"""The driver registry: a driver's name to its class.

The installed one reads the `bench.runtimes` entry points, so a third party can add a driver
without touching this repo. Whoever looks a driver up (the config's option check, the
runner and its helpers) takes a registry as an argument, defaulting to the installed one, so
a test or an embedding program hands in drivers of its own instead of patching this module.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING

from foundation.errors import ConfigError, RuntimeUnavailable

if TYPE_CHECKING:
    from runtimes.base import AnyDriver

GROUP = "bench.runtimes"

# what every lookup takes: a driver's name to its class (a plain dict will do)
Registry = Mapping[str, "type[AnyDriver]"]


@functools.cache
def registered() -> dict[str, EntryPoint]:
    """The group's entry points, read once per process: scanning every installed package's
    metadata takes tens of milliseconds, and a config names its drivers once per runtime."""
    return {ep.name: ep for ep in entry_points(group=GROUP)}


class DriverRegistry(Mapping[str, "type[AnyDriver]"]):
    """The given classes, then (unless `installed` is false) the installed drivers, each
    loaded when first asked for: a config names a few of them, and loading one imports its
    package."""

    def __init__(self, classes: Registry | None = None, installed: bool = True) -> None:
        self.classes = dict(classes or {})
        self.installed = installed

    def __getitem__(self, name: str) -> type[AnyDriver]:
        if name in self.classes:
            return self.classes[name]
        ep = registered().get(name) if self.installed else None
        if ep is None:
            raise KeyError(name)
        try:
            loaded: type[AnyDriver] = ep.load()
        except ImportError as error:
            raise RuntimeUnavailable(f"driver {name!r} could not be loaded: {error}") from error
        return loaded

    def names(self) -> set[str]:
        return set(self.classes) | (set(registered()) if self.installed else set())

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self.names()))

    def __len__(self) -> int:
        return len(self.names())


INSTALLED = DriverRegistry()


def known_drivers(registry: Registry = INSTALLED) -> list[str]:
    return sorted(registry)


def driver_class(name: str, where: str = "driver", registry: Registry = INSTALLED) -> type[AnyDriver]:
    """The class registered as `name`; an unknown name lists the known ones."""
    try:
        return registry[name]
    except KeyError:
        raise ConfigError(f"{where}: unknown driver {name!r} (known: "
                          f"{', '.join(known_drivers(registry))})") from None
