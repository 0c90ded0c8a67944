/*
 * launcher: how the host-side drivers start an instance, with every step stamped on the
 * host's clock and as little of bench's own cost as a C program's.
 *
 * Started by Python's subprocess.Popen, an instance's `boot.spawn` held pipes, an
 * environment, a vfork of a large interpreter, the child's exec and the probe's start, with
 * nothing to say which cost what; a separate launcher process asked over a socket cost a
 * wake-up of its own (~0.2 ms of a ~1.5 ms boot on the 2-vCPU machines this was built on).
 * So this file is built twice from one source:
 *
 *   liblauncher.so (-DLAUNCHER_LIBRARY), loaded by bench (runtimes/host/launcher.py):
 *       launcher_start(struct launch *) starts one child from the calling thread, the way
 *       glibc's posix_spawn does (clone3 with CLONE_VM | CLONE_VFORK: the child shares
 *       bench's memory on a stack of its own, and the calling thread waits until the
 *       child's exec; nothing of bench's address space is copied, then torn down), and
 *       returns its pid, a pidfd, and CLOCK_MONOTONIC stamps of each step (the child writes
 *       them into the struct: it shares the memory). CLOCK_MONOTONIC is the harness's
 *       clock too. bench is the child's parent: it reaps it through the pidfd.
 *   launcher (static), one instance from the command line, waited for:
 *       launcher [--seccomp FILTER] [--cpus LIST] [--bind SOURCE TARGET ...]
 *                [--cgroup PATH ...] [--ns ROOTFS HOSTNAME] -- COMMAND [ARG ...]
 *       It forwards SIGTERM/SIGINT/SIGHUP/SIGQUIT and leaves the way the child did (its
 *       exit status, or the same signal), like `unshare --fork`: what `bench verify` times
 *       with hyperfine as the native runtime's reference.
 *
 * The request (struct launch's payload): fields of one tag byte and a NUL-terminated value:
 *   'a' argv element   'e' environment entry   'j' a v1 cgroup file   'p' a CPU list
 *   'n' namespaces: rootfs   'h' hostname   'b' bind source   'B' bind target
 * with the cgroup's v2 directory, the child's stdin and its stdout/stderr as descriptors.
 *
 * The instance's cgroup, one of two ways:
 *  - a file (cgroup v1: <hierarchy>/bench/<name>/tasks): the child writes "0" there before
 *    anything else of the instance, so it moves only itself (one thread) and skips the
 *    global threadgroup lock, whose RCU grace period costs ~10 ms per cgroup.procs write;
 *  - a directory (cgroup v2): the child is cloned straight into it with
 *    clone3(CLONE_INTO_CGROUP), no migration at all (Linux 5.7+; older kernels, and
 *    architectures other than x86-64, where the child starts through glibc's clone(), fall
 *    back to the child writing "0" to its cgroup.procs).
 *
 * With namespaces (a native instance) the child is PID 1 of a new pid namespace; it joins
 * its cgroup, then enters new mount, uts, ipc, net and cgroup namespaces (the cgroup
 * namespace rooted at its own cgroup), takes its own hostname and a new session keyring,
 * brings up lo (the only interface of an empty network namespace), pivots into ROOTFS
 * (read-only, with its own /proc where /proc/sys and the like are read-only and /proc/keys
 * and the like masked as runc masks them, a /tmp, each bind, the old root detached), drops
 * every capability, sets no_new_privs, installs the seccomp filter (a classic BPF program,
 * struct sock_filter[] in host order, made by runtimes/host/seccomp_bpf.py) when given, and
 * execs COMMAND with an empty environment. Without namespaces the child only joins its
 * cgroup and execs COMMAND with the request's environment (a plain process, the baseline).
 * Either way no descriptor of bench's but its stdio reaches COMMAND, and signals bench
 * handles or ignores are the default again.
 *
 * A failed step: "launcher: <step>: <error>" on the child's stderr, the step and errno in
 * the struct, and exit status 127.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/close_range.h>
#include <linux/filter.h>
#include <linux/keyctl.h>
#include <linux/seccomp.h>
#include <linux/securebits.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
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
#define SECUREBITS (SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP | \
                    SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED | \
                    SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED)

#define MAX_FILTER 4096   /* BPF_MAXINSNS */
#define MAX_BINDS 16
#define MAX_JOINS 8
#define CHILD_STACK (64 * 1024)

