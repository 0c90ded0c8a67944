"""The native runtime's isolation, tried from inside: seccomp, the keyring, masked /proc.

A small static prober (prober.c) runs as PID 1 of a native instance and tries system calls,
host keys and /proc files, one line per attempt. Docker's default seccomp profile is built
into dockerd (there is no file to read), so its behaviour is the reference: the same prober
runs in a Docker container (no capabilities, as a native instance has none) with Docker's
default profile and unconfined, and every outcome must match the native runtime's under
`seccomp: default` and `unconfined`, errno for errno.
"""

from __future__ import annotations

import ctypes
import platform
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.running import new_run_id
from foundation.errors import RuntimeUnavailable
from runtimes.base import ProbeCommand
from runtimes.host.build import compile_static
from runtimes.instance import Instance
from runtimes.native.driver import NativeDriver
from tests.conftest import require
from tests.integration.native_harness import (
    Harness,
    deadline,
    open_harness,
    probe_pid,
    requirements,
    status_fields,
)

pytestmark = pytest.mark.integration

PROBER_SOURCE = Path(__file__).with_name("prober.c")
MODES = ("default", "unconfined")
# what Docker's default profile must refuse here, and what it must let through
REFUSED = ("keyctl", "add_key", "request_key", "unshare_user", "clone_newuser", "clone3",
           "mount", "perf_event_open", "bpf", "personality_no_aslr", "kexec_load",
           "open_by_handle_at", "userfaultfd", "setns", "i386_keyctl", "x32_keyctl",
           "i386_unshare_user", "unused_400", "unknown_1000")
ALLOWED = ("getpid", "getppid", "read", "write", "openat", "close", "newfstatat",
           "clock_gettime", "mmap", "uname", "socket", "pipe2", "getrandom", "prctl", "execve",
           "fork", "ptrace_traceme", "personality_query", "arch_prctl", "i386_getpid")
# where the kernel's own answer differs from the filter's, so unconfined must differ
FILTER_DECIDES = ("keyctl", "add_key", "request_key", "unshare_user", "clone_newuser", "clone3",
                  "mount", "perf_event_open", "bpf", "personality_no_aslr", "userfaultfd",
                  "open_by_handle_at", "process_vm_readv", "i386_keyctl", "unused_400",
                  "fchmodat2")
LEAKY_PROC = ("/proc/keys", "/proc/timer_list")
Outcomes = dict[str, str]


class ProberDriver(NativeDriver):
    """The native runtime running the prober instead of the probe."""

    def command_argv(self, command: ProbeCommand) -> list[str]:
        return ["/prober", *command.args]


def lines_of(text: list[str], kind: str) -> Outcomes:
    """{"keyctl": "EPERM", ...} from the prober's "<KIND> <name> <outcome...>" lines."""
    found: Outcomes = {}
    for line in text:
        parts = line.split(maxsplit=2)
        if parts and parts[0] == kind:
            assert parts[1] not in found, f"{kind} {parts[1]} reported twice"
            found[parts[1]] = parts[2]
    return found


@pytest.fixture(scope="module")
def prober(cache: Path) -> Path:
    return compile_static(PROBER_SOURCE, cache)


@pytest.fixture
def harness(tmp_path: Path, cache: Path) -> Iterator[Harness]:
    with open_harness(tmp_path, cache) as made:
        yield made


def run_prober(harness: Harness, prober: Path, seccomp: str, *sections: str) -> list[str]:
    """The prober's lines from one native instance, to its last line."""
    driver = harness.driver({"seccomp": seccomp}, cls=ProberDriver,
                            extra_files={"prober": prober})
    instance = harness.start(driver, "prober", *sections)
    instance.output.wait_for("PROBER-END", deadline(30), "prober")
    return instance.output.text()


@pytest.fixture(scope="module")
def native(tmp_path_factory: pytest.TempPathFactory, cache: Path,
           prober: Path) -> dict[str, list[str]]:
    """The prober's syscall and /proc lines under each seccomp mode (one instance each)."""
    with open_harness(tmp_path_factory.mktemp("native"), cache) as made:
        return {mode: run_prober(made, prober, mode, "syscalls", "procfs") for mode in MODES}


@pytest.fixture(scope="module")
def docker(prober: Path) -> Iterator[dict[str, Outcomes]]:
    """The prober's syscall lines in Docker containers: default profile and unconfined."""
    from runtimes.docker.driver import DockerDriver, DockerOptions

    reason = DockerDriver.unavailable_reason(DockerOptions())
    require(reason is None, f"a running dockerd ({reason})")
    with docker_image(prober) as (api, tag):
        yield {mode: lines_of(run_container(api, tag, mode), "SYSCALL") for mode in MODES}


class docker_image:  # noqa: N801 (used as a context manager, like a function)
    """The prober as a FROM-scratch image, removed afterwards."""

    def __init__(self, prober: Path) -> None:
        self.prober = prober

    def __enter__(self) -> tuple[Any, str]:
        from runtimes.docker.engine import connect
        from runtimes.docker.image import build_image, probe_digest

        self.api = connect(None)
        self.tag = f"bench-prober:{probe_digest(self.prober)}"
        build_image(self.api, self.prober, self.tag)
        return self.api, self.tag

    def __exit__(self, *_: object) -> None:
        self.api.remove_image(self.tag, force=True)
        self.api.close()


