/*
 * nsrun: the native runtime's launcher, kept small and static so an instance starts
 * in about the time `unshare --fork` takes.
 *
 * Usage: nsrun [--seccomp FILTER] [--bind SOURCE TARGET ...] ROOTFS HOSTNAME [CGROUP ...]
 *              -- COMMAND [ARG ...]
 *
 * Each --bind mounts a host file or directory SOURCE at TARGET (relative to ROOTFS, which
 * must hold it), writable and nosuid: a command workload's scratch storage, and the few
 * device nodes a program expects (/dev/null, /dev/urandom...).
 *
 * Each CGROUP is where the instance is charged and limited, given one of two ways:
 *  - a file (cgroup v1: <hierarchy>/bench/<name>/tasks): the launcher moves itself
 *    there by writing "0" before it forks, so the child inherits it. Moving only the
 *    calling thread skips the global threadgroup lock, whose RCU grace period costs
 *    ~10 ms per cgroup.procs write and would dominate the start;
 *  - a directory (cgroup v2: <root>/bench/<name>): the child is cloned straight into
 *    it with clone3(CLONE_INTO_CGROUP), no migration at all (Linux 5.7+; older kernels
 *    fall back to writing cgroup.procs, then unshare and fork).
 * The child starts in new pid, mount, uts, ipc and net namespaces, as PID 1 of its pid
 * namespace; it enters a cgroup namespace rooted at its cgroup, joins a new session
 * keyring of its own, pivots into ROOTFS (read-only, with its own /proc, where /proc/sys
 * and the like are read-only and /proc/keys and the like masked as runc masks them, a
 * /tmp, the old root detached), brings up lo (the only interface of an empty network
 * namespace), drops every capability, sets no_new_privs, installs FILTER (a classic BPF
 * program, struct sock_filter[] in host order, made by runtimes/host/seccomp_bpf.py) as
 * its seccomp filter when given, and execs COMMAND with an empty environment. The
 * parent forwards SIGTERM/SIGINT/SIGHUP/SIGQUIT, waits, and leaves the way the child did (exit status, or the same signal), like `unshare --fork`.
 * A failed step prints "nsrun: <step>: <error>" and exits 127.
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
#include <sched.h>
#include <stdint.h>
#include <signal.h>
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
#include <unistd.h>

#define NAMESPACES (CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET)
#define COUNT(array) (sizeof(array) / sizeof((array)[0]))
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif
#define SECUREBITS (SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP | \
                    SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED | \
                    SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED)

#define MAX_FILTER 4096  /* BPF_MAXINSNS */
#define MAX_BINDS 16

static volatile sig_atomic_t child_pid;
static const char *binds[MAX_BINDS][2];
static int bind_count;
static volatile sig_atomic_t pending_signal;
static const int forwarded[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT};
static struct sock_filter filter[MAX_FILTER];
static unsigned short filter_length;  /* 0: no filter (seccomp: unconfined) */

static void fail(const char *step) {
    dprintf(STDERR_FILENO, "nsrun: %s: %s\n", step, strerror(errno));
    _exit(127);
}

static void forward(int sig) {
    pending_signal = sig;
    if (child_pid > 0) kill(child_pid, sig);
}

/* struct clone_args of <linux/sched.h>, spelled out: glibc has no clone3 wrapper. */
struct clone3_args {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
    uint64_t set_tid, set_tid_size, cgroup;
};

/* Move the calling thread (the whole launcher: it has one) into a cgroup. */
static void join_cgroup(int dir_fd, const char *file) {
    int fd = openat(dir_fd, file, O_WRONLY | O_CLOEXEC);
    if (fd < 0) fail(file);
    if (write(fd, "0", 1) != 1) fail(file);
    close(fd);
}

/* A file joins now (v1); a directory is returned as an fd to clone into (v2). */
static int open_cgroup(const char *path, int cgroup_fd) {
    struct stat st;
    if (stat(path, &st) != 0) fail(path);
    if (!S_ISDIR(st.st_mode)) {
        join_cgroup(AT_FDCWD, path);
        return cgroup_fd;
    }
    if (cgroup_fd >= 0) { errno = EINVAL; fail("more than one cgroup directory"); }
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) fail(path);
    return fd;
}

