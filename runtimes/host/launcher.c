/*
 * launcher: how the host-side drivers start an instance, with every step stamped on the
 * host's clock and (almost) no cost of bench's own.
 *
 * Started by Python's subprocess.Popen, an instance's `boot.spawn` held pipes, an
 * environment, a vfork of a large interpreter, the child's exec and the probe's start, with
 * nothing to say which cost what. This small static program is started once per driver,
 * before anything is measured, and serves requests: the driver sends what to start (argv,
 * env, the instance's cgroup, its pipes), the launcher clones the child at once, and writes
 * back CLOCK_MONOTONIC stamps of each step (CLOCK_MONOTONIC is the harness's clock too: the
 * launcher runs on the host), so the time between "bench asks" and "the kernel runs the
 * first process" is itself recorded, and a native instance's start is broken into named
 * phases (runtimes/host/launcher.py turns the stamps into boot phases).
 *
 *   launcher --serve FD [--seccomp FILTER] [--cpus MASK]
 *       Serve requests on FD (a SOCK_SEQPACKET socket) until its peer closes it. One
 *       request per message (below); each child gets the request's descriptors as its
 *       stdin and stdout/stderr.
 *   launcher [--seccomp FILTER] [--cpus MASK] [--bind SOURCE TARGET ...] [--cgroup PATH ...]
 *            [--ns ROOTFS HOSTNAME] -- COMMAND [ARG ...]
 *       Start one instance the same way (the same code runs in the child), with this
 *       program's stdio, and wait for it: forward SIGTERM/SIGINT/SIGHUP/SIGQUIT and leave
 *       the way it did (its exit status, or the same signal), like `unshare --fork`. What
 *       `bench verify` times with hyperfine as the native runtime's reference.
 *
 * Each PATH names the instance's cgroup in one hierarchy, one of two ways:
 *  - a file (cgroup v1: <hierarchy>/bench/<name>/tasks): the child writes "0" there before
 *    anything else of the instance, so it moves only itself (one thread) and skips the
 *    global threadgroup lock, whose RCU grace period costs ~10 ms per cgroup.procs write;
 *  - a directory (cgroup v2), or a descriptor of one sent with a request: the child is
 *    cloned straight into it with clone3(CLONE_INTO_CGROUP), no migration at all (Linux
 *    5.7+; older kernels fall back to the child writing "0" to its cgroup.procs).
 *
 * With --ns (a native instance) the child is PID 1 of a new pid namespace; it joins its
 * cgroup, then enters new mount, uts, ipc, net and cgroup namespaces (the cgroup namespace
 * rooted at its own cgroup), takes its own hostname and a new session keyring, brings up lo
 * (the only interface of an empty network namespace), pivots into ROOTFS (read-only, with
 * its own /proc where /proc/sys and the like are read-only and /proc/keys and the like
 * masked as runc masks them, a /tmp, each --bind, the old root detached), drops every
 * capability, sets no_new_privs, installs FILTER (a classic BPF program, struct
 * sock_filter[] in host order, made by runtimes/host/seccomp_bpf.py, read once when the
 * launcher starts) as its seccomp filter when given, and execs COMMAND with an empty
 * environment. It dies with the launcher (PR_SET_PDEATHSIG). Without --ns the child only
 * joins its cgroup and execs COMMAND (a plain process, the baseline).
 *
 * Request (one message): fields of one tag byte and a NUL-terminated value:
 *   'i' id (decimal)   'a' argv element   'e' environment entry   'j' a v1 cgroup file
 *   'n' namespaces: rootfs   'h' hostname   'b' bind source   'B' bind target
 *   'c' the v2 cgroup directory is the message's third descriptor (value empty)
 * and, with SCM_RIGHTS, the child's stdin and stdout (then the cgroup's directory).
 * Replies (struct reply, below), each child's in this order: STARTED once its exec
 * succeeded (its pid, a pidfd of it, and the stamps), or FAILED when a step failed (which,
 * and errno; the child also prints "launcher: <step>: <error>" on its stderr and exits 127);
 * then EXITED (its wait status: the launcher is its parent). REFUSED when nothing started
 * (a malformed request, no clone), said on the child's stdout too.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/keyctl.h>
#include <linux/seccomp.h>
#include <linux/securebits.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NAMESPACES (CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWCGROUP)
#define COUNT(array) (sizeof(array) / sizeof((array)[0]))
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif
#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif
#define SECUREBITS (SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP | \
                    SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED | \
                    SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED)

#define MAX_FILTER 4096   /* BPF_MAXINSNS */
#define MAX_BINDS 16
#define MAX_JOINS 8
#define MAX_ARGS 8192
#define MAX_REQUEST (1 << 20)
#define MAX_CHILDREN 1024

