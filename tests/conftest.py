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
