"""A real PostgreSQL server for the history store's tests, started and stopped by the tests.

Debian's postgresql-15 binaries run on a temporary directory, listening on a Unix socket in
that directory only (no TCP port, no system service). PostgreSQL refuses to run as root,
so under root the server runs as the `postgres` user the Debian package creates. Stopping
it removes the directory: nothing is left running or behind.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

PG_BIN = Path("/usr/lib/postgresql/15/bin")
SUPERUSER = "bench"


@dataclass(frozen=True)
class Server:
    folder: Path
    user: str | None  # the OS user the server runs as (None: this process's user)
    password: str | None = None  # the superuser's, when the server asks for one (scram)

    @property
    def socket_dir(self) -> Path:
        return self.folder / "socket"

    def url(self, database: str) -> str:
        return f"postgresql://{SUPERUSER}@/{database}?host={self.socket_dir}"

    def create_database(self) -> str:
        """A fresh database for one test; its URL."""
        name = f"bench_{secrets.token_hex(4)}"
        self.psql(f"CREATE DATABASE {name}")
        return self.url(name)

    def psql(self, statement: str, database: str = "postgres") -> str:
        env = {**os.environ, "PGPASSWORD": self.password} if self.password else None
        done = run([str(PG_BIN / "psql"), "-h", str(self.socket_dir),
                    "-U", SUPERUSER, "-d", database, "-v", "ON_ERROR_STOP=1", "-Atc",
                    statement], None, env=env)
        return done.stdout


def unavailable_reason() -> str | None:
    if not (PG_BIN / "postgres").exists():
        return f"PostgreSQL 15 at {PG_BIN} (apt-get install postgresql-15)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "the postgres user (created by Debian's postgresql-15 package)"
    return None


def run(argv: list[str], user: str | None, timeout: float = 60,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    options: dict[str, Any] = {"user": user} if user else {}
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False,
                          cwd="/", env=env, **options)
    if done.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({done.returncode}): {done.stderr.strip()}")
    return done


@contextmanager
def postgres_server(password: str | None = None) -> Iterator[Server]:
    """initdb, start on a private socket, yield; then stop (immediate) and remove everything.
    With a password, the server asks every client for it (scram-sha-256), as a shared one does."""
    user = "postgres" if os.geteuid() == 0 else None
    folder = Path(tempfile.mkdtemp(prefix="bench-pg-"))
    server = Server(folder, user, password)
    started = False
    try:
        server.socket_dir.mkdir()
        if user:
            entry = pwd.getpwnam(user)
            for path in (folder, server.socket_dir):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        auth = ["-A", "trust"]
        if password:
            secret = folder / "pwfile"
            secret.write_text(password + "\n")
            if user:
                os.chown(secret, entry.pw_uid, entry.pw_gid)
            auth = ["-A", "scram-sha-256", f"--pwfile={secret}"]
        run([str(PG_BIN / "initdb"), "-D", str(folder / "data"), "-U", SUPERUSER, *auth,
             "-E", "UTF8", "--no-sync"], user)
        options = (f"-k {server.socket_dir} -c listen_addresses= -c fsync=off "
                   "-c max_connections=50")
        started = True
        run([str(PG_BIN / "pg_ctl"), "-D", str(folder / "data"), "-l", str(folder / "log"),
             "-o", options, "-w", "-t", "60", "start"], user, timeout=90)
        yield server
    finally:
        try:
            if started:
                run([str(PG_BIN / "pg_ctl"), "-D", str(folder / "data"), "-m", "immediate",
                     "-w", "-t", "60", "stop"], user, timeout=90)
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def history_run(path: Path, run_id: str, created: float, scale: float = 1.0, seed: int = 1,
                runtimes: dict[str, str] | None = None, repetitions: int = 6,
                **manifest: Any) -> Path:
    """A synthetic results directory (tests.report_fixtures) with its own run id and time."""
    import json

    from tests.report_fixtures import Generator

    generator = Generator(runtimes or {"process": "process", "native": "native"},
                          repetitions=repetitions, seed=seed, scale=scale, syscall_batches=8)
    generator.write(path)
    document = json.loads((path / "manifest.json").read_text())
    document.update({"run_id": run_id, "created": created, "config_commit": f"c{run_id}",
                     "config_branch": "main", **manifest})
    document["host"] = {"hostname": "runner-1", **document["host"]}
    (path / "manifest.json").write_text(json.dumps(document))
    return path


@pytest.fixture(scope="session")
def postgres() -> Iterator[Server]:
    """One PostgreSQL server for the session (per importing module); fails in CI without it."""
    from tests.conftest import require

    reason = unavailable_reason()
    require(reason is None, reason or "")
    with postgres_server() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty store of each kind: a SQLite file, a new PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "history.sqlite")
    server: Server = request.getfixturevalue("postgres")
    return server.create_database()
