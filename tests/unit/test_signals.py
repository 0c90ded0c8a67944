"""Signals end a run one way: SIGINT, SIGTERM and SIGHUP alike tear down, leave a manifest that
says which signal, remove the scratch directory, and exit 128+N; a second signal during the
teardown changes nothing."""

from __future__ import annotations

import os
import signal
import tempfile
import time
from pathlib import Path
from typing import ClassVar

import pytest

from bench.config import parse_config
from bench.drivers import DriverRegistry
from bench.interrupts import Interruption, handling_signals, shielded
from bench.plan import make_plan
from bench.results.manifest import Manifest, RunConfig, read_manifest
from bench.results.writer import RunWriter
from bench.runner import Runner
from bench.workload.bundle import Bundle
from foundation.errors import Interrupted
from runtimes.instance import Instance
from tests.unit.fake_driver import FakeDriver, FakeOptions


class SignalledOptions(FakeOptions):
    signum: int = signal.SIGHUP
    at_launch: int = 2  # the launch that receives the signal
    again_in_teardown: bool = False  # a second signal while tearing down


class SignalledDriver(FakeDriver):
    """A fake driver whose host receives a signal in the middle of its second launch."""

    kind = "signalled"
    Options = SignalledOptions
    torn_down: ClassVar[list[str]] = []

    def launch(self, instance: Instance[str], command: object) -> None:
        super().launch(instance, command)  # type: ignore[arg-type]
        options: SignalledOptions = self.options  # type: ignore[assignment]
        if self.serial == options.at_launch:
            self.sent = True
            os.kill(os.getpid(), options.signum)
            time.sleep(1)  # the handler runs at the next bytecode; this is never reached whole

    def teardown(self, instance: Instance[str]) -> None:
        options: SignalledOptions = self.options  # type: ignore[assignment]
        if options.again_in_teardown and getattr(self, "sent", False):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.01)
        super().teardown(instance)
        self.torn_down.append(instance.name)


REGISTRY = DriverRegistry({"signalled": SignalledDriver})  # beside the installed drivers


@pytest.fixture(autouse=True)
def fresh_driver_records() -> None:
    SignalledDriver.torn_down.clear()
    SignalledDriver.live.clear()


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where the Runner makes its scratch directory: under tmp_path, never the host's /tmp
    (the run id is fixed, so two checkouts' tests would share the name)."""
    folder = tmp_path / "scratch"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def run_until_signalled(tmp_path: Path, **options: object) -> tuple[Interrupted, Path, Runner]:
    config = parse_config({"repetitions": 4, "warmup": 0, "settle": 0, "cell_timeout": 5,
                           "runtimes": {"box": {"driver": "signalled", "options": options}},
                           "workloads": {"idle": {"mode": "ready"}}}, registry=REGISTRY)
    store = RunWriter.create(tmp_path / "r", Manifest(config=RunConfig(config.model_dump(mode="json"))))
    runner = Runner(config, store, Bundle(tmp_path / "probe", "0"), "sig123", tmp_path,
                    registry=REGISTRY)
    with pytest.raises(Interrupted) as info:
        runner.run(make_plan(config), lambda c, e: None, lambda n: None)
    store.close()
    return info.value, tmp_path / "r", runner


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_every_stopping_signal_tears_down_and_says_which(tmp_path: Path, scratch: Path,
                                                         signum: int) -> None:
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    error, path, _ = run_until_signalled(tmp_path, signum=signum)
    assert error.exit_code == 128 + signum
    manifest = read_manifest(path)
    assert manifest.status == "interrupted"
    assert manifest.signal == signal.Signals(signum).name
    assert SignalledDriver.live == set(), "the instance being started was torn down"
    assert len(SignalledDriver.torn_down) == 2
    assert not list(scratch.glob("bench-sig123-*"))
    assert {s: signal.getsignal(s) for s in previous} == previous, "handlers restored"


@pytest.mark.usefixtures("scratch")
def test_a_second_signal_during_teardown_changes_nothing(tmp_path: Path) -> None:
    error, path, _ = run_until_signalled(tmp_path, signum=signal.SIGTERM, again_in_teardown=True)
    assert error.exit_code == 128 + signal.SIGTERM, "the first signal decides the exit"
    assert read_manifest(path).signal == "SIGTERM"
    assert SignalledDriver.live == set()


def test_a_shielded_block_finishes_and_the_signal_follows() -> None:
    finished = []
    with pytest.raises(Interruption) as info, handling_signals():
        with shielded():
            os.kill(os.getpid(), signal.SIGHUP)
            time.sleep(0.01)
            finished.append("report")
        finished.append("never")
    assert finished == ["report"]
    assert info.value.signum == signal.SIGHUP


def test_after_the_first_signal_later_ones_are_only_noted(capfd: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(Interruption), handling_signals():
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.01)
        finally:
            os.kill(os.getpid(), signal.SIGINT)  # a second Ctrl-C while cleaning up
            time.sleep(0.01)
            cleaned = True
    assert cleaned
    assert "already stopping" in capfd.readouterr().err
