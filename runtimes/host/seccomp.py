"""The seccomp profile bench's own runtimes apply: Docker's default, as typed data, in one place.

The native runtime (and the OCI bundles to come) must filter system calls the way a default
Docker container does, or they would compare isolation that is not there. The profile below
is the same allow-list Docker 20.10 builds into dockerd (there is no file to read: the
behaviour is the reference, and tests/integration/test_native_seccomp.py compares the two
syscall by syscall). From it come both forms a runtime needs:

- `oci_seccomp(target)`: the OCI runtime spec's `linux.seccomp` object, resolved for one
  architecture, capability set and kernel the way dockerd resolves its profile before it
  hands it to runc (rules whose `includes` do not hold, or whose `excludes` do, are dropped);
- `runtimes.host.seccomp_bpf.compile_filter(...)`: the classic BPF program a launcher
  installs, made from that same object with libseccomp, as runc makes it.

Everything not allowed fails with EPERM; system calls newer than any the profile names fail
with ENOSYS, so programs fall back as they do on an older kernel (runc's behaviour).
"""

from __future__ import annotations

import errno
import os
import platform
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from foundation.errors import RuntimeUnavailable

PROFILE_NAME = "docker-default"
PROFILE_SOURCE = "dockerd 20.10 built-in default profile (moby profiles/seccomp, v20.10.24)"

# CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID
# | CLONE_NEWNET: a task without CAP_SYS_ADMIN may clone only with none of these set.
NAMESPACE_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 \
    | 0x20000000 | 0x40000000


class Action(StrEnum):
    ALLOW = "SCMP_ACT_ALLOW"
    ERRNO = "SCMP_ACT_ERRNO"


class Op(StrEnum):
    NOT_EQUAL = "SCMP_CMP_NE"
    LESS = "SCMP_CMP_LT"
    LESS_EQUAL = "SCMP_CMP_LE"
    EQUAL = "SCMP_CMP_EQ"
    GREATER_EQUAL = "SCMP_CMP_GE"
    GREATER = "SCMP_CMP_GT"
    MASKED_EQUAL = "SCMP_CMP_MASKED_EQ"


@dataclass(frozen=True)
class Arg:
    """A condition on one argument: `args[index] op value` (masked: `args[index] & value == value_two`)."""

    index: int
    value: int
    op: Op
    value_two: int = 0


@dataclass(frozen=True)
class Condition:
    """When a rule applies: every listed capability held, one of the arches, at least a kernel.

    As `includes`, all that is set must hold; as `excludes`, any one that holds drops the rule.
    Arches use Go's names (amd64, x32, arm64, s390x), as dockerd matches them.
    """

    caps: frozenset[str] = frozenset()
    arches: frozenset[str] = frozenset()
    min_kernel: tuple[int, int] | None = None


@dataclass(frozen=True)
class Rule:
    names: tuple[str, ...]
    action: Action = Action.ALLOW
    args: tuple[Arg, ...] = ()
    errno_ret: int | None = None
    includes: Condition = Condition()
    excludes: Condition = Condition()


@dataclass(frozen=True)
class Profile:
    name: str
    default_action: Action
    # OCI arch of the host -> the ABIs its processes may also use (all are filtered alike)
    arch_map: dict[str, tuple[str, ...]]
    rules: tuple[Rule, ...]