/* fork() into new namespaces (and the v2 cgroup, if any); the child gets 0. */
static pid_t clone_child(int cgroup_fd) {
    struct clone3_args args;
    memset(&args, 0, sizeof args);
    args.flags = NAMESPACES;
    args.exit_signal = SIGCHLD;
    if (cgroup_fd >= 0) {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = (uint64_t)cgroup_fd;
    }
    long pid = syscall(SYS_clone3, &args, sizeof args);
    if (pid >= 0) return (pid_t)pid;
    if (errno != ENOSYS && errno != E2BIG && errno != EINVAL) fail("clone3");
    if (cgroup_fd >= 0) join_cgroup(cgroup_fd, "cgroup.procs");  /* before Linux 5.7 */
    if (unshare(NAMESPACES) != 0) fail("unshare");
    return fork();
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
static void enter_rootfs(const char *rootfs) {
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) fail("make mounts private");
    if (mount(rootfs, rootfs, NULL, MS_BIND, NULL) != 0) fail("bind rootfs");
    if (chdir(rootfs) != 0) fail("chdir rootfs");
    if (mount("proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0)
        fail("mount /proc");
    for (size_t i = 0; i < COUNT(readonly_proc); i++) make_readonly(readonly_proc[i]);
    for (size_t i = 0; i < COUNT(masked_proc); i++) mask(masked_proc[i]);
    if (mount("tmpfs", "tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=16m,mode=1777") != 0)
        fail("mount /tmp");
    for (int i = 0; i < bind_count; i++) {
        if (mount(binds[i][0], binds[i][1], NULL, MS_BIND | MS_REC, NULL) != 0) fail(binds[i][1]);
        if (mount(NULL, binds[i][1], NULL, MS_REMOUNT | MS_BIND | MS_NOSUID, NULL) != 0) fail(binds[i][1]);
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

/* The filter file, read by the child before pivot_root (then it needs nothing from the
 * host), so the launcher that waits beside the instance keeps none of it in memory. */
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

static void run_child(const char *filter_path, const char *rootfs, const char *hostname,
                      char **command) {
    for (size_t i = 0; i < COUNT(forwarded); i++) signal(forwarded[i], SIG_DFL);
    if (filter_path != NULL) load_filter(filter_path);
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) fail("set parent-death signal");
    /* after the cgroup join, so the namespace is rooted at the instance's own cgroup */
    if (unshare(CLONE_NEWCGROUP) != 0) fail("unshare cgroup namespace");
    if (sethostname(hostname, strlen(hostname)) != 0) fail("sethostname");
    own_session_keyring();
    enter_rootfs(rootfs);
    loopback_up();
    drop_privileges();
    install_filter();
    char *empty_environment[] = {NULL};
    execve(command[0], command, empty_environment);
    fail(command[0]);
}

static int wait_child(pid_t pid) {
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) fail("waitpid");
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

/* Leading options (--seccomp FILTER, --bind SOURCE TARGET); returns how many arguments
 * they took. */
static int parse_options(int argc, char **argv, const char **filter_path) {
    int used = 0;
    for (;;) {
        if (used + 2 < argc && strcmp(argv[used + 1], "--seccomp") == 0) {
            *filter_path = argv[used + 2];
            used += 2;
        } else if (used + 3 < argc && strcmp(argv[used + 1], "--bind") == 0) {
            if (bind_count == MAX_BINDS) { errno = E2BIG; fail("--bind"); }
            binds[bind_count][0] = argv[used + 2];
            binds[bind_count][1] = argv[used + 3];
            bind_count++;
            used += 3;
        } else {
            return used;
        }
    }
}

int main(int argc, char **argv) {
    const char *filter_path = NULL;
    int used = parse_options(argc, argv, &filter_path);
    argv[used] = argv[0];
    argv += used;
    argc -= used;
    int separator = 0;
    for (int i = 3; i < argc; i++)
        if (strcmp(argv[i], "--") == 0) { separator = i; break; }
    if (argc < 5 || separator == 0 || separator == argc - 1) {
        dprintf(STDERR_FILENO, "usage: nsrun [--seccomp FILTER] [--bind SOURCE TARGET ...] ROOTFS "
                               "HOSTNAME [CGROUP ...] -- COMMAND [ARG ...]\n");
        return 2;
    }
    int cgroup_fd = -1;
    for (int i = 3; i < separator; i++) cgroup_fd = open_cgroup(argv[i], cgroup_fd);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = forward;
    for (size_t i = 0; i < COUNT(forwarded); i++) sigaction(forwarded[i], &sa, NULL);

    pid_t pid = clone_child(cgroup_fd);
    if (pid < 0) fail("fork");
    if (pid == 0) run_child(filter_path, argv[1], argv[2], argv + separator + 1);
    child_pid = pid;
    if (cgroup_fd >= 0) close(cgroup_fd);
    if (pending_signal) kill(pid, pending_signal);
    return wait_child(pid);
}
