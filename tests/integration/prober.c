/*
 * prober: a test-only helper that tries, from inside an instance, what its isolation must
 * refuse (and what it must still allow), and prints one line per attempt.
 *
 * Usage: prober SECTION ...   where a SECTION is
 *   syscalls         one line "SYSCALL <name> <outcome>" per system call in the table below
 *   procfs           "PROCFS <path> <outcome>": reading /proc files that leak host state
 *   key=<id>:<desc>  "KEYRING <step> <outcome>": what it sees of a host key (id, user type,
 *                    description) without changing it, and what it can do in its own keyring
 *                    (including linking root's user keyring into it, then reading the key)
 *   keywrite=<id>    "KEYRING <step> <outcome>": attempts to change that key or root's user
 *                    keyring (run only where they must be refused: the test removes the key)
 * An outcome is "ok" (with a value where one matters) or the errno's name; "signal-N" if
 * the attempt killed its process. Prints "BENCH-READY prober" first and "PROBER-END" last.
 *
 * Each system call runs in a child of its own, so one that succeeds (a new user namespace,
 * a personality) changes nothing for the next. Calls go through syscall(2), not libc's
 * wrappers, so what reaches the kernel is exactly the number and arguments written here;
 * arguments are chosen so that a call the filter lets through fails (if at all) with an
 * errno other than the filter's EPERM where the kernel allows it (a bad pointer: EFAULT).
 * The i386 ABI is reached with int $0x80, the x32 ABI with bit 30 of the number.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/keyctl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define BAD_POINTER ((void *)1)
#define X32_BIT 0x40000000L
#define I386_GETPID 20
#define I386_KEYCTL 288
#define I386_UNSHARE 310
#define UFFD_USER_MODE_ONLY 1
#define ADDR_NO_RANDOMIZE 0x0040000
#define READ_IMPLIES_EXEC 0x0400000
#define KCMP_FILE 0
#define UNKNOWN_SYSCALL 1000L
#define UNUSED_SYSCALL 400L /* a hole in x86_64's table, below the newest call */
#define FCHMODAT2 452L      /* newer than any call Docker 20.10's profile names */

static long i386_call(long number, long a, long b, long c) {
#if defined(__x86_64__)
    long result;
    __asm__ volatile("int $0x80" : "=a"(result) : "a"(number), "b"(a), "c"(b), "d"(c) : "memory");
    if (result < 0 && result > -4096) { errno = (int)-result; return -1; }
    return result;
#else
    (void)number; (void)a; (void)b; (void)c;
    errno = ENOSYS;
    return -1;
#endif
}

static long fork_child(long flags) {
    long pid = syscall(SYS_clone, flags, 0L, 0L, 0L, 0L);
    if (pid == 0) _exit(0);
    if (pid > 0) waitpid((pid_t)pid, NULL, __WALL);
    return pid;
}

