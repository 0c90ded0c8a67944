"""skip_unavailable: a runtime the host cannot run is refused (the default) or skipped with
its reason, and a resumed run keeps the plan it started with."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.config import parse_config
from bench.drivers import DriverRegistry
from bench.plan import make_plan, remaining_cells
from bench.results.manifest import Manifest, RunConfig
from bench.results.writer import RunWriter
from bench.runner import check_available, without
from foundation.errors import RuntimeUnavailable
from tests.unit.fake_driver import FakeDriver, FakeOptions

REASON = "fakectl is not installed (not on PATH): install it (Debian: apt-get install fakectl)"


class MissingDriver(FakeDriver):
    """A driver whose binary this host lacks."""

    kind = "missing"
    @classmethod
    def unavailable_reason(cls, options: FakeOptions) -> str | None:
        return REASON


REGISTRY = DriverRegistry({"fake": FakeDriver, "missing": MissingDriver})  # beside the installed


def config(skip: bool | None = None, **runtimes: dict[str, object]) -> object:
    document: dict[str, object] = {"runtimes": runtimes or {"process": {"driver": "fake"},
                                                            "box": {"driver": "missing"}},
                                   "workloads": {"idle": {"mode": "ready"}}, "repetitions": 2,
                                   "warmup": 0}
    if skip is not None:
        document["skip_unavailable"] = skip
    return parse_config(document, registry=REGISTRY)


def test_by_default_an_unavailable_runtime_refuses_the_run() -> None:
    with pytest.raises(RuntimeUnavailable) as refused:
        check_available(config(), registry=REGISTRY)
    assert str(refused.value) == f"runtime 'box' (missing) is unavailable: {REASON}"


def test_skipped_runtimes_leave_the_plan_with_their_reason() -> None:
    loaded = config(skip=True)
    skipped = check_available(loaded, registry=REGISTRY)
    assert skipped == {"box": REASON}
    runnable = without(loaded, skipped)
    assert list(runnable.runtimes) == ["process"]
    assert {cell.runtime for cell in make_plan(runnable)} == {"process"}
    assert list(loaded.runtimes) == ["process", "box"], "the config itself is kept whole"


def test_nothing_left_to_run_or_a_skipped_baseline_is_refused() -> None:
    with pytest.raises(RuntimeUnavailable, match="no runtime of this config can run here"):
        check_available(config(skip=True, box={"driver": "missing"}), registry=REGISTRY)
    with_baseline = parse_config({"runtimes": {"process": {"driver": "missing"},
                                               "other": {"driver": "fake"}},
                                  "baseline": "process", "skip_unavailable": True,
                                  "workloads": {"idle": {"mode": "ready"}}}, registry=REGISTRY)
    with pytest.raises(RuntimeUnavailable, match="the baseline runtime 'process' is unavailable"):
        check_available(with_baseline, registry=REGISTRY)


def test_a_resumed_run_keeps_its_plan_and_refuses_new_gaps(tmp_path: Path) -> None:
    loaded = config(skip=True)
    runnable = without(loaded, {"box": REASON})
    store = RunWriter.create(tmp_path / "r", Manifest(
        config=RunConfig(loaded.model_dump(mode="json")), skipped={"box": REASON}))
    store.close()
    _, cells = remaining_cells(tmp_path / "r", loaded, runnable)
    assert [c.key for c in cells] == [c.key for c in make_plan(runnable)]
    with pytest.raises(RuntimeUnavailable):
        check_available(loaded, may_skip=False, registry=REGISTRY)