/* The stamps a start writes back, in the order they are taken (0: not taken). */
enum stamp {
    RECEIVED,   /* the launcher read the request */
    CLONED,     /* clone3 returned in the launcher */
    CHILD,      /* the child's first instruction */
    CGROUP,     /* the child is in its cgroup (v1: its write to tasks; v2: at birth) */
    NAMESPACE,  /* mount, uts, ipc, net, cgroup namespaces; hostname, keyring, lo up */
    MOUNTS,     /* the rootfs: /proc, read-only and masked paths, /tmp, binds, pivot_root */
    SECCOMP,    /* capabilities dropped, no_new_privs, the filter installed */
    EXEC,       /* execve done: the launcher saw the child's status pipe close */
    STAMPS
};

enum kind { STARTED = 1, FAILED, EXITED, REFUSED };

/* What the launcher writes back: fixed size, little-endian on the machines bench runs on
 * (runtimes/host/launcher.py reads it with struct "<IiQqq8Q64s"). */
struct reply {
    uint32_t kind;
    int32_t error;          /* errno of a failed step, or 0 */
    uint64_t id;
    int64_t pid;
    int64_t status;         /* EXITED: the wait status */
    uint64_t stamps[STAMPS];
    char step[64];          /* FAILED, REFUSED: what failed */
} __attribute__((packed));

/* What the child writes to its status pipe: its stamps right before execve, or a failure. */
struct report {
    uint64_t stamps[STAMPS];
    int32_t error;
    char step[64];
};

/* One instance to start: from a request, or from the command line. */
struct spec {
    char **argv;
    char **envp;
    const char *joins[MAX_JOINS];
    int join_count;
    int cgroup_fd;          /* v2: clone into it; -1: none */
    const char *rootfs;     /* NULL: a plain process */
    const char *hostname;
    const char *binds[MAX_BINDS][2];
    int bind_count;
    int stdin_fd, stdout_fd; /* -1: keep ours */
    int status_fd;          /* where the child reports (-1: nowhere) */
    uint64_t stamps[STAMPS];
};

static struct sock_filter filter[MAX_FILTER];
static unsigned short filter_length;  /* 0: no filter (seccomp: unconfined) */
static cpu_set_t cpus;
static int pin;
static int launcher_pidfd = -1;  /* readable once the launcher exited */
static const int forwarded[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT};

static uint64_t now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* --- the child: everything between clone and exec ----------------------------------- */

static struct spec *current;  /* the child's spec, for fail() */

/* A failed step: said on the instance's stderr (the tail bench shows), reported to the
 * launcher, and the child exits 127. */
static void fail(const char *step) {
    int error = errno;
    dprintf(STDERR_FILENO, "launcher: %s: %s\n", step, strerror(error));
    if (current != NULL && current->status_fd >= 0) {
        struct report report;
        memset(&report, 0, sizeof report);
        report.error = error;
        snprintf(report.step, sizeof report.step, "%s", step);
        if (write(current->status_fd, &report, sizeof report) < 0) { /* the launcher is gone */ }
    }
    _exit(127);
}

static void write_zero(int dir_fd, const char *file) {
    int fd = openat(dir_fd, file, O_WRONLY | O_CLOEXEC);
    if (fd < 0) fail(file);
    if (write(fd, "0", 1) != 1) fail(file);
    close(fd);
}