static long try_fork(void) { return fork_child(SIGCHLD); }
static long try_clone_newuser(void) { return fork_child(SIGCHLD | CLONE_NEWUSER); }
static long try_clone3(void) {
    uint64_t args[11] = {0};
    args[4] = SIGCHLD;  /* exit_signal */
    long pid = syscall(SYS_clone3, args, sizeof args);
    if (pid == 0) _exit(0);
    if (pid > 0) waitpid((pid_t)pid, NULL, 0);
    return pid;
}
static long try_getpid(void) { return syscall(SYS_getpid); }
static long try_getppid(void) { return syscall(SYS_getppid); }
static long try_read(void) { char c; return syscall(SYS_read, -1, &c, 1); }
static long try_write(void) { return syscall(SYS_write, -1, "x", 1); }
static long try_openat(void) {
    long fd = syscall(SYS_openat, AT_FDCWD, "/", O_RDONLY | O_DIRECTORY);
    if (fd >= 0) close((int)fd);
    return fd;
}
static long try_close(void) { return syscall(SYS_close, -1); }
static long try_newfstatat(void) { struct stat st; return syscall(SYS_newfstatat, AT_FDCWD, "/", &st, 0); }
static long try_clock_gettime(void) { struct timespec ts; return syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts); }
static long try_mmap(void) {
    long address = syscall(SYS_mmap, NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return address == -1 ? -1 : 0;
}
static long try_uname(void) { char buffer[512]; return syscall(SYS_uname, buffer); }
static long try_socket(void) { return syscall(SYS_socket, AF_UNIX, SOCK_STREAM, 0); }
static long try_pipe2(void) { int fds[2]; return syscall(SYS_pipe2, fds, O_CLOEXEC); }
static long try_getrandom(void) { char buffer[8]; return syscall(SYS_getrandom, buffer, sizeof buffer, 1); }
static long try_prctl(void) { return syscall(SYS_prctl, PR_GET_DUMPABLE, 0, 0, 0, 0); }
static long try_execve(void) {
    char *argv[] = {"/nonexistent", NULL};
    return syscall(SYS_execve, "/nonexistent", argv, argv + 1);
}
static long try_ptrace_traceme(void) { return syscall(SYS_ptrace, PTRACE_TRACEME, 0, 0, 0); }
static long try_personality_query(void) { return syscall(SYS_personality, 0xffffffffL); }
static long try_personality_linux(void) { return syscall(SYS_personality, 0L); }
static long try_personality_no_aslr(void) { return syscall(SYS_personality, (long)ADDR_NO_RANDOMIZE); }
static long try_personality_exec(void) { return syscall(SYS_personality, (long)READ_IMPLIES_EXEC); }
static long try_arch_prctl(void) { unsigned long fs; return syscall(SYS_arch_prctl, 0x1003 /* ARCH_GET_FS */, &fs); }
static long try_io_uring_setup(void) { return syscall(SYS_io_uring_setup, 0, NULL); }
static long try_keyctl(void) { return syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0); }
static long try_add_key(void) {
    return syscall(SYS_add_key, "bench-no-such-type", "probe", "x", 1, KEY_SPEC_SESSION_KEYRING);
}
static long try_request_key(void) { return syscall(SYS_request_key, "bench-no-such-type", "probe", NULL, 0); }
static long try_unshare_user(void) { return syscall(SYS_unshare, CLONE_NEWUSER); }
static long try_unshare_mount(void) { return syscall(SYS_unshare, CLONE_NEWNS); }
static long try_setns(void) { return syscall(SYS_setns, -1, 0); }
static long try_mount(void) { return syscall(SYS_mount, BAD_POINTER, BAD_POINTER, BAD_POINTER, 0, NULL); }
static long try_umount2(void) { return syscall(SYS_umount2, BAD_POINTER, 0); }
static long try_pivot_root(void) { return syscall(SYS_pivot_root, BAD_POINTER, BAD_POINTER); }
static long try_chroot(void) { return syscall(SYS_chroot, BAD_POINTER); }
static long try_fsopen(void) { return syscall(SYS_fsopen, BAD_POINTER, 0); }
static long try_open_tree(void) { return syscall(SYS_open_tree, AT_FDCWD, BAD_POINTER, 0); }
static long try_perf_event_open(void) { return syscall(SYS_perf_event_open, BAD_POINTER, 0, -1, -1, 0); }
static long try_bpf(void) { return syscall(SYS_bpf, 0 /* BPF_MAP_CREATE */, BAD_POINTER, 64); }
static long try_kexec_load(void) { return syscall(SYS_kexec_load, 0, 0, NULL, 0); }
static long try_open_by_handle_at(void) { return syscall(SYS_open_by_handle_at, AT_FDCWD, BAD_POINTER, O_RDONLY); }
static long try_name_to_handle_at(void) {
    int mount_id;
    return syscall(SYS_name_to_handle_at, AT_FDCWD, BAD_POINTER, BAD_POINTER, &mount_id, 0);
}
static long try_userfaultfd(void) { return syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY); }
static long try_process_vm_readv(void) { return syscall(SYS_process_vm_readv, getpid(), NULL, 0, NULL, 0, 0); }
static long try_kcmp(void) { return syscall(SYS_kcmp, getpid(), getpid(), KCMP_FILE, 0, 0); }
static long try_syslog(void) { return syscall(SYS_syslog, 10 /* SYSLOG_ACTION_SIZE_BUFFER */, NULL, 0); }
static long try_acct(void) { return syscall(SYS_acct, NULL); }
static long try_reboot(void) { return syscall(SYS_reboot, 0, 0, 0, NULL); }
static long try_init_module(void) { return syscall(SYS_init_module, BAD_POINTER, 0, ""); }
static long try_finit_module(void) { return syscall(SYS_finit_module, -1, "", 0); }
static long try_delete_module(void) { return syscall(SYS_delete_module, BAD_POINTER, 0); }
static long try_iopl(void) { return syscall(SYS_iopl, 0); }
static long try_ioperm(void) { return syscall(SYS_ioperm, 0, 0, 0); }
static long try_settimeofday(void) { return syscall(SYS_settimeofday, NULL, NULL); }
static long try_clock_settime(void) { return syscall(SYS_clock_settime, CLOCK_REALTIME, BAD_POINTER); }
static long try_swapon(void) { return syscall(SYS_swapon, BAD_POINTER, 0); }
static long try_quotactl(void) { return syscall(SYS_quotactl, 0, BAD_POINTER, 0, NULL); }
static long try_get_mempolicy(void) { return syscall(SYS_get_mempolicy, NULL, NULL, 0, NULL, 0); }
static long try_move_pages(void) { return syscall(SYS_move_pages, 0, 0, NULL, NULL, NULL, 0); }
static long try_vhangup(void) { return syscall(SYS_vhangup); }
static long try_pkey_alloc(void) { return syscall(SYS_pkey_alloc, 0, 0); }
static long try_unused(void) { return syscall(UNUSED_SYSCALL); }
static long try_unknown(void) { return syscall(UNKNOWN_SYSCALL); }
static long try_fchmodat2(void) { return syscall(FCHMODAT2, AT_FDCWD, BAD_POINTER, 0, 0); }
static long try_x32_getpid(void) { return syscall(X32_BIT | SYS_getpid); }
static long try_x32_keyctl(void) { return syscall(X32_BIT | SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0); }
static long try_i386_getpid(void) { return i386_call(I386_GETPID, 0, 0, 0); }
static long try_i386_keyctl(void) { return i386_call(I386_KEYCTL, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0); }
static long try_i386_unshare_user(void) { return i386_call(I386_UNSHARE, CLONE_NEWUSER, 0, 0); }

