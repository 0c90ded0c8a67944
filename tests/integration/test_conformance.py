"""What every driver must do, checked the same way for each, against the real thing.

One test per point of the driver contract (runtimes/base.py, docs/writing-a-driver.md):
start and ready (boot phases that add up to the ready marker's arrival), stop (timed step
by step, the instance gone), stop twice and stop after clean took the instance (both do
nothing more), a teardown that fails (reported as a failed stop.total, the cell's samples
kept, and what it left swept by the run), clean after a SIGKILLed `bench run` (the driver's
clean finds the instance and removes it), memory parts (every part a driver reports is
one it declares, and they add up to its host PSS), and options refused in one line naming
the dotted key.

Each driver is one line of CASES: a new driver (or a variant worth its own case) is
covered by adding its line. The drivers are looked up in the installed registry, as a
config names them; each test's instances come from the one harness
(tests.integration.driver_harness), which proves at the end that nothing is left.
Each case is marked as its driver's own tests are, so `-m "not libvirt"` leaves the slow
guests out, and `-k native` runs one driver.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bench.config import parse_config
from bench.drivers import DriverRegistry, driver_class
from bench.plan import make_plan
from bench.results.manifest import Manifest, RunConfig, read_manifest
from bench.results.records import read_lines
from bench.results.writer import RunWriter
from bench.runner import Runner
from foundation.errors import ConfigError, InstanceError
from runtimes.base import AnyDriver, AnyInstance, DriverOptions
from runtimes.protocol import IDLE, READY
from tests.integration.driver_harness import (
    BOOT_SECONDS,
    Harness,
    deadline,
    open_harness,
    require_driver,
    seen_on_host,
)
from tests.integration.run_harness import bench_cmd, mine, run_id_of, start_run, stop_and_clean, wait_until

pytestmark = pytest.mark.integration
RUNTIME = "box"  # the runtime's name in the configs the tests write
REFUSAL = "the daemon refused to stop it (a fault the test put there)"
# what leaves by itself once a killed bench's pipes close (a probe at EOF) has left by then
SETTLE_AFTER_KILL_S = 3.0


@dataclass(frozen=True)
class Case:
    """One driver with one set of options, as a config names them."""

    driver: str
    options: Mapping[str, Any] = field(default_factory=dict)
    boot_seconds: float = BOOT_SECONDS
    # whether an idle instance outlives a SIGKILLed bench: the process and native drivers'
    # probes and an lxc container (its init is the probe) leave by themselves at EOF on the
    # probe's stdin, and the test proves that instead (what else the run left, such as the
    # emptied cgroup, clean must still remove)
    outlives_bench: bool = True

    @property
    def cls(self) -> type[AnyDriver]:
        return driver_class(self.driver)

    def parsed_options(self) -> DriverOptions:
        return self.cls.Options.model_validate(dict(self.options))

    def config(self, **settings: Any) -> dict[str, Any]:
        """A config of this one runtime, idle instances only."""
        return {"repetitions": 1, "warmup": 0, "settle": 0, "cell_timeout": self.boot_seconds,
                **settings, "runtimes": {RUNTIME: {"driver": self.driver, "options": dict(self.options)}},
                "workloads": {"idle": {"mode": "ready"}}}


CASES = [
    pytest.param(Case("process", outlives_bench=False), id="process"),
    pytest.param(Case("native", outlives_bench=False), id="native"),
    pytest.param(Case("lxc", outlives_bench=False), id="lxc"),
    pytest.param(Case("oci", {"runtime": "runc"}), id="oci-runc"),
    pytest.param(Case("oci", {"runtime": "runsc"}), id="oci-runsc"),
    pytest.param(Case("docker"), id="docker", marks=pytest.mark.docker),
    pytest.param(Case("podman"), id="podman"),
    pytest.param(Case("libvirt", {"memory": "256MiB"}, boot_seconds=120), id="libvirt",
                 marks=pytest.mark.libvirt),
    pytest.param(Case("qemu", {"machine": "microvm", "memory": "256MiB"}, boot_seconds=120),
                 id="qemu-microvm"),
]


@pytest.fixture(params=CASES)
def case(request: pytest.FixtureRequest) -> Case:
    """The case, once the driver can run here with its options (a failure in CI)."""
    chosen: Case = request.param
    require_driver(chosen.cls, **chosen.options)
    return chosen


@pytest.fixture
def harness(case: Case, tmp_path: Path, cache: Path) -> Iterator[Harness[AnyDriver]]:
    with open_harness(case.cls, tmp_path, cache, case.boot_seconds) as made:
        yield made


def naming(lines: list[str], name: str) -> list[str]:
    """The lines that name an instance, whole: bench-...-1-1 is not bench-...-1-10 (but its
    lxc monitor's cgroup, bench-...-1-1.monitor, is the instance's too)."""
    return [line for line in lines if re.search(rf"{re.escape(name)}\b", line)]


def uncounted(lines: list[str]) -> set[str]:
    """The lines without the number of processes a cgroup held at that moment (a monitor
    may leave by itself between two looks)."""
    return {re.sub(r" \(\d+ processes\)$", "", line) for line in lines}


def listed_by_clean(case: Case, run_id: str, name: str) -> list[str]:
    return naming(case.cls.clean(case.parsed_options(), run_id, dry_run=True), name)


def alive(lines: list[str]) -> list[str]:
    """The lines of something still running: all but an emptied cgroup's (a cgroup line
    without its count of processes), which outlives what left it until clean removes it."""
    return [line for line in lines
            if not (line.startswith("cgroup v") and not line.endswith(" processes)"))]


def test_start_ready_stop(case: Case, harness: Harness[AnyDriver]) -> None:
    driver = harness.driver(dict(case.options))
    instance = harness.start(driver)
    ready = instance.output.find(READY)
    assert ready is not None
    phases = instance.boot_phases()
    assert len(phases) >= 2 and list(phases)[-1] == "ready", phases  # named steps, then ready
    assert all(ms >= 0 for ms in phases.values()), phases
    assert sum(phases.values()) == pytest.approx(instance.boot_total_ms())
    assert instance.boot_total_ms() == (ready[0] - instance.requested_ns) / 1e6
    instance.output.wait_for(IDLE, deadline(30), f"{case.driver} probe")  # it runs on, idle
    assert listed_by_clean(case, harness.run_id, instance.name), "clean finds a live instance"
    assert not listed_by_clean(case, "tffffffff", instance.name), "another run's clean leaves it"

    driver.stop(instance)
    stops = instance.stop_phases()
    assert len(stops) >= 2 and list(stops)[-1] == "total", stops  # named steps, then total
    assert all(ms >= 0 for ms in stops.values()), stops
    assert sum(ms for step, ms in stops.items() if step != "total") <= stops["total"] + 1e-3
    assert instance.output.wait_closed(deadline(30)), "the instance is gone"
    assert not listed_by_clean(case, harness.run_id, instance.name)


def test_stop_twice_and_after_clean(case: Case, harness: Harness[AnyDriver]) -> None:
    """A second stop does nothing, and a stop after clean took the instance (what the
    runner's sweep and `bench clean` do to a live run's leftovers) neither fails nor
    leaves anything."""
    driver = harness.driver(dict(case.options))
    instance = harness.start(driver)
    driver.stop(instance)
    first = (instance.stop_span, instance.stop_phases())
    driver.stop(instance)
    assert (instance.stop_span, instance.stop_phases()) == first, "the second stop did nothing"

    cleaned = harness.start(driver)
    found = case.cls.clean(case.parsed_options(), harness.run_id, dry_run=True)
    removed = case.cls.clean(case.parsed_options(), harness.run_id, dry_run=False)
    assert naming(removed, cleaned.name), removed
    assert uncounted(removed) <= uncounted(found), "clean removes what it lists, and only that"
    assert cleaned.output.wait_closed(deadline(60)), "the instance went with what clean removed"
    driver.stop(cleaned)
    driver.stop(cleaned)
    assert not listed_by_clean(case, harness.run_id, cleaned.name)


def refusing_teardown(cls: type[AnyDriver]) -> type[AnyDriver]:
    """The driver, whose teardown fails as a library's would, with the instance still up."""

    class Refusing(cls):  # type: ignore[valid-type,misc]
        left_up: list[AnyInstance] = []  # noqa: RUF012 (one run per class made here)

        def teardown(self, instance: AnyInstance) -> None:
            # held, as by a runtime that refused: a launcher's child whose handle is let go
            # sees EOF on its stdin and leaves by itself (lxc-start then removes everything)
            self.left_up.append(instance)
            raise InstanceError(f"{instance.name}: {REFUSAL}")

    return Refusing