/* The stamps of a start, in the order they are taken (0: not taken). */
enum stamp {
    CALLED,     /* the launcher has the request (bench's own part ends here) */
    CHILD,      /* the child's first instruction */
    CGROUP,     /* the child is in its cgroup (v1: its write to tasks; v2: at birth) */
    NAMESPACE,  /* mount, uts, ipc, net, cgroup namespaces; hostname, keyring, lo up */
    MOUNTS,     /* the rootfs: /proc, read-only and masked paths, /tmp, binds, pivot_root */
    SECCOMP,    /* capabilities dropped, no_new_privs, the filter installed */
    EXEC,       /* execve done: the calling thread, waiting since the clone, runs again */
    STAMPS
};

/* One start, as bench's ctypes mirror (runtimes/host/launcher.py) spells it. */
struct launch {
    const char *payload;    /* the request's fields */
    uint64_t length;
    int32_t stdin_fd, stdout_fd, cgroup_fd;  /* -1: keep ours (stdio), no v2 cgroup */
    int32_t filter_length;  /* instructions; 0: no seccomp filter */
    const struct sock_filter *filter;
    int32_t pid, pidfd;     /* out: the child (-1: none) */
    int32_t error;          /* out: errno of the step that failed, or 0 */
    int32_t reserved;
    char step[64];          /* out: the step that failed, or "" */
    uint64_t stamps[STAMPS];
};

/* One instance to start, parsed from a request or the command line. */
struct spec {
    char **argv;
    char **envp;
    const char *joins[MAX_JOINS];
    int join_count;
    int cgroup_fd;          /* v2: clone into it; -1: none */
    int join_procs;         /* no CLONE_INTO_CGROUP: the child writes its cgroup.procs */
    const char *rootfs;     /* NULL: a plain process */
    const char *hostname;
    const char *binds[MAX_BINDS][2];
    int bind_count;
    int stdin_fd, stdout_fd;
    const struct sock_filter *filter;
    unsigned short filter_length;
    cpu_set_t cpus;
    int pin;
    struct launch *out;     /* where the child writes its stamps, or a failure */
};

static uint64_t now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* --- the child: everything between clone and exec ----------------------------------- */
/* It shares the caller's memory: it writes nothing but its own stack, its spec's `out`, and
 * what the kernel writes (errno); no allocation, no lock, no global. */

/* A failed step: said on the instance's stderr (the tail bench shows), written where the
 * caller reads it, and the child exits 127. (writev, not stdio: stdio may allocate, and an
 * allocation here could meet a lock another thread of the caller holds.) */
static void fail(struct spec *s, const char *step) {
    int error = errno;
    const char *reason = strerrordesc_np(error);
    struct iovec line[] = {{"launcher: ", 10}, {(void *)step, strlen(step)}, {": ", 2},
                           {(void *)(reason ? reason : "unknown error"),
                            strlen(reason ? reason : "unknown error")}, {"\n", 1}};
    if (writev(STDERR_FILENO, line, COUNT(line)) < 0) { /* no stream to say it on */ }
    s->out->error = error;
    strncpy(s->out->step, step, sizeof s->out->step - 1);
    _exit(127);
}

static void write_zero(struct spec *s, int dir_fd, const char *file) {
    int fd = openat(dir_fd, file, O_WRONLY | O_CLOEXEC);
    if (fd < 0) fail(s, file);
    if (write(fd, "0", 1) != 1) fail(s, file);
    close(fd);
}

/* Like runc's readonlyPaths: without a user namespace the instance's uid 0 is the host's
 * uid 0, and file modes alone would let it write host-wide sysctls or the sysrq trigger. */
static const char *const readonly_proc[] = {
    "proc/sys", "proc/sysrq-trigger", "proc/irq", "proc/bus", "proc/fs",
};
#define READONLY_REMOUNT (MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)

static void make_readonly(struct spec *s, const char *path) {
    if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) != 0) {
        if (errno == ENOENT) return;  /* not in this kernel's /proc */
        fail(s, path);
    }
    if (mount(NULL, path, NULL, READONLY_REMOUNT, NULL) != 0) fail(s, path);
}

