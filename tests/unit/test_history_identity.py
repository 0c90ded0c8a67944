"""What makes runs comparable, and how a store is named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.history.identity import config_hash, host_hash
from bench.history.location import describe, shown, store_url
from bench.results.manifest import Manifest, RunConfig
from foundation.errors import ConfigError

HOST = {"hostname": "ci-1234", "kernel": "6.1.0", "cpu_model": "Xeon", "cores": 2,
        "arch": "x86_64", "cgroup_version": "v2", "mitigations": {"spectre_v2": "Mitigation"},
        "bench_commit": "abc", "python": "3.11.7", "memory_bytes": 1 << 34}
CONFIG = {"description": "x", "repetitions": 12, "runtimes": {"process": {"driver": "process"}},
          "workloads": {"idle": {"mode": "ready"}}, "output": "results", "gate": None}


def manifest(host: dict[str, Any] | None = None, config: dict[str, Any] | None = None) -> Manifest:
    return Manifest(host={**HOST, **(host or {})}, config=RunConfig({**CONFIG, **(config or {})}))


def test_the_host_hash_ignores_names_and_versions_of_tools() -> None:
    same = manifest({"hostname": "ci-9999", "bench_commit": "def", "python": "3.12"})
    assert host_hash(same) == host_hash(manifest())


@pytest.mark.parametrize("change", [{"kernel": "6.9.0"}, {"cpu_model": "EPYC"}, {"cores": 4},
                                    {"cgroup_version": "v1"}, {"mitigations": {}}])
def test_the_host_hash_follows_what_decides_performance(change: dict[str, Any]) -> None:
    assert host_hash(manifest(change)) != host_hash(manifest())


def test_the_config_hash_ignores_what_does_not_change_the_measurement() -> None:
    same = manifest(config={"description": "y", "output": "elsewhere", "gate": {"alpha": 0.05},
                            "history": {"store": "default"}})
    assert config_hash(same) == config_hash(manifest())
    assert config_hash(manifest(config={"repetitions": 13})) != config_hash(manifest())


def test_store_names(tmp_path: Path) -> None:
    default = tmp_path / "data" / "history.sqlite"
    assert store_url("default", default).database == str(default)
    assert store_url("relative.sqlite", default).database == str(Path.cwd() / "relative.sqlite")
    assert store_url(f"sqlite:///{tmp_path}/x.sqlite", default).database == f"{tmp_path}/x.sqlite"
    url = store_url("postgresql://bench:secret@db.example/bench", default)
    assert url.drivername == "postgresql+psycopg"
    assert "secret" not in describe(url) and "secret" not in shown("postgresql://b:secret@h/d")
    with pytest.raises(ConfigError, match="unknown kind of store 'mysql'"):
        store_url("mysql://h/d", default)