def test_a_failed_teardown_is_kept_and_what_it_left_is_swept(case: Case, harness: Harness[AnyDriver],
                                                             tmp_path: Path) -> None:
    """Through the runner, handed a registry with the failing driver under the case's name:
    the cell fails with the teardown's reason, its samples are kept beside a failed
    stop.total, and the run's sweep (the driver's clean) removes the instance left up."""
    registry = DriverRegistry({case.driver: refusing_teardown(case.cls)})
    config = parse_config(case.config(), registry=registry)
    store = RunWriter.create(tmp_path / "r", Manifest(
        run_id=harness.run_id, config=RunConfig(config.model_dump(mode="json"))))
    try:
        failed = Runner(config, store, harness.bundle, harness.run_id, harness.cache,
                        registry=registry).run(make_plan(config), lambda c, e: None, lambda n: None)
    finally:
        store.close()
    assert failed == 1
    name = f"bench-{harness.run_id}-{RUNTIME}-1-1"
    samples = {sample["metric"]: sample for sample in read_lines(store.path, "samples.jsonl")}
    assert samples["boot.total"]["status"] == "ok" and samples["memory.host_pss"]["status"] == "ok"
    stop = samples["stop.total"]
    assert stop["status"] == "failed" and stop["value"] is None
    assert stop["reason"].startswith("teardown failed") and REFUSAL in stop["reason"], stop
    cells = read_lines(store.path, "cells.jsonl")
    assert [(c["status"], c["reason"].startswith("teardown failed")) for c in cells] == [("failed", True)]
    manifest = read_manifest(store.path)
    assert manifest.status == "complete"
    assert naming(list(manifest.swept), name), "the sweep found the instance left up"
    assert not listed_by_clean(case, harness.run_id, name)


