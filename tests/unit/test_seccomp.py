"""The seccomp profile's one source of truth, resolved and compiled, checked without a kernel.

The compiled program is run here by a small classic-BPF interpreter over every system call
number of each ABI, and each verdict is compared with what the typed profile says: allowed
names allowed, others EPERM, numbers above the newest named call ENOSYS. Docker's own
behaviour is the reference in tests/integration/test_native_isolation.py; this proves the
compiler (libseccomp plus the ENOSYS stub) says what the data says.
"""

from __future__ import annotations

import ctypes
import errno
import json
import struct

import pytest

from foundation.errors import RuntimeUnavailable
from runtimes.host import seccomp_bpf
from runtimes.host.seccomp import (
    ALWAYS_ALLOWED,
    DOCKER_DEFAULT,
    NAMESPACE_FLAGS,
    PERSONALITIES,
    SYS_ADMIN_ONLY,
    Action,
    OciSeccomp,
    Target,
    kernel_version,
    oci_seccomp,
    resolve,
)
from runtimes.host.seccomp_bpf import ACT_ALLOW, ACT_ERRNO, Filter, compile_filter, libseccomp
from tests.conftest import require

AMD64 = Target("amd64", "SCMP_ARCH_X86_64", frozenset(), (6, 1))
X32_BIT = 0x40000000
# ABI -> (the AUDIT_ARCH seccomp sees, the first number): x32 is x86_64 with bit 30 set
ABIS = {"SCMP_ARCH_X86_64": (0xC000003E, 0), "SCMP_ARCH_X86": (0x40000003, 0),
        "SCMP_ARCH_X32": (0xC000003E, X32_BIT)}
EPERM, ENOSYS = ACT_ERRNO | errno.EPERM, ACT_ERRNO | errno.ENOSYS


def run_bpf(program: bytes, nr: int, arch: int, args: tuple[int, ...] = ()) -> int:
    """Classic BPF over struct seccomp_data, the instructions libseccomp and the stub emit."""
    code = [struct.unpack_from("=HBBI", program, at) for at in range(0, len(program), 8)]
    data = struct.pack("=iIQ6Q", nr, arch, 0, *(list(args) + [0] * (6 - len(args))))
    a, x, scratch, pc = 0, 0, [0] * 16, 0
    while True:
        op, jt, jf, k = code[pc]
        pc += 1
        if op == 0x20:
            a = struct.unpack_from("=I", data, k)[0]
        elif op in (0x00, 0x60, 0x61, 0x02, 0x03, 0x07, 0x87):
            a, x = {0x00: (k, x), 0x60: (scratch[k], x), 0x61: (a, scratch[k]),
                    0x07: (a, a), 0x87: (x, x)}.get(op, (a, x))
            if op in (0x02, 0x03):
                scratch[k] = a if op == 0x02 else x
        elif op in (0x54, 0x44):
            a = a & k if op == 0x54 else a | k
        elif op == 0x05:
            pc += k
        elif op in (0x15, 0x25, 0x35, 0x45):
            taken = {0x15: a == k, 0x25: a > k, 0x35: a >= k, 0x45: bool(a & k)}[op]
            pc += jt if taken else jf
        elif op == 0x06:
            return k
        else:
            raise AssertionError(f"the interpreter lacks BPF opcode {op:#x}")


@pytest.fixture(scope="module")
def compiled() -> tuple[OciSeccomp, Filter]:
    try:
        libseccomp()
    except RuntimeUnavailable as error:
        require(False, f"libseccomp ({error})")
    profile = resolve(DOCKER_DEFAULT, AMD64)
    return profile, compile_filter(profile)


def number(arch: str, name: str) -> int:
    token = seccomp_bpf.arch_token(arch)
    found: int = libseccomp().seccomp_syscall_resolve_name_arch(token, name.encode())
    return found


def name_of(arch: str, nr: int) -> str | None:
    """libseccomp's name for a number on one ABI (None for a hole in the table)."""
    resolve_num = libseccomp().seccomp_syscall_resolve_num_arch
    resolve_num.restype, resolve_num.argtypes = ctypes.c_char_p, [ctypes.c_uint32, ctypes.c_int]
    found: bytes | None = resolve_num(seccomp_bpf.arch_token(arch), nr)
    return found.decode() if found else None


def test_resolving_keeps_what_a_capless_amd64_container_gets() -> None:
    profile = resolve(DOCKER_DEFAULT, AMD64)
    names = set(profile.names())
    assert profile.architectures == ("SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32")
    assert {"arch_prctl", "modify_ldt", "ptrace", "personality", "clone", "clone3"} <= names
    assert not names & (set(SYS_ADMIN_ONLY) - {"clone", "clone3"})
    assert not names & {"chroot", "reboot", "open_by_handle_at", "s390_runtime_instr", "set_tls"}
    clone = [rule for rule in profile.rules if rule.names == ("clone",)]
    assert len(clone) == 1 and clone[0].args[0].index == 0  # s390's argument order is dropped