def run_container(api: Any, tag: str, seccomp: str) -> list[str]:
    """Run the prober to its end in a container with no capabilities and no network."""
    from runtimes.docker.driver import DockerDriver, DockerOptions
    from runtimes.host.labels import RUN_LABEL

    run_id = new_run_id()
    host_config = api.create_host_config(
        network_mode="none", cap_drop=["ALL"],
        security_opt=["seccomp=unconfined"] if seccomp == "unconfined" else None)
    try:
        container = api.create_container(tag, command=["syscalls"], name=f"bench-{run_id}-prober",
                                         labels={RUN_LABEL: run_id}, host_config=host_config)
        api.start(container["Id"])
        assert api.wait(container["Id"], timeout=60)["StatusCode"] == 0
        logs: bytes = api.logs(container["Id"], stdout=True, stderr=True)
    finally:  # by label: a create whose answer was lost still made a container
        DockerDriver.clean(DockerOptions(), run_id, dry_run=False)
    return logs.decode().splitlines()


def test_default_refuses_what_docker_default_refuses_errno_for_errno(
        native: dict[str, list[str]], docker: dict[str, Outcomes]) -> None:
    reference = docker["default"]
    assert set(REFUSED) | set(ALLOWED) <= set(reference), "the prober skipped a call"
    # the reference itself is what the comparison rests on: Docker refuses and allows these
    assert {name: reference[name] for name in REFUSED if reference[name] not in ("EPERM", "ENOSYS")} == {}
    assert {name: reference[name] for name in ALLOWED if reference[name] in ("EPERM", "ENOSYS")} == {}
    ours = lines_of(native["default"], "SYSCALL")
    assert {n: (ours.get(n), reference[n]) for n in reference if ours.get(n) != reference[n]} == {}


def test_unconfined_lets_through_what_docker_unconfined_lets_through(
        native: dict[str, list[str]], docker: dict[str, Outcomes]) -> None:
    ours = lines_of(native["unconfined"], "SYSCALL")
    reference = docker["unconfined"]
    assert {n: (ours.get(n), reference[n]) for n in reference if ours.get(n) != reference[n]} == {}


def test_unconfined_differs_where_the_filter_decides(native: dict[str, list[str]]) -> None:
    """Without docker: the same calls, with and without the filter, answer differently."""
    default = lines_of(native["default"], "SYSCALL")
    unconfined = lines_of(native["unconfined"], "SYSCALL")
    assert {n: default[n] for n in REFUSED if default[n] not in ("EPERM", "ENOSYS")} == {}
    assert {n: default[n] for n in ALLOWED if default[n] in ("EPERM", "ENOSYS")} == {}
    assert [n for n in FILTER_DECIDES if default[n] == unconfined[n]] == []
    assert [n for n in ALLOWED if default[n] != unconfined[n]] == []


@pytest.mark.parametrize("mode", MODES)
def test_proc_files_that_leak_host_state_read_empty(native: dict[str, list[str]], mode: str) -> None:
    seen = lines_of(native[mode], "PROCFS")
    for path in LEAKY_PROC:
        if Path(path).exists():  # on the host: this kernel has it
            assert Path(path).read_bytes(), f"{path} is empty on the host too: the check proves nothing"
            assert seen[path] == "ok 0", path


# --- keys: the host's, and the instance's own ------------------------------------------

KEYCTL_GET_KEYRING_ID, KEYCTL_DESCRIBE, KEYCTL_UNLINK, KEYCTL_READ = 0, 6, 9, 11
KEY_SPEC_SESSION_KEYRING, KEY_SPEC_USER_KEYRING = -3, -4
SYS_ADD_KEY, SYS_KEYCTL = 248, 250  # x86_64
KEY_STEPS = ("session", "session_keys", "search_session", "search_user", "read", "add_session",
             "link_user", "read_after_link",  # key=
             "update", "setperm", "invalidate", "revoke", "unlink", "add_user", "clear_user")


class HostKeys:
    """keyctl(2) and add_key(2) for the test process (the host side), through libc."""

    def __init__(self) -> None:
        require(platform.machine() == "x86_64", "an x86_64 host (key syscall numbers)")
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.libc.syscall.restype = ctypes.c_long

    def call(self, number: int, *args: Any) -> int:
        result: int = self.libc.syscall(ctypes.c_long(number), *(
            ctypes.c_long(a) if isinstance(a, int) else a for a in args))
        if result < 0:
            raise OSError(ctypes.get_errno(), f"key syscall {number}")
        return result

    def add_user_key(self, description: str, payload: bytes) -> int:
        return self.call(SYS_ADD_KEY, b"user", description.encode(), payload, len(payload),
                         KEY_SPEC_USER_KEYRING)

    def keyring(self, spec: int) -> int:
        return self.call(SYS_KEYCTL, KEYCTL_GET_KEYRING_ID, spec, 0)

    def read(self, key: int) -> bytes:
        buffer = ctypes.create_string_buffer(4096)
        return buffer.raw[:self.call(SYS_KEYCTL, KEYCTL_READ, key, buffer, len(buffer))]

    def describe(self, key: int) -> bytes:
        buffer = ctypes.create_string_buffer(4096)
        return buffer.raw[:self.call(SYS_KEYCTL, KEYCTL_DESCRIBE, key, buffer, len(buffer))]

    def linked_in_user_keyring(self, key: int) -> bool:
        ids = self.read(self.keyring(KEY_SPEC_USER_KEYRING))
        return key in (int.from_bytes(ids[i:i + 4], "little") for i in range(0, len(ids), 4))

    def state(self, key: int) -> tuple[bytes, bytes, bool]:
        return self.describe(key), self.read(key), self.linked_in_user_keyring(key)

    def unlink(self, key: int) -> None:
        self.call(SYS_KEYCTL, KEYCTL_UNLINK, key, KEY_SPEC_USER_KEYRING)