def test_clean_after_sigkill(case: Case, tmp_path: Path) -> None:
    """A `bench run` SIGKILLed with an instance up leaves it (a container, a guest, a
    cgroup) for the driver's clean, which finds it by the run id and removes it, with
    whatever else the run left: then nothing of the run is left but its temp dir, which
    `bench clean` takes. An instance that leaves by itself must be gone for good: nothing of
    it runs on, and its emptied cgroup is what clean then removes."""
    run, out = start_run(tmp_path, case.config(settle=600, cell_timeout=600))
    try:
        run_id = run_id_of(out)
        name = f"bench-{run_id}-{RUNTIME}-1-1"
        wait_until(lambda: f"{name}: ready" in logged(out), case.boot_seconds + 120,
                   f"{name} did not get ready")
        assert listed_by_clean(case, run_id, name), "clean finds the live instance"
        os.kill(run.pid, signal.SIGKILL)
        run.wait(timeout=60)
        time.sleep(SETTLE_AFTER_KILL_S)
        if case.outlives_bench:
            assert alive(listed_by_clean(case, run_id, name)), "the killed run left its instance"
        else:
            wait_until(lambda: not alive(listed_by_clean(case, run_id, name)), 30,
                       "the instance did not leave with the run")
        removed = case.cls.clean(case.parsed_options(), run_id, dry_run=False)
        assert naming(removed, name) if case.outlives_bench else not alive(naming(removed, name)), removed
        assert case.cls.clean(case.parsed_options(), run_id, dry_run=True) == []
        assert seen_on_host(run_id) == []
        assert [item for item in mine(run_id) if not item.startswith("temp dir ")] == []
        done = subprocess.run(bench_cmd("clean", "--run", run_id), capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0 and mine(run_id) == [], done.stderr
    finally:  # a failed assertion leaves no run going, nor its instance
        stop_and_clean([(run, out)])


def logged(out: Path) -> str:
    try:
        return (out / "run.log").read_text()
    except FileNotFoundError:
        return ""


def test_memory_parts_are_declared(case: Case, harness: Harness[AnyDriver]) -> None:
    driver = harness.driver(dict(case.options))
    instance = harness.start(driver)
    instance.output.wait_for(IDLE, deadline(30), f"{case.driver} probe")
    reading = driver.memory(instance)
    assert reading.host_pss > 0
    parts = dict(reading.host_parts)
    assert set(parts) <= set(case.cls.host_parts), (parts, case.cls.host_parts)
    assert bool(parts) == bool(case.cls.host_parts), "a driver that declares parts reports them"
    if parts:
        assert all(value >= 0 for value in parts.values()), parts
        assert reading.host_pss == sum(parts.values()), (reading.host_pss, parts)


@pytest.mark.parametrize("case", CASES)  # no instance: runs wherever the driver is installed
def test_options_are_refused_in_one_line(case: Case, tmp_path: Path) -> None:
    """An unknown option, and a value of the wrong kind for each option the driver has, is a
    ConfigError whose one line names the dotted key; `bench run` says that line and exits 2
    before it creates anything."""
    bad_options = {"no_such_option": 1} | {key: {"not": "a value"} for key in case.cls.Options.model_fields}
    for key, value in bad_options.items():
        document = case.config()
        document["runtimes"][RUNTIME]["options"][key] = value
        with pytest.raises(ConfigError) as refused:
            parse_config(document)
        message = str(refused.value)
        assert "\n" not in message and f"runtimes.{RUNTIME}.options.{key}" in message, message
    path = tmp_path / "c.yaml"
    path.write_text(f"runtimes:\n  {RUNTIME}:\n    driver: {case.driver}\n    options:\n"
                    "      no_such_option: 1\nworkloads:\n  idle:\n    mode: ready\n")
    done = subprocess.run(bench_cmd("run", str(path), "-o", str(tmp_path / "out")),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert f"runtimes.{RUNTIME}.options.no_such_option" in done.stderr
    assert not (tmp_path / "out").exists()