/* Like runc's readonlyPaths: without a user namespace the instance's uid 0 is the host's
 * uid 0, and file modes alone would let it write host-wide sysctls or the sysrq trigger. */
static const char *const readonly_proc[] = {
    "proc/sys", "proc/sysrq-trigger", "proc/irq", "proc/bus", "proc/fs",
};
#define READONLY_REMOUNT (MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)

static void make_readonly(const char *path) {
    if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) != 0) {
        if (errno == ENOENT) return;  /* not in this kernel's /proc */
        fail(path);
    }
    if (mount(NULL, path, NULL, READONLY_REMOUNT, NULL) != 0) fail(path);
}

/* Like runc's maskedPaths: host-wide state that /proc shows its readers (every key they may
 * view, kernel timers, memory, hardware) becomes /dev/null, or an empty read-only tmpfs for
 * a directory. Paths this kernel lacks are skipped. */
static const char *const masked_proc[] = {
    "proc/asound", "proc/acpi", "proc/kcore", "proc/keys", "proc/latency_stats",
    "proc/timer_list", "proc/timer_stats", "proc/sched_debug", "proc/scsi",
};

static void mask(const char *path) {
    if (mount("/dev/null", path, NULL, MS_BIND, NULL) == 0 || errno == ENOENT) return;
    if (errno != ENOTDIR) fail(path);
    if (mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0)
        fail(path);
}

/* Bind the rootfs onto itself (pivot_root wants a mount point), give it /proc and /tmp,
 * pivot, detach the old root so no host mount stays visible, then make / read-only. */
static void enter_rootfs(const struct spec *spec) {
    const char *rootfs = spec->rootfs;
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) fail("make mounts private");
    if (mount(rootfs, rootfs, NULL, MS_BIND, NULL) != 0) fail("bind rootfs");
    if (chdir(rootfs) != 0) fail("chdir rootfs");
    if (mount("proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0)
        fail("mount /proc");
    for (size_t i = 0; i < COUNT(readonly_proc); i++) make_readonly(readonly_proc[i]);
    for (size_t i = 0; i < COUNT(masked_proc); i++) mask(masked_proc[i]);
    if (mount("tmpfs", "tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=16m,mode=1777") != 0)
        fail("mount /tmp");
    for (int i = 0; i < spec->bind_count; i++) {
        const char *target = spec->binds[i][1];
        if (mount(spec->binds[i][0], target, NULL, MS_BIND | MS_REC, NULL) != 0) fail(target);
        if (mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | MS_NOSUID, NULL) != 0) fail(target);
    }
    if (syscall(SYS_pivot_root, ".", ".oldroot") != 0) fail("pivot_root");
    if (chdir("/") != 0) fail("chdir /");
    if (umount2("/.oldroot", MNT_DETACH) != 0) fail("detach old root");
    if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) != 0)
        fail("remount / read-only");
}

static void loopback_up(void) {
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock < 0) fail("socket");
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
    if (ioctl(sock, SIOCGIFFLAGS, &ifr) != 0) fail("get lo flags");
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(sock, SIOCSIFFLAGS, &ifr) != 0) fail("bring lo up");
    close(sock);
}

/* Empty the bounding and ambient sets, lock root out of regaining capabilities through
 * execve or setuid, forbid new privileges, then give up every capability this process has. */
static void drop_privileges(void) {
    for (int cap = 0; cap < 64; cap++)
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) fail("drop bounding set");
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0) fail("clear ambient set");
    if (prctl(PR_SET_SECUREBITS, SECUREBITS, 0, 0, 0) != 0) fail("lock securebits");
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail("set no_new_privs");
    struct __user_cap_header_struct header = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    if (syscall(SYS_capset, &header, data) != 0) fail("capset");
}

/* A session keyring of its own: without it the instance shares the host session's keyring
 * and, through it, possesses root's user keyring (keys it could search, read and revoke).
 * This is not a wall: the instance's uid 0 is the host's and owns root's user keyring, so
 * without the seccomp filter (which refuses keyctl) it may link that keyring back in; only
 * a user namespace would separate them. ENOSYS (no keys in this kernel) or EPERM (keyctl
 * filtered out around us) leave nothing to reach. */
