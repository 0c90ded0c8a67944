"""Fixtures the integration tests share."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.browser_harness import browser  # noqa: F401  (the pages' tests use it)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A module's build cache: the probe and the helpers are compiled once per test file."""
    return tmp_path_factory.mktemp("cache")