def test_capabilities_and_kernel_change_what_applies() -> None:
    admin = resolve(DOCKER_DEFAULT, Target("amd64", "SCMP_ARCH_X86_64",
                                           frozenset({"CAP_SYS_ADMIN"}), (6, 1)))
    assert set(SYS_ADMIN_ONLY) <= set(admin.names())
    assert not [rule for rule in admin.rules if rule.action is Action.ERRNO or rule.args
                and rule.names == ("clone",)]
    old = resolve(DOCKER_DEFAULT, Target("amd64", "SCMP_ARCH_X86_64", frozenset(), (4, 4)))
    assert "ptrace" not in old.names()
    arm = resolve(DOCKER_DEFAULT, Target("arm64", "SCMP_ARCH_AARCH64", frozenset(), (6, 1)))
    assert arm.architectures == ("SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM")
    assert "set_tls" in arm.names() and "arch_prctl" not in arm.names()


def test_the_oci_json_is_what_runtime_spec_describes() -> None:
    document = json.loads(json.dumps(oci_seccomp(AMD64)))
    assert document["defaultAction"] == "SCMP_ACT_ERRNO"
    assert document["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    by_name = {tuple(rule["names"]): rule for rule in document["syscalls"]}
    assert by_name[("clone3",)] == {"names": ["clone3"], "action": "SCMP_ACT_ERRNO",
                                    "errnoRet": errno.ENOSYS}
    assert by_name[("clone",)]["args"] == [{"index": 0, "value": NAMESPACE_FLAGS, "valueTwo": 0,
                                            "op": "SCMP_CMP_MASKED_EQ"}]
    personalities = [rule["args"][0]["value"] for rule in document["syscalls"]
                     if rule["names"] == ["personality"]]
    assert personalities == list(PERSONALITIES)
    assert by_name[ALWAYS_ALLOWED]["action"] == "SCMP_ACT_ALLOW"


@pytest.mark.parametrize("arch", sorted(ABIS))
def test_every_number_gets_the_verdict_the_data_gives(
        compiled: tuple[OciSeccomp, Filter], arch: str) -> None:
    """Each number of the ABI, up to past the newest: allowed, EPERM or ENOSYS as the data says."""
    profile, program = compiled
    allowed = {*ALWAYS_ALLOWED, "arch_prctl", "modify_ldt", "ptrace"}
    newest = program.newest[arch]
    assert newest == max(number(arch, name) for name in profile.names())
    wrong = {}
    audit, first = ABIS[arch]
    for nr in range(first, newest + 64):
        name = name_of(arch, nr)
        if name in ("clone", "clone3", "personality"):
            continue  # decided by arguments: checked below
        expected = ACT_ALLOW if name in allowed else (ENOSYS if nr > newest else EPERM)
        verdict = run_bpf(program.program, nr, audit)
        if verdict != expected:
            wrong[nr] = (hex(verdict), hex(expected))
    assert wrong == {}


def test_argument_rules_and_the_x32_abi(compiled: tuple[OciSeccomp, Filter]) -> None:
    _, program = compiled
    x86_64 = ABIS["SCMP_ARCH_X86_64"][0]

    def verdict(name: str, *args: int, abi: str = "SCMP_ARCH_X86_64") -> int:
        return run_bpf(program.program, number(abi, name), x86_64, args)

    assert verdict("clone", 0x11) == ACT_ALLOW  # SIGCHLD: a fork
    assert verdict("clone", 0x11 | 0x10000000) == EPERM  # CLONE_NEWUSER
    assert verdict("clone3") == ENOSYS
    assert [verdict("personality", p) for p in PERSONALITIES] == [ACT_ALLOW] * len(PERSONALITIES)
    assert verdict("personality", 0x0040000) == EPERM  # ADDR_NO_RANDOMIZE
    assert verdict("getpid", abi="SCMP_ARCH_X32") == ACT_ALLOW
    assert verdict("keyctl", abi="SCMP_ARCH_X32") == EPERM
    assert run_bpf(program.program, X32_BIT | 1000, x86_64) == ENOSYS
    assert run_bpf(program.program, 1, 0x40000028) == 0  # an ABI the filter lacks: killed


def test_kernel_versions_parse_like_dockerd() -> None:
    assert kernel_version("6.1.0-28-amd64") == (6, 1)
    assert kernel_version("6.18.44-fc-v782") == (6, 18)
    assert kernel_version("garbage") == (0, 0)


def test_a_missing_library_is_a_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(seccomp_bpf, "LIBRARY", "libseccomp-missing.so.0")
    libseccomp.cache_clear()
    try:
        with pytest.raises(RuntimeUnavailable, match="apt-get install libseccomp2"):
            seccomp_bpf.library_version()
    finally:
        libseccomp.cache_clear()