static void own_session_keyring(void) {
    if (syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, NULL) < 0 && errno != ENOSYS &&
        errno != EPERM)
        fail("join a new session keyring");
}

/* Last step before exec, after no_new_privs (which lets an unprivileged task install it). */
static void install_filter(void) {
    if (filter_length == 0) return;
    struct sock_fprog program = {.len = filter_length, .filter = filter};
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &program) != 0) fail("install seccomp filter");
}

static void isolate(struct spec *spec) {
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) fail("set parent-death signal");
    /* the launcher may have died before that (getppid() says 0 to PID 1 of a namespace) */
    struct pollfd parent = {.fd = launcher_pidfd, .events = POLLIN};
    if (launcher_pidfd >= 0 && poll(&parent, 1, 0) > 0) { errno = ESRCH; fail("the launcher is gone"); }
    /* after the cgroup join, so the cgroup namespace is rooted at the instance's cgroup */
    if (unshare(NAMESPACES) != 0) fail("unshare namespaces");
    if (sethostname(spec->hostname, strlen(spec->hostname)) != 0) fail("sethostname");
    own_session_keyring();
    loopback_up();
    spec->stamps[NAMESPACE] = now();
    enter_rootfs(spec);
    spec->stamps[MOUNTS] = now();
    drop_privileges();
    install_filter();
    spec->stamps[SECCOMP] = now();
}

static void run_child(struct spec *spec) {
    spec->stamps[CHILD] = now();
    current = spec;
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (size_t i = 0; i < COUNT(forwarded); i++) signal(forwarded[i], SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    if (spec->stdout_fd >= 0) {
        if (dup2(spec->stdout_fd, STDOUT_FILENO) < 0 || dup2(spec->stdout_fd, STDERR_FILENO) < 0)
            fail("stdout");
    }
    if (spec->stdin_fd >= 0 && dup2(spec->stdin_fd, STDIN_FILENO) < 0) fail("stdin");
    for (int i = 0; i < spec->join_count; i++) write_zero(AT_FDCWD, spec->joins[i]);
    spec->stamps[CGROUP] = now();
    if (pin && sched_setaffinity(0, sizeof cpus, &cpus) != 0) fail("sched_setaffinity");
    if (spec->rootfs != NULL) isolate(spec);
    if (spec->status_fd >= 0) {
        struct report report;
        memset(&report, 0, sizeof report);
        memcpy(report.stamps, spec->stamps, sizeof report.stamps);
        if (write(spec->status_fd, &report, sizeof report) < 0) { /* the launcher is gone */ }
    }
    execve(spec->argv[0], spec->argv, spec->envp);
    fail(spec->argv[0]);
}

/* struct clone_args of <linux/sched.h>, spelled out: glibc has no clone3 wrapper. */
struct clone3_args {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
    uint64_t set_tid, set_tid_size, cgroup;
};

/* Clone the child (PID 1 of a new pid namespace with --ns; into the v2 cgroup, if any); the
 * child runs the spec and never returns. Returns its pid, and its pidfd in *pidfd. */
static pid_t start_child(struct spec *spec, int *pidfd) {
    struct clone3_args args;
    memset(&args, 0, sizeof args);
    args.flags = CLONE_PIDFD | (spec->rootfs != NULL ? CLONE_NEWPID : 0);
    args.pidfd = (uint64_t)(uintptr_t)pidfd;
    args.exit_signal = SIGCHLD;
    if (spec->cgroup_fd >= 0) {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = (uint64_t)spec->cgroup_fd;
    }
    long pid = syscall(SYS_clone3, &args, sizeof args);
    if (pid < 0 && (errno == ENOSYS || errno == E2BIG || errno == EINVAL) && spec->cgroup_fd >= 0) {
        /* before Linux 5.7: no CLONE_INTO_CGROUP; the child joins through cgroup.procs */
        args.flags &= ~CLONE_INTO_CGROUP;
        pid = syscall(SYS_clone3, &args, sizeof args);
        if (pid == 0) write_zero(spec->cgroup_fd, "cgroup.procs");
    }
    if (pid == 0) {
        run_child(spec);
        _exit(127);
    }
    return (pid_t)pid;
}

/* --- one instance from the command line ------------------------------------------- */

static volatile sig_atomic_t child_pid;
static volatile sig_atomic_t pending_signal;

static void forward(int sig) {
    pending_signal = sig;
    if (child_pid > 0) kill(child_pid, sig);
}

static int wait_child(pid_t pid) {
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) { perror("launcher: waitpid"); return 127; }
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    int sig = WTERMSIG(status);
    signal(sig, SIG_DFL);  /* leave the way the child did, so the caller sees the signal */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    raise(sig);
    return 128 + sig;
}

