"""`bench run` recording into the history store, `bench history`, `bench trend` and
`bench gate --history`, end to end: real runs of the process driver, SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bench.cli import main
from tests.history_fixtures import Server as PostgresServer
from tests.history_fixtures import history_run, postgres  # noqa: F401

pytestmark = pytest.mark.integration

CONFIG = {"repetitions": 2, "warmup": 0, "settle": 0.1, "cell_timeout": 30,
          "runtimes": {"process": {"driver": "process"}},
          "workloads": {"sys": {"mode": "syscall", "batches": 2, "calls": 500, "warmup": 1}}}
T0 = 1_750_000_000.0


def config_file(folder: Path, **extra: object) -> Path:
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump({**CONFIG, **extra}))
    return path


def environment(data_home: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "BENCH_STORE"}
    return {**env, "XDG_DATA_HOME": str(data_home)}


def bench_run(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "bench.cli", "run", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finished(process: subprocess.Popen[str]) -> tuple[int, str]:
    _, stderr = process.communicate(timeout=300)
    return process.returncode, stderr


def listed(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, object]]:
    capsys.readouterr()
    assert main(["history", "list", "--json", *args]) == 0
    found: list[dict[str, object]] = json.loads(capsys.readouterr().out)
    return found


def test_two_runs_record_into_a_fresh_default_store(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """No setup step: a plain `bench run` records into the default store, the config's
    `history:` section the second time; `--store none` records nowhere."""
    env = environment(tmp_path / "data")
    first = finished(bench_run(str(config_file(tmp_path)), "-o", str(tmp_path / "one"), env=env))
    assert first[0] == 0, first[1]
    unrecorded = finished(bench_run(str(config_file(tmp_path)), "--store", "none", "-o",
                                    str(tmp_path / "none"), env=env))
    assert unrecorded[0] == 0 and "history:" not in unrecorded[1], unrecorded[1]
    (tmp_path / "two").mkdir()
    again = config_file(tmp_path / "two", history={"store": "default", "required": True})
    second = finished(bench_run(str(again), "-o", str(tmp_path / "out2"), env=env))
    assert second[0] == 0, second[1]
    store = tmp_path / "data" / "bench" / "history.sqlite"
    recorded = [line for line in second[1].splitlines() if "recorded run" in line]
    assert len(recorded) == 1 and recorded[0].endswith(f" in {store}"), second[1]
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("BENCH_STORE", raising=False)
    runs = listed(capsys)
    assert {run["path"] for run in runs} == {str(tmp_path / "one"), str(tmp_path / "out2")}
    assert len({run["config_hash"] for run in runs}) == 1  # the history section is not hashed
    assert {run["origin"] for run in runs} == {"run"}  # bench run recorded them where they ran
    assert all(len(str(run["run_id"])) == 32 for run in runs)  # 128-bit run ids
    page = tmp_path / "trend.html"
    assert main(["trend", "-o", str(page)]) == 0
    text = page.read_text()
    assert "syscall.getppid" in text and "default-src &#39;none&#39;" in text


def test_an_unreachable_store_keeps_the_results(tmp_path: Path) -> None:
    """The run is kept and said in one line; the exit code is 1 only because the config
    requires the store."""
    nowhere = f"postgresql://bench@/bench?host={tmp_path / 'no-server'}"
    path = config_file(tmp_path, history={"store": nowhere, "required": True})
    code, stderr = finished(bench_run(str(path), "-o", str(tmp_path / "kept"),
                                      env=environment(tmp_path / "data")))
    assert code == 1
    lines = [line for line in stderr.splitlines() if "not recorded" in line]
    assert len(lines) == 1 and "bench: error: history store" in lines[0], stderr
    assert str(tmp_path / "kept") in lines[0]
    manifest = json.loads((tmp_path / "kept" / "manifest.json").read_text())
    assert manifest["status"] == "complete"


@pytest.mark.parametrize("required", [False, True])
def test_store_required_fails_a_run_that_could_not_be_recorded(tmp_path: Path,
                                                               required: bool) -> None:
    """`--store-required` (what bench fleet asks of every host) does what the config's
    `required: true` does; without it the same run exits 0 with a warning."""
    nowhere = f"postgresql://bench@/bench?host={tmp_path / 'no-server'}"
    flags = ["--store", nowhere, *(["--store-required"] if required else [])]
    code, stderr = finished(bench_run(str(config_file(tmp_path)), "-o", str(tmp_path / "kept"),
                                      *flags, env=environment(tmp_path / "data")))
    assert code == (1 if required else 0), stderr
    level = "error" if required else "warning"
    assert f"bench: {level}: history store" in stderr
    assert json.loads((tmp_path / "kept" / "manifest.json").read_text())["status"] == "complete"


def test_four_runs_record_at_once_into_postgresql(tmp_path: Path, postgres: PostgresServer,  # noqa: F811
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    url = postgres.create_database()
    path = config_file(tmp_path)
    env = {**environment(tmp_path / "data"), "BENCH_STORE": url}  # the environment names it
    runs = [bench_run(str(path), "-o", str(tmp_path / f"run{n}"), env=env) for n in range(4)]
    for code, stderr in map(finished, runs):
        assert code == 0, stderr
    found = listed(capsys, "--store", url)
    assert sorted(run["path"] for run in found) == [str(tmp_path / f"run{n}") for n in range(4)]
    page = tmp_path / "trend.html"
    assert main(["trend", "--store", url, "--metric", "syscall.getppid", "-o", str(page)]) == 0
    assert page.stat().st_size > 0
