"""A PostgreSQL password never written or printed (issue 20, point 8), against a server of
the test's own that asks for it (scram-sha-256, tests.history_fixtures)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import require
from tests.history_fixtures import Server, postgres_server, unavailable_reason

pytestmark = pytest.mark.integration
PASSWORD = "p@ss:w0rd!s3cret"  # an unencoded @ and : in it, as people type them
TELLS = ("p@ss", "w0rd", "s3cret")  # no piece of it may show anywhere


@pytest.fixture(scope="module")
def guarded() -> Iterator[Server]:
    reason = unavailable_reason()
    require(reason is None, reason or "")
    with postgres_server(password=PASSWORD) as server:
        yield server


def bench(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items()
                   if key not in {"BENCH_STORE", "PGPASSWORD", "PGPASSFILE"}}
    return subprocess.run([sys.executable, "-m", "bench.cli", *args], capture_output=True,
                          text=True, timeout=300, env={**environment, **(env or {})})


def shows_none(*texts: str) -> None:
    for text in texts:
        assert not any(tell in text for tell in TELLS), text[-3000:]


def url(server: Server, database: str, password: str | None = None) -> str:
    secret = f":{password}" if password is not None else ""
    return f"postgresql://bench{secret}@/{database}?host={server.socket_dir}"


def test_a_password_in_the_config_is_used_and_never_written(guarded: Server, tmp_path: Path) -> None:
    database = guarded.create_database().partition("@/")[2].partition("?")[0]
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({
        "repetitions": 2, "warmup": 0, "settle": 0.1, "cell_timeout": 30,
        "runtimes": {"process": {"driver": "process"}},
        "workloads": {"sys": {"mode": "syscall", "batches": 2, "calls": 500, "warmup": 1}},
        "history": {"store": url(guarded, database, PASSWORD), "required": True}}))
    out = tmp_path / "run"
    ran = bench("run", str(config), "-o", str(out))
    assert ran.returncode == 0, ran.stderr
    assert "history: recorded run" in ran.stderr
    shows_none(ran.stdout, ran.stderr, (out / "manifest.json").read_text(),
               (out / "run.log").read_text() if (out / "run.log").exists() else "")
    stored = guarded.psql("SELECT manifest::text FROM runs", database)
    assert json.loads(stored)["config"]["history"]["store"] == url(guarded, database)
    shows_none(stored)
    shown = bench("history", "show", json.loads((out / "manifest.json").read_text())["run_id"],
                  "--json", "--store", url(guarded, database, PASSWORD))
    assert shown.returncode == 0, shown.stderr
    shows_none(shown.stdout, shown.stderr)


def test_the_password_can_stay_out_of_the_url(guarded: Server, tmp_path: Path) -> None:
    """$PGPASSWORD, or a password file (libpq's own: ?passfile= or $PGPASSFILE)."""
    store = guarded.create_database()  # no password in it
    assert bench("history", "list", "--store", store).returncode == 1  # it asks for one
    assert bench("history", "list", "--store", store,
                 env={"PGPASSWORD": PASSWORD}).returncode == 0
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"*:*:*:bench:{PASSWORD.replace(':', chr(92) + ':')}\n")
    passfile.chmod(0o600)
    assert bench("history", "list", "--store", f"{store}&passfile={passfile}").returncode == 0
    assert bench("history", "list", "--store", store,
                 env={"PGPASSFILE": str(passfile)}).returncode == 0


@pytest.mark.parametrize("given", [
    "postgresql://bench:wr@ng:s3cret@/db?host=/nonexistent",  # unreachable: a store error
    "postgresql://bench:p@ss/w0rd@localhost/db",  # ambiguous: refused
    "postgresql://bench:w0rd@localhost:s3cret/db",  # a port that is no port
    "postgresql://bench:s3cret@localhost:99999/db",
    "postgresql://bench:s3cret@localhost/db#w0rd",
])
def test_a_bad_or_unreachable_url_is_one_line_that_shows_no_password(given: str) -> None:
    for command in (["history", "list", "--store", given], ["history", "import", "/nonexistent",
                                                             "--store", given]):
        done = bench(*command, env={"BENCH_STORE": given})
        assert done.returncode in (1, 2), done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert "Traceback" not in done.stderr
        shows_none(done.stdout, done.stderr)
    assert bench("history", "list", env={"BENCH_STORE": given}).returncode in (1, 2)


def test_a_malformed_url_in_a_config_is_refused_before_the_run(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(yaml.safe_dump({
        "runtimes": {"process": {"driver": "process"}}, "workloads": {"idle": {"mode": "ready"}},
        "history": {"store": "postgresql://bench:w0rd@db:s3cret/x"}}))
    done = bench("run", str(config), "-o", str(tmp_path / "never"))
    assert done.returncode == 2 and not (tmp_path / "never").exists()
    assert len(done.stderr.strip().splitlines()) == 1 and "history.store" in done.stderr
    shows_none(done.stdout, done.stderr)
    config.write_text(yaml.safe_dump({"runtimes": {"process": {"driver": "process"}},
                                      "workloads": {"idle": {"mode": "ready"}}}))
    for how in (["--store", "postgresql://bench:w0rd@db:s3cret/x"], []):
        done = bench("run", str(config), "-o", str(tmp_path / "never"), *how,
                     env={"BENCH_STORE": "postgresql://bench:p@ss/w0rd@db/x"})
        assert done.returncode == 2 and not (tmp_path / "never").exists(), done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
        shows_none(done.stdout, done.stderr)
