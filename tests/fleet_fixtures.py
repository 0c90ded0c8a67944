"""Real SSH "hosts" for the fleet's tests: Debian's sshd, started by the tests on 127.0.0.2
and 127.0.0.3 (and any other loopback address asked for) with throw-away keys.

No system service and no system file is touched: the host key, the client key, the
authorized keys, the known-hosts file, the config and the pid file live in a temporary
directory; sshd runs in the foreground as the tests' child and is stopped (and its
directory removed) at the end. Both addresses are this machine, so both "hosts" report one
machine identity. Every connection stays on 127.0.0.0/8.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SSHD = Path("/usr/sbin/sshd")
SSH_KEYGEN = Path("/usr/bin/ssh-keygen")
PRIVSEP_DIR = Path("/run/sshd")  # sshd refuses to start without it (the init script makes it)


@dataclass(frozen=True)
class SshHosts:
    """A running sshd: where it listens, and the files a client needs to reach it."""

    folder: Path
    addresses: tuple[str, ...]
    port: int

    @property
    def client_key(self) -> Path:
        return self.folder / "client_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.folder / "known_hosts"

    def inventory_line(self, name: str, address: str, port: int | None = None) -> str:
        """One INI inventory line that reaches `address` as root with the throw-away key,
        checking the host key against the fixture's known-hosts file (never trusting it blindly)."""
        ssh_args = (f"-F /dev/null -o IdentitiesOnly=yes -o UserKnownHostsFile={self.known_hosts} "
                    "-o StrictHostKeyChecking=yes -o ConnectTimeout=10")
        return (f"{name} ansible_host={address} ansible_port={port or self.port} ansible_user=root "
                f"ansible_ssh_private_key_file={self.client_key} "
                f"ansible_ssh_common_args='{ssh_args}' ansible_python_interpreter=/usr/bin/python3")


def unavailable_reason() -> str | None:
    if not SSHD.exists():
        return f"sshd at {SSHD} (apt-get install openssh-server)"
    if os.geteuid() != 0:
        return "root (the fleet's hosts are reached as root, as bench runs there)"
    return None


def free_port(address: str) -> int:
    """A TCP port nothing listens on at `address` now."""
    with socket.socket() as probe:
        probe.bind((address, 0))
        port: int = probe.getsockname()[1]
    return port


def keygen(path: Path) -> None:
    subprocess.run([str(SSH_KEYGEN), "-q", "-t", "ed25519", "-N", "", "-C", "bench-fleet-test",
                    "-f", str(path)], check=True, capture_output=True, timeout=30)


def write_config(hosts: SshHosts) -> Path:
    folder = hosts.folder
    lines = [f"Port {hosts.port}", *(f"ListenAddress {a}" for a in hosts.addresses),
             f"HostKey {folder / 'host_ed25519'}", f"PidFile {folder / 'sshd.pid'}",
             f"AuthorizedKeysFile {folder / 'authorized_keys'}",
             "PermitRootLogin prohibit-password", "PasswordAuthentication no",
             "KbdInteractiveAuthentication no", "UsePAM no", "StrictModes no",
             "X11Forwarding no", "AllowTcpForwarding no", "PrintMotd no",
             "Subsystem sftp internal-sftp"]
    config = folder / "sshd_config"
    config.write_text("\n".join(lines) + "\n")
    return config


def write_keys(hosts: SshHosts) -> None:
    folder = hosts.folder
    keygen(folder / "host_ed25519")
    keygen(hosts.client_key)
    shutil.copy(folder / "client_ed25519.pub", folder / "authorized_keys")
    host_key = (folder / "host_ed25519.pub").read_text().split()[:2]
    hosts.known_hosts.write_text("".join(f"[{a}]:{hosts.port} {' '.join(host_key)}\n"
                                         for a in hosts.addresses))


def wait_listening(hosts: SshHosts, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    waiting = list(hosts.addresses)
    while waiting and time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sshd exited with {process.returncode}: "
                               f"{(hosts.folder / 'sshd.log').read_text()[-2000:]}")
        try:
            socket.create_connection((waiting[0], hosts.port), timeout=1).close()
            waiting.pop(0)
        except OSError:
            time.sleep(0.1)
    if waiting:
        raise RuntimeError(f"sshd did not listen on {waiting} within {timeout} s")


@contextmanager
def ssh_hosts(addresses: tuple[str, ...] = ("127.0.0.2", "127.0.0.3")) -> Iterator[SshHosts]:
    """sshd on `addresses` (one port) with throw-away keys; stopped and removed at the end."""
    folder = Path(tempfile.mkdtemp(prefix="bench-sshd-"))
    hosts = SshHosts(folder, addresses, free_port(addresses[0]))
    made_privsep = not PRIVSEP_DIR.exists()
    process: subprocess.Popen[bytes] | None = None
    try:
        write_keys(hosts)
        config = write_config(hosts)
        if made_privsep:
            PRIVSEP_DIR.mkdir(mode=0o755)
        with (folder / "sshd.log").open("wb") as log:
            process = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(config)],
                                       stdout=log, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL)
        wait_listening(hosts, process)
        yield hosts
    finally:
        if process is not None:
            stop(process)
        if made_privsep:
            shutil.rmtree(PRIVSEP_DIR, ignore_errors=True)
        shutil.rmtree(folder, ignore_errors=True)


def stop(process: subprocess.Popen[bytes]) -> None:
    """The listener and, with it, its sessions' processes (sshd's children end with it)."""
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=15)