/* A v1 file or a v2 directory, as the module comment says. */
static void add_cgroup(struct spec *spec, const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) fail(path);
    if (!S_ISDIR(st.st_mode)) {
        if (spec->join_count == MAX_JOINS) { errno = E2BIG; fail("--cgroup"); }
        spec->joins[spec->join_count++] = path;
        return;
    }
    if (spec->cgroup_fd >= 0) { errno = EINVAL; fail("more than one cgroup directory"); }
    spec->cgroup_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (spec->cgroup_fd < 0) fail(path);
}

static void load_filter(const char *path);
static void parse_cpus(const char *mask);

static int usage(void) {
    dprintf(STDERR_FILENO,
            "usage: launcher --serve FD [--seccomp FILTER] [--cpus MASK]\n"
            "       launcher [--seccomp FILTER] [--cpus MASK] [--bind SOURCE TARGET ...] "
            "[--cgroup PATH ...] [--ns ROOTFS HOSTNAME] -- COMMAND [ARG ...]\n");
    return 2;
}

static int run_once(int argc, char **argv, struct spec *spec) {
    int i = 1;
    for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (strcmp(argv[i], "--seccomp") == 0 && i + 1 < argc) {
            load_filter(argv[++i]);
        } else if (strcmp(argv[i], "--cpus") == 0 && i + 1 < argc) {
            parse_cpus(argv[++i]);
        } else if (strcmp(argv[i], "--bind") == 0 && i + 2 < argc) {
            if (spec->bind_count == MAX_BINDS) { errno = E2BIG; fail("--bind"); }
            spec->binds[spec->bind_count][0] = argv[++i];
            spec->binds[spec->bind_count++][1] = argv[++i];
        } else if (strcmp(argv[i], "--cgroup") == 0 && i + 1 < argc) {
            add_cgroup(spec, argv[++i]);
        } else if (strcmp(argv[i], "--ns") == 0 && i + 2 < argc) {
            spec->rootfs = argv[++i];
            spec->hostname = argv[++i];
        } else {
            return usage();
        }
    }
    if (i + 1 >= argc) return usage();
    spec->argv = argv + i + 1;
    static char *empty_environment[] = {NULL};
    extern char **environ;
    spec->envp = spec->rootfs != NULL ? empty_environment : environ;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = forward;
    for (size_t k = 0; k < COUNT(forwarded); k++) sigaction(forwarded[k], &sa, NULL);
    int pidfd = -1;
    pid_t pid = start_child(spec, &pidfd);
    if (pid < 0) fail("clone3");
    child_pid = pid;
    if (pidfd >= 0) close(pidfd);
    if (spec->cgroup_fd >= 0) close(spec->cgroup_fd);
    if (pending_signal) kill(pid, pending_signal);
    return wait_child(pid);
}

/* --- the server ------------------------------------------------------------------- */

/* An instance between its clone and its exit: what the launcher still waits for. */
struct child {
    uint64_t id;
    pid_t pid;
    int pidfd;        /* readable once it exited */
    int status_fd;    /* readable once it reported, then at EOF once it exec'd */
    uint64_t stamps[STAMPS];
    struct report report;
    size_t report_bytes;
};

static struct child children[MAX_CHILDREN];
static int child_count;
static int sock = -1;