/* Like runc's maskedPaths: host-wide state that /proc shows its readers (every key they may
 * view, kernel timers, memory, hardware) becomes /dev/null, or an empty read-only tmpfs for
 * a directory. Paths this kernel lacks are skipped. */
static const char *const masked_proc[] = {
    "proc/asound", "proc/acpi", "proc/kcore", "proc/keys", "proc/latency_stats",
    "proc/timer_list", "proc/timer_stats", "proc/sched_debug", "proc/scsi",
};

static void mask(struct spec *s, const char *path) {
    if (mount("/dev/null", path, NULL, MS_BIND, NULL) == 0 || errno == ENOENT) return;
    if (errno != ENOTDIR) fail(s, path);
    if (mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0)
        fail(s, path);
}

/* Bind the rootfs onto itself (pivot_root wants a mount point), give it /proc and /tmp,
 * pivot, detach the old root so no host mount stays visible, then make / read-only. */
static void enter_rootfs(struct spec *s) {
    const char *rootfs = s->rootfs;
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) fail(s, "make mounts private");
    if (mount(rootfs, rootfs, NULL, MS_BIND, NULL) != 0) fail(s, "bind rootfs");
    if (chdir(rootfs) != 0) fail(s, "chdir rootfs");
    if (mount("proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0)
        fail(s, "mount /proc");
    for (size_t i = 0; i < COUNT(readonly_proc); i++) make_readonly(s, readonly_proc[i]);
    for (size_t i = 0; i < COUNT(masked_proc); i++) mask(s, masked_proc[i]);
    if (mount("tmpfs", "tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=16m,mode=1777") != 0)
        fail(s, "mount /tmp");
    for (int i = 0; i < s->bind_count; i++) {
        const char *target = s->binds[i][1];
        if (mount(s->binds[i][0], target, NULL, MS_BIND | MS_REC, NULL) != 0) fail(s, target);
        if (mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | MS_NOSUID, NULL) != 0)
            fail(s, target);
    }
    if (syscall(SYS_pivot_root, ".", ".oldroot") != 0) fail(s, "pivot_root");
    if (chdir("/") != 0) fail(s, "chdir /");
    if (umount2("/.oldroot", MNT_DETACH) != 0) fail(s, "detach old root");
    if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) != 0)
        fail(s, "remount / read-only");
}

static void loopback_up(struct spec *s) {
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock < 0) fail(s, "socket");
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
    if (ioctl(sock, SIOCGIFFLAGS, &ifr) != 0) fail(s, "get lo flags");
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(sock, SIOCSIFFLAGS, &ifr) != 0) fail(s, "bring lo up");
    close(sock);
}

/* Empty the bounding and ambient sets, lock root out of regaining capabilities through
 * execve or setuid, forbid new privileges, then give up every capability this process has. */
static void drop_privileges(struct spec *s) {
    for (int cap = 0; cap < 64; cap++)
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) fail(s, "drop bounding set");
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0) fail(s, "clear ambient set");
    if (prctl(PR_SET_SECUREBITS, SECUREBITS, 0, 0, 0) != 0) fail(s, "lock securebits");
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail(s, "set no_new_privs");
    struct __user_cap_header_struct header = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    if (syscall(SYS_capset, &header, data) != 0) fail(s, "capset");
}

/* A session keyring of its own: without it the instance shares the host session's keyring
 * and, through it, possesses root's user keyring (keys it could search, read and revoke).
 * This is not a wall: the instance's uid 0 is the host's and owns root's user keyring, so
 * without the seccomp filter (which refuses keyctl) it may link that keyring back in; only
 * a user namespace would separate them. ENOSYS (no keys in this kernel) or EPERM (keyctl
 * filtered out around us) leave nothing to reach. */
static void own_session_keyring(struct spec *s) {
    if (syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, NULL) < 0 && errno != ENOSYS &&
        errno != EPERM)
        fail(s, "join a new session keyring");
}

/* Last step before exec, after no_new_privs (which lets an unprivileged task install it). */
static void install_filter(struct spec *s) {
    if (s->filter_length == 0) return;
    struct sock_fprog program = {.len = s->filter_length, .filter = (struct sock_filter *)s->filter};
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &program) != 0)
        fail(s, "install seccomp filter");
}