@pytest.fixture
def host_key(harness: Harness) -> Iterator[tuple[HostKeys, int, str]]:
    """A key in the host root's user keyring for the test's length; removed afterwards."""
    keys = HostKeys()
    description = f"bench-{harness.run_id}-hostkey"
    key = keys.add_user_key(description, secrets.token_hex(16).encode())
    try:
        yield keys, key, description
    finally:
        keys.unlink(key)


def test_default_host_keys_invisible_and_untouched(
        harness: Harness, prober: Path, host_key: tuple[HostKeys, int, str]) -> None:
    keys, key, description = host_key
    before = keys.state(key)
    lines = run_prober(harness, prober, "default", f"key={key}:{description}", f"keywrite={key}")
    seen = lines_of(lines, "KEYRING")
    assert set(seen) == set(KEY_STEPS) and set(seen.values()) == {"EPERM"}, seen
    assert keys.state(key) == before


def test_unconfined_still_has_its_own_session_keyring(
        harness: Harness, prober: Path, host_key: tuple[HostKeys, int, str]) -> None:
    """keyctl works, in a new, empty session keyring: the host session's keyring (which links
    root's user keyring) is not the instance's, so the host key is neither found nor read.

    The limit, asserted so that it stays written down: without a user namespace the
    instance's uid 0 is the host's, which holds every permission on root's user keyring; it
    may link that keyring into its own session keyring and then read the key. Docker's
    unconfined containers share this; only the default profile (keyctl refused) closes it.
    """
    keys, key, description = host_key
    before = keys.state(key)
    seen = lines_of(run_prober(harness, prober, "unconfined", f"key={key}:{description}"),
                    "KEYRING")
    session = int(seen["session"].split()[1])
    assert seen["session"].startswith("ok ") and session != keys.keyring(KEY_SPEC_SESSION_KEYRING)
    assert seen["session_keys"] == "ok 0"
    assert seen["search_session"] == "ENOKEY"  # the host key is not reachable from its keyrings
    assert seen["read"] in ("EACCES", "ENOKEY")  # nor readable by id
    assert seen["add_session"].startswith("ok ")  # its own keyring is its own to use
    assert seen["link_user"] == "ok 0" and seen["read_after_link"] == f"ok {len(before[1])}"
    assert keys.state(key) == before


def test_the_filter_is_installed_and_recorded(harness: Harness) -> None:
    for mode, filters in (("default", "1"), ("unconfined", "0")):
        driver = harness.driver({"seccomp": mode})
        instance: Instance = harness.start(driver, "ready")
        status = status_fields(Path(f"/proc/{probe_pid(driver, instance)}/status").read_text())
        assert status["Seccomp_filters"] == filters and status["NoNewPrivs"] == "1"
        fingerprint = driver.fingerprint()
        assert fingerprint["seccomp"] == mode
        assert (fingerprint["seccomp_filter"] is None) == (mode == "unconfined")
        assert fingerprint["keyring"] == "own session keyring"
    facts = harness.drivers[0].fingerprint()["seccomp_filter"]
    assert facts["profile"] == "docker-default" and facts["instructions"] > 100
    assert facts["architectures"][0] == "SCMP_ARCH_X86_64" or platform.machine() != "x86_64"


def test_a_missing_libseccomp_is_a_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    """seccomp: default without libseccomp: unavailable, saying what to install; unconfined runs."""
    from runtimes.host import seccomp_bpf
    from runtimes.native.driver import NativeOptions

    requirements()  # root and the rest, so the only reason left to give is the library
    monkeypatch.setattr(seccomp_bpf, "LIBRARY", "libseccomp-missing.so.0")
    seccomp_bpf.libseccomp.cache_clear()
    try:
        reason = NativeDriver.unavailable_reason(NativeOptions(seccomp="default"))
        assert reason is not None and "apt-get install libseccomp2" in reason
        assert "libseccomp" not in (NativeDriver.unavailable_reason(
            NativeOptions(seccomp="unconfined")) or "")
        with pytest.raises(RuntimeUnavailable, match="seccomp: unconfined"):
            seccomp_bpf.library_version()
    finally:
        seccomp_bpf.libseccomp.cache_clear()