static const struct { const char *name; long (*attempt)(void); } syscalls[] = {
    /* ordinary: must stay allowed */
    {"getpid", try_getpid}, {"getppid", try_getppid}, {"read", try_read}, {"write", try_write},
    {"openat", try_openat}, {"close", try_close}, {"newfstatat", try_newfstatat},
    {"clock_gettime", try_clock_gettime}, {"mmap", try_mmap}, {"uname", try_uname},
    {"socket", try_socket}, {"pipe2", try_pipe2}, {"getrandom", try_getrandom},
    {"prctl", try_prctl}, {"execve", try_execve}, {"fork", try_fork},
    {"ptrace_traceme", try_ptrace_traceme}, {"personality_query", try_personality_query},
    {"personality_linux", try_personality_linux}, {"arch_prctl", try_arch_prctl},
    {"io_uring_setup", try_io_uring_setup}, {"i386_getpid", try_i386_getpid},
    {"x32_getpid", try_x32_getpid},
    /* what reaches host state or widens the kernel's surface: Docker refuses them */
    {"keyctl", try_keyctl}, {"add_key", try_add_key}, {"request_key", try_request_key},
    {"unshare_user", try_unshare_user}, {"unshare_mount", try_unshare_mount},
    {"clone_newuser", try_clone_newuser}, {"clone3", try_clone3}, {"setns", try_setns},
    {"mount", try_mount}, {"umount2", try_umount2}, {"pivot_root", try_pivot_root},
    {"chroot", try_chroot}, {"fsopen", try_fsopen}, {"open_tree", try_open_tree},
    {"perf_event_open", try_perf_event_open}, {"bpf", try_bpf},
    {"personality_no_aslr", try_personality_no_aslr},
    {"personality_read_implies_exec", try_personality_exec},
    {"kexec_load", try_kexec_load}, {"open_by_handle_at", try_open_by_handle_at},
    {"name_to_handle_at", try_name_to_handle_at}, {"userfaultfd", try_userfaultfd},
    {"process_vm_readv", try_process_vm_readv}, {"kcmp", try_kcmp}, {"syslog", try_syslog},
    {"acct", try_acct}, {"reboot", try_reboot}, {"init_module", try_init_module},
    {"finit_module", try_finit_module}, {"delete_module", try_delete_module},
    {"iopl", try_iopl}, {"ioperm", try_ioperm}, {"settimeofday", try_settimeofday},
    {"clock_settime", try_clock_settime}, {"swapon", try_swapon}, {"quotactl", try_quotactl},
    {"get_mempolicy", try_get_mempolicy}, {"move_pages", try_move_pages},
    {"vhangup", try_vhangup}, {"pkey_alloc", try_pkey_alloc},
    {"i386_keyctl", try_i386_keyctl}, {"i386_unshare_user", try_i386_unshare_user},
    {"x32_keyctl", try_x32_keyctl},
    /* numbers the profile does not name: EPERM below its newest call, ENOSYS above */
    {"unused_400", try_unused}, {"fchmodat2", try_fchmodat2}, {"unknown_1000", try_unknown},
};

static void outcome(char *buffer, size_t size, long result, int error) {
    if (result < 0) snprintf(buffer, size, "%s", strerrorname_np(error) ? strerrorname_np(error) : "?");
    else snprintf(buffer, size, "ok");
}

/* Run one attempt in a child; the child prints its own line. */
static void attempt(const char *name, long (*call)(void)) {
    pid_t pid = fork();
    if (pid < 0) { dprintf(STDOUT_FILENO, "SYSCALL %s fork-failed\n", name); return; }
    if (pid == 0) {
        errno = 0;
        long result = call();
        char text[64];
        outcome(text, sizeof text, result, errno);
        dprintf(STDOUT_FILENO, "SYSCALL %s %s\n", name, text);
        _exit(0);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) continue;
    if (WIFSIGNALED(status)) dprintf(STDOUT_FILENO, "SYSCALL %s signal-%d\n", name, WTERMSIG(status));
}