def _names(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# Always allowed: what ordinary programs of every ABI need, and nothing that reaches the
# kernel's global state (keys, mounts, namespaces, modules, clocks, perf, bpf).
ALWAYS_ALLOWED = _names("""
    accept accept4 access adjtimex alarm bind brk capget capset chdir chmod chown chown32
    clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime
    clock_gettime64 clock_nanosleep clock_nanosleep_time64 close close_range connect
    copy_file_range creat dup dup2 dup3
    epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait
    epoll_wait_old eventfd eventfd2 execve execveat exit exit_group
    faccessat faccessat2 fadvise64 fadvise64_64 fallocate fanotify_mark fchdir fchmod fchmodat
    fchown fchown32 fchownat fcntl fcntl64 fdatasync fgetxattr flistxattr flock fork
    fremovexattr fsetxattr fstat fstat64 fstatat64 fstatfs fstatfs64 fsync ftruncate
    ftruncate64 futex futex_time64 futex_waitv futimesat
    getcpu getcwd getdents getdents64 getegid getegid32 geteuid geteuid32 getgid getgid32
    getgroups getgroups32 getitimer getpeername getpgid getpgrp getpid getppid getpriority
    getrandom getresgid getresgid32 getresuid getresuid32 getrlimit get_robust_list getrusage
    getsid getsockname getsockopt get_thread_area gettid gettimeofday getuid getuid32 getxattr
    inotify_add_watch inotify_init inotify_init1 inotify_rm_watch
    io_cancel ioctl io_destroy io_getevents io_pgetevents io_pgetevents_time64 ioprio_get
    ioprio_set io_setup io_submit io_uring_enter io_uring_register io_uring_setup ipc kill
    landlock_add_rule landlock_create_ruleset landlock_restrict_self
    lchown lchown32 lgetxattr link linkat listen listxattr llistxattr _llseek lremovexattr
    lseek lsetxattr lstat lstat64
    madvise membarrier memfd_create memfd_secret mincore mkdir mkdirat mknod mknodat mlock
    mlock2 mlockall mmap mmap2 mprotect mq_getsetattr mq_notify mq_open mq_timedreceive
    mq_timedreceive_time64 mq_timedsend mq_timedsend_time64 mq_unlink mremap msgctl msgget
    msgrcv msgsnd msync munlock munlockall munmap
    nanosleep newfstatat _newselect open openat openat2
    pause pidfd_open pidfd_send_signal pipe pipe2 poll ppoll ppoll_time64 prctl pread64
    preadv preadv2 prlimit64 process_mrelease pselect6 pselect6_time64 pwrite64 pwritev
    pwritev2
    read readahead readlink readlinkat readv recv recvfrom recvmmsg recvmmsg_time64 recvmsg
    remap_file_pages removexattr rename renameat renameat2 restart_syscall rmdir rseq
    rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend
    rt_sigtimedwait rt_sigtimedwait_time64 rt_tgsigqueueinfo
    sched_getaffinity sched_getattr sched_getparam sched_get_priority_max
    sched_get_priority_min sched_getscheduler sched_rr_get_interval
    sched_rr_get_interval_time64 sched_setaffinity sched_setattr sched_setparam
    sched_setscheduler sched_yield seccomp select semctl semget semop semtimedop
    semtimedop_time64 send sendfile sendfile64 sendmmsg sendmsg sendto
    setfsgid setfsgid32 setfsuid setfsuid32 setgid setgid32 setgroups setgroups32 setitimer
    setpgid setpriority setregid setregid32 setresgid setresgid32 setresuid setresuid32
    setreuid setreuid32 setrlimit set_robust_list setsid setsockopt set_thread_area
    set_tid_address setuid setuid32 setxattr
    shmat shmctl shmdt shmget shutdown sigaltstack signalfd signalfd4 sigprocmask sigreturn
    socket socketcall socketpair splice stat stat64 statfs statfs64 statx symlink symlinkat
    sync sync_file_range syncfs sysinfo
    tee tgkill time timer_create timer_delete timer_getoverrun timer_gettime timer_gettime64
    timer_settime timer_settime64 timerfd_create timerfd_gettime timerfd_gettime64
    timerfd_settime timerfd_settime64 times tkill truncate truncate64
    ugetrlimit umask uname unlink unlinkat utime utimensat utimensat_time64 utimes
    vfork vmsplice wait4 waitid waitpid write writev
""")

# personality(2) only with the values programs really use: PER_LINUX, PER_LINUX32,
# UNAME26, UNAME26|PER_LINUX32, and the query 0xffffffff. ADDR_NO_RANDOMIZE and
# READ_IMPLIES_EXEC (which weaken ASLR and NX) are refused.
PERSONALITIES = (0x0, 0x0008, 0x20000, 0x20008, 0xFFFFFFFF)

SYS_ADMIN_ONLY = _names("""
    bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick lookup_dcookie mount
    mount_setattr move_mount name_to_handle_at open_tree perf_event_open quotactl quotactl_fd
    setdomainname sethostname setns syslog umount umount2 unshare
""")


def _with_cap(cap: str, names: str) -> Rule:
    return Rule(_names(names), includes=Condition(caps=frozenset({cap})))


def _on(arches: str, names: str) -> Rule:
    return Rule(_names(names), includes=Condition(arches=frozenset(arches.split())))


def _clone_without_namespaces(index: int, on: frozenset[str], off: frozenset[str]) -> Rule:
    """clone(2) allowed when its flags (argument `index`; s390 swaps the first two) hold
    no namespace flag: containers without CAP_SYS_ADMIN fork, but make no namespaces."""
    return Rule(("clone",), args=(Arg(index, NAMESPACE_FLAGS, Op.MASKED_EQUAL, 0),),
                includes=Condition(arches=on),
                excludes=Condition(caps=frozenset({"CAP_SYS_ADMIN"}), arches=off))


S390 = frozenset({"s390", "s390x"})

RULES: tuple[Rule, ...] = (
    Rule(ALWAYS_ALLOWED),
    Rule(("ptrace",), includes=Condition(min_kernel=(4, 8))),  # seccomp bypass fixed in 4.8
    *(Rule(("personality",), args=(Arg(0, value, Op.EQUAL),)) for value in PERSONALITIES),
    _on("ppc64le", "sync_file_range2"),
    _on("arm arm64", "arm_fadvise64_64 arm_sync_file_range sync_file_range2 breakpoint "
                     "cacheflush set_tls"),
    _on("amd64 x32", "arch_prctl"),
    _on("amd64 x32 x86", "modify_ldt"),
    _on("s390 s390x", "s390_pci_mmio_read s390_pci_mmio_write s390_runtime_instr"),
    _with_cap("CAP_DAC_READ_SEARCH", "open_by_handle_at"),
    Rule(SYS_ADMIN_ONLY, includes=Condition(caps=frozenset({"CAP_SYS_ADMIN"}))),
    _clone_without_namespaces(0, frozenset(), S390),
    _clone_without_namespaces(1, S390, frozenset()),
    # clone3 passes its flags in memory, where seccomp cannot look: refuse it as if the
    # kernel were too old, so libc falls back to clone(2), whose flags are checked above
    Rule(("clone3",), Action.ERRNO, errno_ret=errno.ENOSYS,
         excludes=Condition(caps=frozenset({"CAP_SYS_ADMIN"}))),
    _with_cap("CAP_SYS_BOOT", "reboot"),
    _with_cap("CAP_SYS_CHROOT", "chroot"),
    _with_cap("CAP_SYS_MODULE", "delete_module init_module finit_module"),
    _with_cap("CAP_SYS_PACCT", "acct"),
    _with_cap("CAP_SYS_PTRACE", "kcmp pidfd_getfd process_madvise process_vm_readv "
                                "process_vm_writev ptrace"),
    _with_cap("CAP_SYS_RAWIO", "iopl ioperm"),
    _with_cap("CAP_SYS_TIME", "settimeofday stime clock_settime"),
    _with_cap("CAP_SYS_TTY_CONFIG", "vhangup"),
    _with_cap("CAP_SYS_NICE", "get_mempolicy mbind set_mempolicy"),
    _with_cap("CAP_SYSLOG", "syslog"),
)

DOCKER_DEFAULT = Profile(
    name=PROFILE_NAME,
    default_action=Action.ERRNO,  # EPERM
    arch_map={
        "SCMP_ARCH_X86_64": ("SCMP_ARCH_X86", "SCMP_ARCH_X32"),
        "SCMP_ARCH_AARCH64": ("SCMP_ARCH_ARM",),
        "SCMP_ARCH_MIPS64": ("SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64N32"),
        "SCMP_ARCH_MIPS64N32": ("SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64"),
        "SCMP_ARCH_MIPSEL64": ("SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64N32"),
        "SCMP_ARCH_MIPSEL64N32": ("SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64"),
        "SCMP_ARCH_S390X": ("SCMP_ARCH_S390",),
    },
    rules=RULES,
)

# uname -m -> (Go's arch name, which rules match on; the OCI arch)
MACHINES = {
    "x86_64": ("amd64", "SCMP_ARCH_X86_64"),
    "aarch64": ("arm64", "SCMP_ARCH_AARCH64"),
    "s390x": ("s390x", "SCMP_ARCH_S390X"),
    "ppc64le": ("ppc64le", "SCMP_ARCH_PPC64LE"),
    "i686": ("x86", "SCMP_ARCH_X86"),
    "armv7l": ("arm", "SCMP_ARCH_ARM"),
}


@dataclass(frozen=True)
class Target:
    """What a profile is resolved for: the host's arch, the instance's capabilities, the kernel."""

    arch: str  # Go's name: amd64, arm64, ...
    oci_arch: str  # SCMP_ARCH_X86_64, ...
    capabilities: frozenset[str] = frozenset()  # the bounding set; empty for bench's instances
    kernel: tuple[int, int] = (0, 0)


def host_target(capabilities: frozenset[str] = frozenset()) -> Target:
    """This host: its machine and kernel release; raises when the machine is not one we map."""
    machine = platform.machine()
    if machine not in MACHINES:
        raise RuntimeUnavailable(f"no seccomp architecture is known for machine {machine!r}: "
                                 f"use seccomp: unconfined on this host")
    arch, oci_arch = MACHINES[machine]
    return Target(arch, oci_arch, capabilities, kernel_version(os.uname().release))


def kernel_version(release: str) -> tuple[int, int]:
    """'6.1.0-28-amd64' -> (6, 1); what dockerd compares minKernel with."""
    parts = release.split("-", 1)[0].split(".")
    try:
        return int(parts[0]), int(parts[1])
    except (IndexError, ValueError):
        return 0, 0


def _holds(condition: Condition, target: Target, require_all: bool) -> bool:
    """includes (require_all): every set field holds; excludes: any set field holds."""
    checks = []
    if condition.arches:
        checks.append(target.arch in condition.arches)
    if condition.caps:
        held = [cap in target.capabilities for cap in condition.caps]
        checks.append(all(held) if require_all else any(held))
    if condition.min_kernel is not None:
        checks.append(target.kernel >= condition.min_kernel)
    return all(checks) if require_all else any(checks)


@dataclass(frozen=True)
class OciSeccomp:
    """A profile resolved for one target: the OCI spec's linux.seccomp, typed."""

    default_action: Action
    architectures: tuple[str, ...]
    rules: tuple[Rule, ...]
    default_errno: int = errno.EPERM
    profile: str = PROFILE_NAME

    def to_json(self) -> dict[str, Any]:
        """The `linux.seccomp` object of an OCI bundle's config.json (runtime-spec 1.0.2)."""
        return {
            "defaultAction": self.default_action.value,
            "architectures": list(self.architectures),
            "syscalls": [_rule_json(rule) for rule in self.rules],
        }

    def names(self) -> list[str]:
        return [name for rule in self.rules for name in rule.names]


def _rule_json(rule: Rule) -> dict[str, Any]:
    entry: dict[str, Any] = {"names": list(rule.names), "action": rule.action.value}
    if rule.args:
        entry["args"] = [{"index": a.index, "value": a.value, "valueTwo": a.value_two,
                          "op": a.op.value} for a in rule.args]
    if rule.errno_ret is not None:
        entry["errnoRet"] = rule.errno_ret
    return entry


def resolve(profile: Profile, target: Target) -> OciSeccomp:
    """The rules that apply to the target, and the ABIs its filter must cover."""
    rules = tuple(rule for rule in profile.rules
                  if not _holds(rule.excludes, target, require_all=False)
                  and _holds(rule.includes, target, require_all=True))
    sub_arches = profile.arch_map.get(target.oci_arch, ())
    return OciSeccomp(profile.default_action, (target.oci_arch, *sub_arches), rules,
                      profile=profile.name)


def oci_seccomp(target: Target | None = None, profile: Profile = DOCKER_DEFAULT) -> dict[str, Any]:
    """Docker's default profile as the OCI `linux.seccomp` JSON for this host and no capabilities
    (the issue-15 `oci` driver puts it in config.json, so its bundles filter as native does)."""
    return resolve(profile, target or host_target()).to_json()

