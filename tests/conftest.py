"""Shared test plumbing: integration tests fail (never skip) in CI when what they need is missing."""

from __future__ import annotations

import os

import pytest


def require(condition: bool, what: str) -> None:
    """Skip on a developer's machine, fail in CI: CI must prove the real thing works."""
    if condition:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI needs {what}, and it is missing")
    pytest.skip(f"needs {what}")


def leftovers() -> list[str]:
    """What bench left on this host: every driver's resources, temp dirs, and mounts."""
    from pathlib import Path

    from bench.leftovers import clean_leftovers

    found = clean_leftovers(None, dry_run=True)
    found += [f"mount {line.split()[1]}" for line in Path("/proc/mounts").read_text().splitlines()
              if "bench-" in line.split()[1]]
    return found


@pytest.fixture(scope="session", autouse=True)
def own_history_store() -> object:
    """`bench run` records into the per-user history store by default: the suite's runs go
    to a store of its own (in every bench it starts, too), never into the user's."""
    import shutil
    import tempfile

    saved = {key: os.environ.get(key) for key in ("XDG_DATA_HOME", "BENCH_STORE")}
    home = tempfile.mkdtemp(prefix="pytest-history-")
    os.environ["XDG_DATA_HOME"] = home
    os.environ.pop("BENCH_STORE", None)
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def nothing_left_behind() -> object:
    """After the whole suite: no container, domain, cgroup, mount or probe of ours remains."""
    before = set(leftovers())
    yield
    after = new_leftovers(before)
    assert not after, f"the test suite left these behind: {after}"


def new_leftovers(before: set[str], patience: float = 20.0) -> list[str]:
    """What is there now and was not before, once it stays: an instance of another bench run
    on this host (a developer's, another checkout's tests) comes and goes within seconds,
    while a leak of ours stays."""
    import time

    deadline = time.monotonic() + patience
    while True:
        found = [item for item in leftovers() if item not in before]
        if not found or time.monotonic() >= deadline:
            return found
        time.sleep(2.0)
