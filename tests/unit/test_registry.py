"""The driver registry: the installed drivers by default, a caller's own when handed one."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.config import parse_config
from bench.drivers import INSTALLED, DriverRegistry, driver_class, known_drivers
from bench.runner import check_available, open_drivers
from foundation.errors import ConfigError
from runtimes.base import RunContext
from runtimes.process.driver import ProcessDriver
from tests.unit.fake_driver import FakeDriver

SEVEN = ["docker", "libvirt", "lxc", "native", "oci", "podman", "process"]


def test_the_installed_registry_is_the_entry_points() -> None:
    assert set(SEVEN) <= set(known_drivers())
    assert INSTALLED["process"] is ProcessDriver
    assert driver_class("process") is ProcessDriver


def test_a_registry_of_ones_own_comes_first_and_may_stand_alone() -> None:
    beside = DriverRegistry({"fake": FakeDriver, "process": FakeDriver})
    assert beside["fake"] is FakeDriver and beside["process"] is FakeDriver
    assert beside["native"] is INSTALLED["native"]
    alone = DriverRegistry({"fake": FakeDriver}, installed=False)
    assert list(alone) == ["fake"] and len(alone) == 1
    with pytest.raises(ConfigError, match=r"^here: unknown driver 'process' \(known: fake\)$"):
        driver_class("process", "here", alone)


def document(driver: str) -> dict[str, object]:
    return {"runtimes": {"box": {"driver": driver}}, "workloads": {"idle": {"mode": "ready"}}}


def test_the_config_and_the_runner_look_drivers_up_where_they_are_told(tmp_path: Path) -> None:
    """Nothing patched: a driver only the handed registry knows is found, and one it lacks
    is refused, by the config's option check and by the runner's helpers alike."""
    only_fake = DriverRegistry({"fake": FakeDriver}, installed=False)
    config = parse_config(document("fake"), registry=only_fake)
    assert check_available(config, registry=only_fake) == {}
    opened = open_drivers(config, RunContext("r", tmp_path, tmp_path), only_fake)
    assert type(opened["box"]) is FakeDriver
    with pytest.raises(ConfigError, match="unknown driver 'fake'"):
        parse_config(document("fake"))  # the installed drivers have no fake
    with pytest.raises(ConfigError, match="unknown driver 'process'"):
        open_drivers(parse_config(document("process")), RunContext("r", tmp_path, tmp_path),
                     only_fake)