static void send_reply(const struct reply *reply, int fd) {
    struct msghdr message;
    memset(&message, 0, sizeof message);
    struct iovec iov = {.iov_base = (void *)reply, .iov_len = sizeof *reply};
    message.msg_iov = &iov;
    message.msg_iovlen = 1;
    union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } control;
    if (fd >= 0) {
        memset(&control, 0, sizeof control);
        message.msg_control = control.buf;
        message.msg_controllen = sizeof control.buf;
        struct cmsghdr *cmsg = CMSG_FIRSTHDR(&message);
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cmsg), &fd, sizeof fd);
    }
    while (sendmsg(sock, &message, MSG_NOSIGNAL) < 0) {
        if (errno == EINTR) continue;
        _exit(0);  /* bench is gone: so are we (native instances die with us) */
    }
}

static void refuse(uint64_t id, const char *step, int error) {
    struct reply reply;
    memset(&reply, 0, sizeof reply);
    reply.kind = REFUSED;
    reply.id = id;
    reply.error = error;
    snprintf(reply.step, sizeof reply.step, "%s", step);
    send_reply(&reply, -1);
}

/* Parse a request into spec (its strings point into buf); NULL or the reason it is refused. */
static const char *parse_request(char *buf, size_t length, struct spec *spec, uint64_t *id,
                                 char **args, char **env, int have_cgroup_fd) {
    int argc = 0, envc = 0, bind_sources = 0;
    size_t at = 0;
    while (at < length) {
        char tag = buf[at];
        char *value = buf + at + 1;
        char *end = memchr(value, '\0', length - at - 1);
        if (at + 1 >= length || end == NULL) return "a field without its end";
        at = (size_t)(end - buf) + 1;
        switch (tag) {
        case 'i': *id = strtoull(value, NULL, 10); break;
        case 'a': if (argc == MAX_ARGS - 1) return "too many arguments"; args[argc++] = value; break;
        case 'e': if (envc == MAX_ARGS - 1) return "too many variables"; env[envc++] = value; break;
        case 'j': if (spec->join_count == MAX_JOINS) return "too many cgroups";
                  spec->joins[spec->join_count++] = value; break;
        case 'c': if (!have_cgroup_fd) return "no cgroup descriptor came with the request";
                  break;
        case 'n': spec->rootfs = value; break;
        case 'h': spec->hostname = value; break;
        case 'b': if (bind_sources == MAX_BINDS) return "too many binds";
                  spec->binds[bind_sources++][0] = value; break;
        case 'B': if (spec->bind_count >= bind_sources) return "a bind target without its source";
                  spec->binds[spec->bind_count++][1] = value; break;
        default: return "an unknown field";
        }
    }
    if (argc == 0) return "no command";
    if (spec->bind_count != bind_sources) return "a bind source without its target";
    if (spec->rootfs != NULL && spec->hostname == NULL) return "namespaces without a hostname";
    args[argc] = NULL;
    env[envc] = NULL;
    spec->argv = args;
    spec->envp = env;
    return NULL;
}

