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

    from bench.doctor import clean_leftovers

    found = clean_leftovers(None, dry_run=True)
    found += [f"mount {line.split()[1]}" for line in Path("/proc/mounts").read_text().splitlines()
              if "bench-" in line.split()[1]]
    return found


@pytest.fixture(scope="session", autouse=True)
def nothing_left_behind() -> object:
    """After the whole suite: no container, domain, cgroup, mount or probe of ours remains."""
    before = set(leftovers())
    yield
    after = [item for item in leftovers() if item not in before]
    assert not after, f"the test suite left these behind: {after}"