static void isolate(struct spec *s) {
    /* after the cgroup join, so the cgroup namespace is rooted at the instance's cgroup */
    if (unshare(NAMESPACES) != 0) fail(s, "unshare namespaces");
    if (sethostname(s->hostname, strlen(s->hostname)) != 0) fail(s, "sethostname");
    own_session_keyring(s);
    loopback_up(s);
    s->out->stamps[NAMESPACE] = now();
    enter_rootfs(s);
    s->out->stamps[MOUNTS] = now();
    drop_privileges(s);
    install_filter(s);
    s->out->stamps[SECCOMP] = now();
}

/* What COMMAND starts with: the default action for every signal the caller handles (its
 * handlers live in memory the exec replaces) or ignores as Python does SIGPIPE, then no
 * signal blocked. Until here every signal stayed blocked: none could run a handler of the
 * caller's in the memory we share. */
static void default_signals(void) {
    for (int sig = 1; sig < NSIG; sig++) {
        struct sigaction action;
        if (sigaction(sig, NULL, &action) != 0 || action.sa_handler == SIG_DFL) continue;
        if (action.sa_handler == SIG_IGN && sig != SIGPIPE && sig != SIGXFSZ) continue;
        memset(&action, 0, sizeof action);
        action.sa_handler = SIG_DFL;
        sigaction(sig, &action, NULL);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

static void run_child(struct spec *s) {
    s->out->stamps[CHILD] = now();
    if (s->stdout_fd >= 0 &&
        (dup2(s->stdout_fd, STDOUT_FILENO) < 0 || dup2(s->stdout_fd, STDERR_FILENO) < 0))
        fail(s, "stdout");
    if (s->stdin_fd >= 0 && dup2(s->stdin_fd, STDIN_FILENO) < 0) fail(s, "stdin");
    /* nothing of the caller's reaches COMMAND but its stdio (as Popen's close_fds) */
    if (syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC) != 0 && errno != ENOSYS)
        fail(s, "close_range");
    for (int i = 0; i < s->join_count; i++) write_zero(s, AT_FDCWD, s->joins[i]);
    if (s->join_procs) write_zero(s, s->cgroup_fd, "cgroup.procs");
    s->out->stamps[CGROUP] = now();
    if (s->pin && sched_setaffinity(0, sizeof s->cpus, &s->cpus) != 0) fail(s, "sched_setaffinity");
    if (s->rootfs != NULL) isolate(s);
    default_signals();
    execve(s->argv[0], s->argv, s->envp);
    fail(s, s->argv[0]);
}

static int child_entry(void *spec) {
    run_child(spec);
    return 127;
}

/* struct clone_args of <linux/sched.h>, spelled out: glibc has no clone3 wrapper. */
struct clone3_args {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
    uint64_t set_tid, set_tid_size, cgroup;
};

#if defined(__x86_64__) && !defined(LAUNCHER_PORTABLE)
/* clone3 with the child on a stack of its own, entering child_entry(spec): it shares our
 * memory, so it cannot return into our frames (glibc's clone() does this for clone(2)). */
static long clone3_on_stack(struct clone3_args *args, struct spec *spec) {
    register int (*entry)(void *) __asm__("r12") = child_entry;
    register void *data __asm__("r13") = spec;
    long ret;
    __asm__ volatile("syscall\n\t"
                     "test %%rax, %%rax\n\t"
                     "jnz 1f\n\t"
                     "xor %%ebp, %%ebp\n\t"
                     "mov %%r13, %%rdi\n\t"
                     "call *%%r12\n\t"
                     "mov %%eax, %%edi\n\t"
                     "mov $60, %%eax\n\t"  /* exit(child_entry's status): it never returns */
                     "syscall\n\t"
                     "1:\n\t"
                     : "=a"(ret)
                     : "0"((long)SYS_clone3), "D"(args), "S"(sizeof *args), "r"(entry), "r"(data)
                     : "rcx", "r11", "memory");
    if (ret < 0) {
        errno = (int)-ret;
        return -1;
    }
    return ret;
}

static pid_t clone_child(struct spec *s, void *stack, int *pidfd) {
    struct clone3_args args;
    memset(&args, 0, sizeof args);
    args.flags = CLONE_VM | CLONE_VFORK | CLONE_PIDFD | (s->rootfs != NULL ? CLONE_NEWPID : 0);
    args.pidfd = (uint64_t)(uintptr_t)pidfd;
    args.exit_signal = SIGCHLD;
    args.stack = (uint64_t)(uintptr_t)stack;
    args.stack_size = CHILD_STACK;
    if (s->cgroup_fd >= 0) {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = (uint64_t)s->cgroup_fd;
    }
    long pid = clone3_on_stack(&args, s);
    if (pid < 0 && (errno == ENOSYS || errno == E2BIG || errno == EINVAL) && s->cgroup_fd >= 0) {
        /* before Linux 5.7: no CLONE_INTO_CGROUP; the child joins through cgroup.procs */
        args.flags &= ~CLONE_INTO_CGROUP;
        s->join_procs = 1;
        pid = clone3_on_stack(&args, s);
    }
    return (pid_t)pid;
}
#else
/* Elsewhere glibc's clone(): the same child, but no CLONE_INTO_CGROUP (clone3 only), so it
 * joins a v2 cgroup by writing its cgroup.procs. */
static pid_t clone_child(struct spec *s, void *stack, int *pidfd) {
    s->join_procs = s->cgroup_fd >= 0;
    int flags = CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD |
                (s->rootfs != NULL ? CLONE_NEWPID : 0);
    return clone(child_entry, (char *)stack + CHILD_STACK, flags, s, pidfd);
}
#endif

/* Clone the child and wait (vfork) until its exec, or its exit after a failed step; every
 * signal blocked meanwhile (the child unblocks them once it cannot run our handlers).
 * Returns its pid (-1: none), its pidfd in out->pidfd, and out->stamps[EXEC]. */
static pthread_key_t stack_key;
static pthread_once_t stack_key_once = PTHREAD_ONCE_INIT;

static void unmap_stack(void *stack) { munmap(stack, CHILD_STACK); }

static void make_stack_key(void) { pthread_key_create(&stack_key, unmap_stack); }

static pid_t start_child(struct spec *s) {
    /* one stack per calling thread, kept: no mapping to make, fault in and unmap per start;
     * unmapped when the thread ends (a storm's threads live for one storm each) */
    static __thread void *stack;
    if (stack == NULL) {
        pthread_once(&stack_key_once, make_stack_key);
        void *made = mmap(NULL, CHILD_STACK, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
        if (made == MAP_FAILED) return -1;
        stack = made;
        pthread_setspecific(stack_key, made);
    }
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int pidfd = -1;
    pid_t pid = clone_child(s, stack, &pidfd);
    int error = errno;
    s->out->stamps[EXEC] = now();
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    s->out->pid = pid;
    s->out->pidfd = pid < 0 ? -1 : pidfd;
    errno = error;
    return pid;
}

/* --- the request, as bench sends it ------------------------------------------------- */

static int parse_cpus(const char *list, cpu_set_t *cpus) {
    CPU_ZERO(cpus);
    const char *at = list;
    while (*at) {
        char *end;
        long low = strtol(at, &end, 10), high = low;
        if (end == at || low < 0) return -1;
        if (*end == '-') {
            at = end + 1;
            high = strtol(at, &end, 10);
            if (end == at || high < low) return -1;
        }
        for (long cpu = low; cpu <= high && cpu < CPU_SETSIZE; cpu++) CPU_SET((int)cpu, cpus);
        if (*end != ',' && *end != '\0') return -1;
        at = *end == ',' ? end + 1 : end;
    }
    return 0;
}

/* Count the payload's fields of one tag (for the argv and envp arrays). */
static size_t count_fields(const char *buf, size_t length, char tag) {
    size_t found = 0;
    for (size_t at = 0; at < length; at += strnlen(buf + at, length - at) + 1)
        found += buf[at] == tag;
    return found;
}

/* The payload into s (its strings point into buf, whose fields end in NUL; args and env have
 * room for every 'a' and 'e' field and their NULL): NULL, or why it is refused. */
static const char *parse_request(const char *buf, size_t length, struct spec *s, char **args,
                                 char **env) {
    size_t argc = 0, envc = 0;
    int bind_sources = 0;
    if (length == 0) return "no command";
    if (buf[length - 1] != '\0') return "a request that does not end its last field";
    for (size_t at = 0; at < length; at += strlen(buf + at) + 1) {
        char tag = buf[at];
        const char *value = buf + at + 1;
        if (tag == '\0') return "a field without its tag";
        switch (tag) {
        case 'a': args[argc++] = (char *)value; break;
        case 'e': env[envc++] = (char *)value; break;
        case 'j': if (s->join_count == MAX_JOINS) return "too many cgroups";
                  s->joins[s->join_count++] = value; break;
        case 'p': if (parse_cpus(value, &s->cpus) != 0) return "a CPU list it cannot read";
                  s->pin = 1; break;
        case 'n': s->rootfs = value; break;
        case 'h': s->hostname = value; break;
        case 'b': if (bind_sources == MAX_BINDS) return "too many binds";
                  s->binds[bind_sources++][0] = value; break;
        case 'B': if (s->bind_count >= bind_sources) return "a bind target without its source";
                  s->binds[s->bind_count++][1] = value; break;
        default: return "an unknown field";
        }
    }
    if (argc == 0) return "no command";
    if (s->bind_count != bind_sources) return "a bind source without its target";
    if (s->rootfs != NULL && s->hostname == NULL) return "namespaces without a hostname";
    args[argc] = NULL;
    env[envc] = NULL;
    s->argv = args;
    s->envp = env;
    return NULL;
}

static int refuse(struct launch *out, const char *step, int error) {
    out->error = error;
    snprintf(out->step, sizeof out->step, "%s", step);
    return -1;
}

/* bench's entry point: 0 once the child exec'd, 1 when a step of it failed (it exits 127;
 * out->step and out->error say which and why; reap it all the same), -1 when nothing was
 * started (out->step says why). */
int launcher_start(struct launch *out) {
    out->stamps[CALLED] = now();
    out->pid = out->pidfd = -1;
    out->error = 0;
    out->step[0] = '\0';
    if (out->payload == NULL || out->length > (1u << 30)) return refuse(out, "no request", EINVAL);
    if (out->filter_length < 0 || out->filter_length > MAX_FILTER)
        return refuse(out, "a filter longer than BPF_MAXINSNS", E2BIG);
    size_t words = count_fields(out->payload, out->length, 'a') + 1;
    size_t vars = count_fields(out->payload, out->length, 'e') + 1;
    char **args = calloc(words + vars, sizeof *args);
    if (args == NULL) return refuse(out, "calloc", ENOMEM);
    struct spec s;
    memset(&s, 0, sizeof s);
    s.cgroup_fd = out->cgroup_fd;
    s.stdin_fd = out->stdin_fd;
    s.stdout_fd = out->stdout_fd;
    s.filter = out->filter;
    s.filter_length = (unsigned short)out->filter_length;
    s.out = out;
    const char *refused = parse_request(out->payload, out->length, &s, args, args + words);
    int started = -1;
    if (refused != NULL) {
        refuse(out, refused, EINVAL);
    } else if (start_child(&s) < 0) {
        refuse(out, "clone3", errno);
    } else {
        started = out->step[0] != '\0';  /* the child wrote which step failed */
    }
    free(args);
    return started;
}

/* --- the instances' output, stamped --------------------------------------------------- */

/* One chunk of an instance's output, as bench's pump mirrors it. */
struct chunk {
    int32_t fd;             /* the pipe it came from */
    int32_t error;          /* errno of a failed read, or 0 */
    int64_t length;         /* bytes read: 0 at the pipe's end */
    uint64_t stamp;         /* CLOCK_MONOTONIC the moment the read returned */
};

/* Wait on bench's epoll set for the next readable pipe, read it, and stamp the read right
 * away: the stamp does not wait for the caller to get Python's lock back (bench's pump calls
 * this with the lock let go), so a line is stamped when it arrives, as untilready stamps it. */
int launcher_read(int epoll_fd, char *buf, uint64_t size, struct chunk *out) {
    struct epoll_event event;
    int ready;
    while ((ready = epoll_wait(epoll_fd, &event, 1, -1)) < 0)
        if (errno != EINTR) break;
    out->fd = ready == 1 ? event.data.fd : -1;
    out->error = ready == 1 ? 0 : errno;
    out->length = 0;
    if (ready != 1) return -1;
    ssize_t got;
    while ((got = read(out->fd, buf, size)) < 0 && errno == EINTR) {}
    out->stamp = now();
    out->length = got < 0 ? 0 : got;
    out->error = got < 0 ? errno : 0;
    return 0;
}

#ifndef LAUNCHER_LIBRARY
/* --- one instance from the command line ------------------------------------------- */

static volatile sig_atomic_t child_pid;
static volatile sig_atomic_t pending_signal;
static const int forwarded[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT};
static struct sock_filter filter[MAX_FILTER];

static void forward(int sig) {
    pending_signal = sig;
    if (child_pid > 0) kill(child_pid, sig);
}

static void die(const char *what) {
    dprintf(STDERR_FILENO, "launcher: %s: %s\n", what, strerror(errno));
    exit(127);
}

static int wait_child(pid_t pid) {
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) die("waitpid");
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

/* The filter file, whole: at most BPF_MAXINSNS instructions. */
static unsigned short load_filter(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) die(path);
    ssize_t got = read(fd, filter, sizeof filter);
    char extra;
    ssize_t more = got < 0 ? -1 : read(fd, &extra, 1);
    if (more < 0) die(path);
    close(fd);
    if (more > 0) { errno = E2BIG; die(path); }
    if (got == 0 || got % sizeof filter[0] != 0) { errno = EINVAL; die(path); }
    return (unsigned short)(got / sizeof filter[0]);
}

/* A v1 file or a v2 directory, as the file's comment says. */
static void add_cgroup(struct spec *s, const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) die(path);
    if (!S_ISDIR(st.st_mode)) {
        if (s->join_count == MAX_JOINS) { errno = E2BIG; die("--cgroup"); }
        s->joins[s->join_count++] = path;
        return;
    }
    if (s->cgroup_fd >= 0) { errno = EINVAL; die("more than one cgroup directory"); }
    s->cgroup_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->cgroup_fd < 0) die(path);
}