static void serve_request(void) {
    static char buf[MAX_REQUEST];
    static char *args[MAX_ARGS], *env[MAX_ARGS];
    struct msghdr message;
    memset(&message, 0, sizeof message);
    struct iovec iov = {.iov_base = buf, .iov_len = sizeof buf - 1};
    union { char buf[CMSG_SPACE(3 * sizeof(int))]; struct cmsghdr align; } control;
    message.msg_iov = &iov;
    message.msg_iovlen = 1;
    message.msg_control = control.buf;
    message.msg_controllen = sizeof control.buf;
    ssize_t got = recvmsg(sock, &message, MSG_CMSG_CLOEXEC);
    uint64_t received = now();
    if (got < 0 && errno == EINTR) return;
    if (got <= 0) _exit(0);  /* bench closed its end (or is gone): we are done */
    int fds[3] = {-1, -1, -1}, nfds = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&message); c != NULL; c = CMSG_NXTHDR(&message, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            nfds = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            if (nfds > 3) nfds = 3;
            memcpy(fds, CMSG_DATA(c), (size_t)nfds * sizeof(int));
        }
    }
    struct spec spec;
    memset(&spec, 0, sizeof spec);
    spec.cgroup_fd = nfds == 3 ? fds[2] : -1;
    spec.stdin_fd = fds[0];
    spec.stdout_fd = fds[1];
    spec.status_fd = -1;
    uint64_t id = 0;
    const char *refused = (message.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ? "a request too large"
        : nfds < 2 ? "a request without its stdin and stdout"
        : parse_request(buf, (size_t)got, &spec, &id, args, env, nfds == 3);
    int status[2] = {-1, -1}, error = 0, pidfd = -1;
    pid_t pid = -1;
    if (refused == NULL && child_count == MAX_CHILDREN) refused = "too many instances at once";
    if (refused == NULL && pipe2(status, O_CLOEXEC) != 0) {
        error = errno;
        refused = "pipe2";
    }
    if (refused == NULL) {
        spec.status_fd = status[1];
        spec.stamps[RECEIVED] = received;
        pid = start_child(&spec, &pidfd);
        if (pid < 0) {
            error = errno;
            refused = "clone3";
        }
    }
    uint64_t cloned = now();
    if (status[1] >= 0) close(status[1]);
    if (refused != NULL) {
        if (nfds >= 2)  /* the instance's stream says why, as a failed child's would */
            dprintf(fds[1], "launcher: %s%s%s\n", refused, error ? ": " : "", error ? strerror(error) : "");
        if (status[0] >= 0) close(status[0]);
        for (int k = 0; k < nfds; k++) close(fds[k]);
        refuse(id, refused, error);
        return;
    }
    for (int k = 0; k < nfds; k++) close(fds[k]);
    struct child *child = &children[child_count++];
    memset(child, 0, sizeof *child);
    child->id = id;
    child->pid = pid;
    child->pidfd = pidfd;
    child->status_fd = status[0];
    child->stamps[RECEIVED] = received;
    child->stamps[CLONED] = cloned;
}

/* The child's status pipe, once its last writer closed it (the child's exec, or its exit):
 * its report, then EOF. */
static void read_status(struct child *child) {
    uint64_t seen = now();
    for (;;) {
        char *into = (char *)&child->report + child->report_bytes;
        size_t room = sizeof child->report - child->report_bytes;
        char extra;
        ssize_t got = room ? read(child->status_fd, into, room) : read(child->status_fd, &extra, 1);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;
        if (room) child->report_bytes += (size_t)got;
        else child->report_bytes = 0;  /* more than a report: not one of ours */
    }
    close(child->status_fd);
    child->status_fd = -1;
    struct reply reply;
    memset(&reply, 0, sizeof reply);
    reply.id = child->id;
    reply.pid = child->pid;
    memcpy(reply.stamps, child->stamps, sizeof reply.stamps);
    if (child->report_bytes == sizeof child->report && child->report.step[0] == '\0') {
        for (int k = CHILD; k < EXEC; k++) reply.stamps[k] = child->report.stamps[k];
        reply.stamps[EXEC] = seen;
        reply.kind = STARTED;
    } else {
        reply.kind = FAILED;
        reply.error = child->report_bytes == sizeof child->report ? child->report.error : 0;
        snprintf(reply.step, sizeof reply.step, "%s", child->report_bytes == sizeof child->report
                 ? child->report.step : "ended before its exec");
    }
    send_reply(&reply, child->pidfd);
}

static void reap(int index) {
    struct child *child = &children[index];
    while (child->status_fd >= 0) read_status(child);  /* its verdict before its exit */
    siginfo_t info;
    memset(&info, 0, sizeof info);
    if (syscall(SYS_waitid, P_PIDFD, child->pidfd, &info, WEXITED, NULL) != 0) {
        if (errno == EINTR) return;
        info.si_code = CLD_KILLED;  /* not ours to reap any more: say it was killed */
        info.si_status = SIGKILL;
    }
    struct reply reply;
    memset(&reply, 0, sizeof reply);
    reply.kind = EXITED;
    reply.id = child->id;
    reply.pid = child->pid;
    /* the wait status as waitpid(2) encodes it, for Python's os.waitstatus_to_exitcode */
    reply.status = info.si_code == CLD_EXITED ? (info.si_status & 0xff) << 8
        : (info.si_status & 0x7f) | (info.si_code == CLD_DUMPED ? 0x80 : 0);
    send_reply(&reply, -1);
    close(child->pidfd);
    children[index] = children[--child_count];
}

