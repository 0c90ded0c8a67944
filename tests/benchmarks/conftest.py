"""The harness's own benchmarks: collected only when asked for
(`python3 -m pytest tests/benchmarks --benchmark-only`), never in the default test run.

Each one measures bench side by side with an independent reference in one sitting,
interleaved, and fails when a bound between them is broken.
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("benchmark_only", False) or config.getoption("benchmark_enable", False):
        return
    skip = pytest.mark.skip(reason="a benchmark: run it with "
                            "`python3 -m pytest tests/benchmarks --benchmark-only`")
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(skip)