static int usage(void) {
    dprintf(STDERR_FILENO, "usage: launcher [--seccomp FILTER] [--cpus LIST] [--bind SOURCE "
                           "TARGET ...] [--cgroup PATH ...] [--ns ROOTFS HOSTNAME] -- COMMAND "
                           "[ARG ...]\n");
    return 2;
}

int main(int argc, char **argv) {
    static struct launch out;
    struct spec s;
    memset(&s, 0, sizeof s);
    s.cgroup_fd = s.stdin_fd = s.stdout_fd = -1;
    s.out = &out;
    int i = 1;
    for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (strcmp(argv[i], "--seccomp") == 0 && i + 1 < argc) {
            s.filter_length = load_filter(argv[++i]);
            s.filter = filter;
        } else if (strcmp(argv[i], "--cpus") == 0 && i + 1 < argc) {
            if (parse_cpus(argv[++i], &s.cpus) != 0) { errno = EINVAL; die("--cpus"); }
            s.pin = 1;
        } else if (strcmp(argv[i], "--bind") == 0 && i + 2 < argc) {
            if (s.bind_count == MAX_BINDS) { errno = E2BIG; die("--bind"); }
            s.binds[s.bind_count][0] = argv[++i];
            s.binds[s.bind_count++][1] = argv[++i];
        } else if (strcmp(argv[i], "--cgroup") == 0 && i + 1 < argc) {
            add_cgroup(&s, argv[++i]);
        } else if (strcmp(argv[i], "--ns") == 0 && i + 2 < argc) {
            s.rootfs = argv[++i];
            s.hostname = argv[++i];
        } else {
            return usage();
        }
    }
    if (i + 1 >= argc) return usage();
    s.argv = argv + i + 1;
    static char *empty_environment[] = {NULL};
    extern char **environ;
    s.envp = s.rootfs != NULL ? empty_environment : environ;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = forward;
    for (size_t k = 0; k < COUNT(forwarded); k++) sigaction(forwarded[k], &sa, NULL);
    pid_t pid = start_child(&s);
    if (pid < 0) die("clone3");
    child_pid = pid;
    if (out.pidfd >= 0) close(out.pidfd);
    if (pending_signal) kill(pid, pending_signal);
    return wait_child(pid);
}
#endif