static int serve(void) {
    static struct pollfd fds[1 + 2 * MAX_CHILDREN];
    signal(SIGPIPE, SIG_IGN);
    for (;;) {
        int n = 0;
        fds[n++] = (struct pollfd){.fd = sock, .events = POLLIN};
        for (int k = 0; k < child_count; k++) {
            /* no POLLIN: woken once, when its exec closes the pipe (POLLHUP), not also
             * by the report it writes just before, while it is on its way to the exec */
            fds[n++] = (struct pollfd){.fd = children[k].status_fd, .events = 0};
            fds[n++] = (struct pollfd){.fd = children[k].pidfd, .events = POLLIN};
        }
        if (poll(fds, (nfds_t)n, -1) < 0) {
            if (errno == EINTR) continue;
            perror("launcher: poll");
            return 1;
        }
        /* children first, from the last (reap() moves the last into the hole it leaves) */
        for (int k = child_count - 1; k >= 0; k--) {
            if (children[k].status_fd >= 0 && fds[1 + 2 * k].revents)
                read_status(&children[k]);
            if (fds[2 + 2 * k].revents) reap(k);
        }
        if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) serve_request();
    }
}

/* --- start-up --------------------------------------------------------------------- */

/* The filter file, read once: every child installs the same program. */
static void load_filter(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail(path);
    ssize_t got = read(fd, filter, sizeof filter);
    char extra;
    ssize_t more = got < 0 ? -1 : read(fd, &extra, 1);
    if (more < 0) fail(path);
    close(fd);
    if (more > 0) { errno = E2BIG; fail(path); }  /* beyond BPF_MAXINSNS */
    if (got == 0 || got % sizeof filter[0] != 0) { errno = EINVAL; fail(path); }
    filter_length = (unsigned short)(got / sizeof filter[0]);
}

/* A CPU list as the kernel writes one (0-2,5): the children start with that affinity. */
static void parse_cpus(const char *list) {
    CPU_ZERO(&cpus);
    const char *at = list;
    while (*at) {
        char *end;
        long low = strtol(at, &end, 10), high = low;
        if (end == at || low < 0) { errno = EINVAL; fail("--cpus"); }
        if (*end == '-') {
            at = end + 1;
            high = strtol(at, &end, 10);
            if (end == at || high < low) { errno = EINVAL; fail("--cpus"); }
        }
        for (long cpu = low; cpu <= high && cpu < CPU_SETSIZE; cpu++) CPU_SET((int)cpu, &cpus);
        at = *end == ',' ? end + 1 : end;
        if (*end != ',' && *end != '\0') { errno = EINVAL; fail("--cpus"); }
    }
    pin = 1;
}

int main(int argc, char **argv) {
    launcher_pidfd = (int)syscall(SYS_pidfd_open, getpid(), 0);  /* -1 before Linux 5.3 */
    if (launcher_pidfd >= 0) fcntl(launcher_pidfd, F_SETFD, FD_CLOEXEC);
    struct spec spec;
    memset(&spec, 0, sizeof spec);
    spec.cgroup_fd = spec.stdin_fd = spec.stdout_fd = spec.status_fd = -1;
    if (argc < 3 || strcmp(argv[1], "--serve") != 0) return run_once(argc, argv, &spec);
    sock = atoi(argv[2]);
    for (int i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--seccomp") == 0 && i + 1 < argc) load_filter(argv[++i]);
        else if (strcmp(argv[i], "--cpus") == 0 && i + 1 < argc) parse_cpus(argv[++i]);
        else return usage();
    }
    if (fcntl(sock, F_SETFD, FD_CLOEXEC) != 0) fail("socket");
    return serve();
}