static void procfs(void) {
    static const char *const paths[] = {"/proc/keys", "/proc/timer_list", "/proc/key-users",
                                        "/proc/kcore", "/proc/sched_debug"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        int fd = open(paths[i], O_RDONLY | O_CLOEXEC);
        if (fd < 0) { dprintf(STDOUT_FILENO, "PROCFS %s %s\n", paths[i], strerrorname_np(errno)); continue; }
        char buffer[4096];
        long total = 0, got;
        while ((got = read(fd, buffer, sizeof buffer)) > 0) total += got;
        if (got < 0) dprintf(STDOUT_FILENO, "PROCFS %s %s\n", paths[i], strerrorname_np(errno));
        else dprintf(STDOUT_FILENO, "PROCFS %s ok %ld\n", paths[i], total);
        close(fd);
    }
}

static void key_line(const char *step, long result) {
    char text[64];
    outcome(text, sizeof text, result, errno);
    if (result >= 0) dprintf(STDOUT_FILENO, "KEYRING %s ok %ld\n", step, result);
    else dprintf(STDOUT_FILENO, "KEYRING %s %s\n", step, text);
}

/* What the instance sees of the host's key, without changing it, and its own keyring. */
static void key_reads(long key, const char *description) {
    char payload[256];
    key_line("session", syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0));
    long bytes = syscall(SYS_keyctl, KEYCTL_READ, KEY_SPEC_SESSION_KEYRING, NULL, 0);
    key_line("session_keys", bytes < 0 ? bytes : bytes / 4);
    key_line("search_session", syscall(SYS_keyctl, KEYCTL_SEARCH, KEY_SPEC_SESSION_KEYRING, "user", description, 0));
    key_line("search_user", syscall(SYS_keyctl, KEYCTL_SEARCH, KEY_SPEC_USER_KEYRING, "user", description, 0));
    key_line("read", syscall(SYS_keyctl, KEYCTL_READ, key, payload, sizeof payload));
    key_line("add_session", syscall(SYS_add_key, "user", "bench-own", "x", 1, KEY_SPEC_SESSION_KEYRING));
    /* uid 0 holds every permission on root's user keyring: linking it into its own session
     * keyring makes the instance possess it, and the keys in it (only the filter stops this) */
    key_line("link_user", syscall(SYS_keyctl, KEYCTL_LINK, KEY_SPEC_USER_KEYRING, KEY_SPEC_SESSION_KEYRING));
    key_line("read_after_link", syscall(SYS_keyctl, KEYCTL_READ, key, payload, sizeof payload));
}

/* What would change the host's key or root's user keyring: each must be refused. */
static void key_writes(long key) {
    key_line("update", syscall(SYS_keyctl, KEYCTL_UPDATE, key, "intruder", 8));
    key_line("setperm", syscall(SYS_keyctl, KEYCTL_SETPERM, key, 0x3f3f3f3f));
    key_line("invalidate", syscall(SYS_keyctl, KEYCTL_INVALIDATE, key));
    key_line("revoke", syscall(SYS_keyctl, KEYCTL_REVOKE, key));
    key_line("unlink", syscall(SYS_keyctl, KEYCTL_UNLINK, key, KEY_SPEC_USER_KEYRING));
    key_line("add_user", syscall(SYS_add_key, "user", "bench-intruder", "x", 1, KEY_SPEC_USER_KEYRING));
    key_line("clear_user", syscall(SYS_keyctl, KEYCTL_CLEAR, KEY_SPEC_USER_KEYRING));
}

int main(int argc, char **argv) {
    dprintf(STDOUT_FILENO, "BENCH-READY prober\n");
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "syscalls") == 0) {
            for (size_t j = 0; j < sizeof syscalls / sizeof syscalls[0]; j++)
                attempt(syscalls[j].name, syscalls[j].attempt);
        } else if (strcmp(argv[i], "procfs") == 0) {
            procfs();
        } else if (strncmp(argv[i], "key=", 4) == 0) {
            char *description = strchr(argv[i], ':');
            if (description == NULL) { dprintf(STDOUT_FILENO, "PROBER-ERROR %s\n", argv[i]); return 2; }
            key_reads(strtol(argv[i] + 4, NULL, 10), description + 1);
        } else if (strncmp(argv[i], "keywrite=", 9) == 0) {
            key_writes(strtol(argv[i] + 9, NULL, 10));
        } else {
            dprintf(STDOUT_FILENO, "PROBER-ERROR unknown section %s\n", argv[i]);
            return 2;
        }
    }
    dprintf(STDOUT_FILENO, "PROBER-END\n");
    return 0;
}
