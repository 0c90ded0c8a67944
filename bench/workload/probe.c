/*
 * probe: the only code that runs inside an instance.
 *
 * The same static binary is a plain child process, the init of a namespace
 * container, the entrypoint of a FROM-scratch image and the /init of a guest's
 * initramfs. It never timestamps an interval the host reports as boot time: it
 * only prints markers, and the host stamps their arrival with its own clock.
 *
 * Output, one record per line, parsed by runtimes/protocol.py, on the probe's own channel: the
 * stream it was given as stdout, moved at once to a descriptor no child inherits (CLOEXEC),
 * stdout and stderr then pointing at "/" where nothing can be written. The probe is not
 * dumpable, so /proc/<its pid>/fd is closed to a command without CAP_SYS_PTRACE: a command's
 * output reaches the host only through the probe, one prefixed line per line.
 *   BENCH-READY <mode>
 *   BENCH-GUEST-CLOCK boottime_ns=<ns>                  (a guest's /init: its kernel's clock at start)
 *   BENCH-MEMINFO MemTotal=<kB> MemAvailable=<kB>       (when /proc/meminfo is readable)
 *   BENCH-LOOP <name> ns_per_iter=<float> empty=<float> bounded=<0|1> calls=<n>
 *                                                       (the loop's cost, per call timed)
 *   BENCH-TARGET name=<file> fs=<magic hex>             (what open_close and stat reach)
 *   BENCH-SYSCALL <name> <batch> <ns_per_call> <raw>     (every measured batch: the call's
 *                                                       cost, and the loop's with it)
 *   BENCH-IDLE                                          (entered the idle state)
 *   BENCH-ERROR <text>
 *   BENCH-DONE <exit status>
 *
 * Usage: probe MODE [key=value ...]
 *   ready     idle=SECONDS                 idle until SIGTERM, a byte or EOF on stdin, or timeout
 *   syscall   batches=N calls=N warmup=N  time each syscall in batches
 *   memtouch  mib=N idle=SECONDS           touch N MiB, then idle like ready
 *   command   idle=SECONDS [spec=FILE] [-- SPEC LINES]  supervise a user's program (below)
 * Arguments may also come as key=value in the kernel command line after "--".
 * join=FILE (any number, before anything else): write 0 to this cgroup file (v1 `tasks`, v2
 * `cgroup.procs`) so the probe and all it starts live in the instance's cgroup; a join that
 * fails is BENCH-ERROR and exit 1, never an instance outside its cgroup.
 *
 * Syscall mode keeps every timing in memory and reports them only after the last batch:
 * a line written during the loop would wake the host's reader, which then competes with
 * the probe for its CPU (on a small host it preempts the very batch being timed). The
 * open_close and stat target is the probe's own file, reached by name from a descriptor
 * of its directory, so every runtime walks one path component whatever its layout.
 * As PID 1 of a guest (no parent to return to) it powers the machine off at the end, or,
 * given end=reboot, resets it (a machine without a power-off device, such as a microvm
 * without ACPI, would only halt; QEMU's -no-reboot turns the reset into its exit).
 * A guest's /init also reports its kernel's own clock (CLOCK_BOOTTIME, the clock behind
 * /proc/uptime) read as its very first act: a duration measured by the guest kernel, beside
 * the host's stamps of the console, never instead of them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <dirent.h>
#include <regex.h>
#include <sys/ioctl.h>
#include <linux/capability.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/reboot.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/klog.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop_requested;
/* the protocol's descriptor (see the header); stdout until own_channel() moves it */
static int proto_fd = STDOUT_FILENO;
/* open_close and stat reach the probe's own file as `target_name` in `target_dir` */
static int target_dir = AT_FDCWD;
static const char *target_name = "/probe";

static void on_signal(int sig) { (void)sig; stop_requested = 1; }

static unsigned long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
}

static void flush_forwarded(void);
static void emit(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void emit(const char *fmt, ...) {
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if (n > (int)sizeof line - 2) n = (int)sizeof line - 2;
    line[n++] = '\n';
    flush_forwarded();
    ssize_t off = 0;
    while (off < n) {  /* unbuffered: the host stamps arrival, so nothing may wait in a buffer */
        ssize_t w = write(proto_fd, line + off, (size_t)(n - off));
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return;
        off += w;
    }
}

/* The protocol on a descriptor of its own, not inherited by any child; stdout and stderr
 * then name "/" (always there, never writable), so no child and no late write of ours can
 * reach the host's stream through them. Not dumpable: /proc/<pid>/fd and /proc/<pid>/mem
 * are closed to every process without CAP_SYS_PTRACE over us. */
static void own_channel(void) {
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    int fd = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
    if (fd < 0) return;
    proto_fd = fd;
    int root = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root < 0) return;
    dup2(root, STDOUT_FILENO);
    dup2(root, STDERR_FILENO);
    close(root);
}

/* Write 0 to each join=FILE argument (before "--"): the probe enters its cgroup. */
static int join_cgroups(int argc, char **argv) {
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (strncmp(argv[i], "join=", 5) != 0) continue;
        int fd = open(argv[i] + 5, O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, "0", 1) != 1) {
            emit("BENCH-ERROR join cgroup %s: %s", argv[i] + 5, strerror(errno));
            if (fd >= 0) close(fd);
            return -1;
        }
        close(fd);
    }
    return 0;
}

static long arg_long(int argc, char **argv, const char *key, long fallback) {
    size_t len = strlen(key);
    for (int i = 1; i < argc; i++)
        if (strncmp(argv[i], key, len) == 0 && argv[i][len] == '=') return atol(argv[i] + len + 1);
    return fallback;
}

static void report_meminfo(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return;
    char key[64];
    long value, total = -1, available = -1;
    while (fscanf(f, "%63s %ld kB\n", key, &value) == 2) {
        if (strcmp(key, "MemTotal:") == 0) total = value;
        if (strcmp(key, "MemAvailable:") == 0) available = value;
    }
    fclose(f);
    if (total >= 0 && available >= 0) emit("BENCH-MEMINFO MemTotal=%ld MemAvailable=%ld", total, available);
}

/* Idle until told: SIGTERM/SIGINT, a byte or EOF on stdin, or the timeout. */
static void idle(long seconds) {
    emit("BENCH-IDLE");
    unsigned long long deadline = now_ns() + (unsigned long long)seconds * 1000000000ull;
    int watch_stdin = isatty(STDIN_FILENO) == 0 && fcntl(STDIN_FILENO, F_GETFD) != -1;
    while (!stop_requested && now_ns() < deadline) {
        struct pollfd p = {.fd = watch_stdin ? STDIN_FILENO : -1, .events = POLLIN};
        int r = poll(&p, 1, 200);
        if (r > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR))) {
            char c;
            ssize_t got = read(STDIN_FILENO, &c, 1);
            if (got == 1 || got == 0) break;
            watch_stdin = 0;  /* unreadable stdin (e.g. /dev/console without input): ignore it */
        }
    }
}

/* ---- syscall timing ------------------------------------------------------ */

typedef void (*call_fn)(void *ctx);
struct io_ctx { int rfd, wfd; };

static void call_getppid(void *ctx) { (void)ctx; syscall(SYS_getppid); }
static void call_clock_gettime(void *ctx) {
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    __asm__ volatile("" : : "r"(&ts) : "memory");
}
static void call_write(void *ctx) { struct io_ctx *io = ctx; char c = 'x'; if (write(io->wfd, &c, 1) != 1) abort(); }
static void call_read(void *ctx) { struct io_ctx *io = ctx; char c; if (read(io->rfd, &c, 1) != 1) abort(); }
static void call_open_close(void *ctx) {
    (void)ctx;
    int fd = openat(target_dir, target_name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) abort();
    close(fd);
}
static void call_stat(void *ctx) {
    (void)ctx;
    struct stat st;
    if (fstatat(target_dir, target_name, &st, 0) != 0) abort();
}
static void call_nothing(void *ctx) { __asm__ volatile("" : : "r"(ctx) : "memory"); }

/* One function times every batch, the empty ones included: noinline and noipa keep the
 * compiler from specialising it for call_nothing (it did: the empty loop it timed had no
 * call in it, so the loop it subtracted was not the loop the calls ran in). */
#if defined(__clang__)
#define ONE_COPY __attribute__((noinline))
#else
#define ONE_COPY __attribute__((noinline, noipa))
#endif

/* ns per iteration of a batch of `calls` calls through `fn`, reading the clock twice. */
static ONE_COPY double time_batch(call_fn fn, void *ctx, long calls) {
    unsigned long long start = now_ns();
    for (long i = 0; i < calls; i++) fn(ctx);
    return (double)(now_ns() - start) / (double)calls;
}

/* Every call timed, in the order measured; the pipe is filled by `write` batches and
 * drained by the following `read` batches. */
static const struct { const char *name; call_fn fn; int io; } CALLS[] = {
    {"getppid", call_getppid, 0}, {"clock_gettime", call_clock_gettime, 0},
    {"write", call_write, 1},     {"read", call_read, 1},
    {"open_close", call_open_close, 0}, {"stat", call_stat, 0},
};
#define NCALLS (sizeof CALLS / sizeof CALLS[0])

/* What one call's batches measured: each batch's raw ns per iteration (the call and the
 * loop around it), and the loop's cost they share. */
struct timed { double *raw; long done; double loop, empty; int bounded; };

/* Batches of one call (warm-up batches run and dropped), each right after an empty batch:
 * the same loop, the same indirect call to call_nothing, timed the same way, so whatever
 * the clock and the loop cost at that moment (under gVisor a clock read is a trap until its
 * vDSO is ready, a second or so after start) the empty batch pays too. The loop's cost is
 * the least empty batch, and never more than the least batch with the call: that batch ran
 * the loop too, so a larger empty reading was disturbed. So no net cost is negative. */
static void measure(call_fn fn, void *ctx, long batches, long calls, long warmup,
                    struct timed *out) {
    double empty = 1e300, fastest = 1e300;
    long b;
    for (b = -warmup; b < batches && !stop_requested; b++) {
        double e = time_batch(call_nothing, NULL, calls);
        double t = time_batch(fn, ctx, calls);
        if (b < 0) continue;
        out->raw[b] = t;
        if (e < empty) empty = e;
        if (t < fastest) fastest = t;
    }
    out->done = b < 0 ? 0 : b;
    out->empty = empty;
    out->bounded = fastest < empty;
    out->loop = out->bounded ? fastest : empty;
}

/* Lines gathered into large writes once measuring is over: a handful of wake-ups of the
 * host's reader instead of one per line. */
struct report { char buf[1 << 16]; size_t used; };

static void report_flush(struct report *r) {
    size_t off = 0;
    while (off < r->used) {
        ssize_t w = write(proto_fd, r->buf + off, r->used - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        off += (size_t)w;
    }
    r->used = 0;
}

static void report_line(struct report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void report_line(struct report *r, const char *fmt, ...) {
    if (sizeof r->buf - r->used < 256) report_flush(r);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(r->buf + r->used, sizeof r->buf - r->used - 1, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof r->buf - r->used - 1) return;
    r->used += (size_t)n;
    r->buf[r->used++] = '\n';
}

/* The directory of the probe's own file, and its name there (argv[0] is absolute in every
 * runtime: a host path, /probe in a rootfs or an image, /init in an initramfs). */
static void open_target(const char *self) {
    if (!self || self[0] != '/') return;
    const char *slash = strrchr(self, '/');
    char dir[4096];
    size_t len = slash == self ? 1 : (size_t)(slash - self);
    if (len >= sizeof dir) return;
    memcpy(dir, self, len);
    dir[len] = '\0';
    int fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;
    target_dir = fd;
    target_name = slash + 1;
}

static unsigned long target_fs(void) {
    struct statfs fs;
    int r = target_dir == AT_FDCWD ? statfs("/", &fs) : fstatfs(target_dir, &fs);
    return r == 0 ? (unsigned long)fs.f_type : 0;
}

static int run_syscalls(long batches, long calls, long warmup) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) { emit("BENCH-ERROR pipe: %s", strerror(errno)); return 1; }
    /* room for one whole batch plus warm-up of one-byte writes before a read drains them */
    long need = (batches + warmup) * calls;
    long room = fcntl(fds[1], F_SETPIPE_SZ, 1 << 20);
    if (room < 0 || room < need) calls = (room > 0 ? room : 65536) / (batches + warmup);
    double *timings = calloc(NCALLS * (size_t)batches, sizeof *timings);
    if (!timings) { emit("BENCH-ERROR no memory for %ld batches", batches); return 1; }
    struct io_ctx io = {fds[0], fds[1]};
    struct timed timed[NCALLS];
    for (size_t c = 0; c < NCALLS; c++) {
        timed[c] = (struct timed){.raw = timings + c * (size_t)batches};
        measure(CALLS[c].fn, CALLS[c].io ? (void *)&io : NULL, batches, calls, warmup, &timed[c]);
    }
    close(fds[0]);
    close(fds[1]);

    static struct report r;
    report_line(&r, "BENCH-TARGET name=%s fs=0x%lx", target_name, target_fs());
    for (size_t c = 0; c < NCALLS; c++) {
        const struct timed *t = &timed[c];
        if (t->done > 0)
            report_line(&r, "BENCH-LOOP %s ns_per_iter=%.3f empty=%.3f bounded=%d calls=%ld",
                        CALLS[c].name, t->loop, t->empty, t->bounded, calls);
        for (long b = 0; b < t->done; b++)
            report_line(&r, "BENCH-SYSCALL %s %ld %.3f %.3f", CALLS[c].name, b,
                        t->raw[b] - t->loop, t->raw[b]);
    }
    report_flush(&r);
    free(timings);
    return 0;
}

static int touch_memory(long mib) {
    size_t len = (size_t)mib << 20;
    if (len == 0) return 0;
    char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) { emit("BENCH-ERROR mmap %ld MiB: %s", mib, strerror(errno)); return 1; }
    long page = sysconf(_SC_PAGESIZE);
    for (size_t off = 0; off < len; off += (size_t)page) p[off] = (char)off | 1;
    return 0;  /* kept mapped on purpose: the host measures it */
}

/* ---- command supervisor ---------------------------------------------------
 *
 * Mode `command` runs a user's program and reports on it; the probe stays the first
 * process of the instance and the only one that speaks the protocol. The program's spec
 * is key=value lines, either the arguments after "--" (process, native, docker) or the
 * lines of the file spec=PATH (a guest: its kernel command line is too short for it):
 *   arg=A          the command's argv, in order        env=K=V   its whole environment
 *   cwd=DIR        its working directory (the scratch storage, else /)
 *   bg=A           a background helper's argv (a server the command talks to)
 *   bg_port=N      wait until 127.0.0.1:N accepts a connection before the command starts
 *   ready_port=N   the command is a server: report its first answer on 127.0.0.1:N ...
 *   ready_send_hex=HEX, ready_expect=TEXT  ... to this request, starting with this reply
 *   ready_line=RE  ... or its first output line matching this extended regex; then stop it
 *   timeout=S      kill the command after S seconds
 *   (a guest) modules=FILE: kernel modules to load; root_dev=DEV, root=DIR: a read-only
 *   ext4 tree to run the command in (chroot); scratch_dev=DEV: ext4 mounted at ROOT/scratch
 * Output: BENCH-STARTED (exec succeeded), BENCH-OUT / BENCH-ERR / BENCH-BG <line> (its
 * stdout, stderr and the helper's output), BENCH-RESPONSE (a server's first answer),
 * BENCH-EXITED (the command was reaped; the helper is stopped after it),
 * BENCH-COMMAND status=N signal=N stopped=0|1 wall_ns=N user_ns=N sys_ns=N maxrss_kb=N
 * all_user_ns=N all_sys_ns=N (getrusage of the command, then of every process reaped),
 * then BENCH-DONE and the idle state, so the host can read its counters before teardown.
 */
#define SPEC_MAX 256
#define TIMEOUT_MAX_S (7L * 24 * 3600)
/* after a stop request, how long the command's tree has to leave before SIGKILL: inside the
 * host's own grace (runtimes/base.py, 2 s), so the probe still reports on the command */
#define STOP_GRACE_NS 1000000000ull
#define LINE_MAX_OUT 65536

struct spec {
    char *argv[SPEC_MAX + 1], *env[SPEC_MAX + 1], *bg[SPEC_MAX + 1];
    int argc, envc, bgc;
    const char *cwd, *ready_expect, *ready_line, *modules, *root_dev, *root, *scratch_dev;
    char ready_send[1024];
    size_t ready_send_len;
    long bg_port, ready_port, timeout;
};

struct stream { int fd; const char *prefix; int watched; char buf[LINE_MAX_OUT]; size_t len; };

/* ready_line: the command's output lines are matched as they are forwarded */
static regex_t ready_re;
static int ready_re_set, ready_line_seen;

/* The command's lines on their way to the host, gathered so that a chunk read from the
 * command costs one write, not one per line (a million short lines were a million writes,
 * and the command waited on them). Flushed after each pass over the streams and before any
 * marker, so the order the host sees is the order things happened. */
static char forwarded[2 * LINE_MAX_OUT];
static size_t forwarded_used;

static void flush_forwarded(void) {
    size_t off = 0;
    while (off < forwarded_used) {
        ssize_t w = write(proto_fd, forwarded + off, forwarded_used - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        off += (size_t)w;
    }
    forwarded_used = 0;
}

static void write_line(const char *prefix, const char *text) {
    size_t plen = strlen(prefix), tlen = strlen(text);
    if (tlen > LINE_MAX_OUT) tlen = LINE_MAX_OUT;  /* a stream's buffer holds no more */
    if (sizeof forwarded - forwarded_used < plen + tlen + 2) flush_forwarded();
    char *at = forwarded + forwarded_used;
    memcpy(at, prefix, plen);
    at[plen] = ' ';
    memcpy(at + plen + 1, text, tlen);
    at[plen + 1 + tlen] = '\n';
    forwarded_used += plen + tlen + 2;
}

static void emit_line(struct stream *st, const char *text) {
    write_line(st->prefix, text);
    if (st->watched && ready_re_set && !ready_line_seen && regexec(&ready_re, text, 0, NULL, 0) == 0)
        ready_line_seen = 1;
}

static int unhex(const char *hex, char *out, size_t room) {
    size_t n = 0;
    for (; hex[0] && hex[1] && n < room; hex += 2) {
        unsigned int byte;
        if (sscanf(hex, "%2x", &byte) != 1) return -1;
        out[n++] = (char)byte;
    }
    return (int)n;
}

static int spec_entry(struct spec *s, char *key, char *value);

/* One key=value line into the spec; a refused line is left whole, for the error to show. */
static int spec_line(struct spec *s, char *line) {
    char *eq = strchr(line, '=');
    if (!eq) return line[0] ? -1 : 0;
    *eq = '\0';
    int refused = spec_entry(s, line, eq + 1);
    if (refused) *eq = '=';
    return refused;
}

static int spec_entry(struct spec *s, char *key, char *value) {
    if (strcmp(key, "arg") == 0 && s->argc < SPEC_MAX) s->argv[s->argc++] = value;
    else if (strcmp(key, "env") == 0 && s->envc < SPEC_MAX) s->env[s->envc++] = value;
    else if (strcmp(key, "bg") == 0 && s->bgc < SPEC_MAX) s->bg[s->bgc++] = value;
    else if (strcmp(key, "cwd") == 0) s->cwd = value;
    else if (strcmp(key, "bg_port") == 0) s->bg_port = atol(value);
    else if (strcmp(key, "ready_port") == 0) s->ready_port = atol(value);
    else if (strcmp(key, "ready_send_hex") == 0) {
        int n = unhex(value, s->ready_send, sizeof s->ready_send);
        if (n < 0) return -1;
        s->ready_send_len = (size_t)n;
    } else if (strcmp(key, "ready_expect") == 0) s->ready_expect = value;
    else if (strcmp(key, "ready_line") == 0) s->ready_line = value;
    else if (strcmp(key, "timeout") == 0) {
        /* bench's config allows at most a week; anything else (a value that would wrap in
         * nanoseconds, a negative one, trailing junk) is a bad spec line, never a guess */
        char *end;
        errno = 0;
        long t = strtol(value, &end, 10);
        if (errno || end == value || *end || t < 1 || t > TIMEOUT_MAX_S) return -1;
        s->timeout = t;
    }
    else if (strcmp(key, "modules") == 0) s->modules = value;
    else if (strcmp(key, "root_dev") == 0) s->root_dev = value;
    else if (strcmp(key, "root") == 0) s->root = value;
    else if (strcmp(key, "scratch_dev") == 0) s->scratch_dev = value;
    else return -1;
    return 0;
}

/* The spec from the arguments after "--", else from the file named by spec=PATH. */
static int read_spec(int argc, char **argv, struct spec *s) {
    static char text[1 << 20];
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--") == 0) {
            for (int j = i + 1; j < argc; j++)
                if (spec_line(s, argv[j]) != 0) { emit("BENCH-ERROR bad spec line %.80s", argv[j]); return -1; }
            return 0;
        }
    const char *path = NULL;
    for (int i = 1; i < argc; i++)
        if (strncmp(argv[i], "spec=", 5) == 0) path = argv[i] + 5;
    if (!path) { emit("BENCH-ERROR command mode needs spec=FILE or a spec after --"); return -1; }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) { emit("BENCH-ERROR spec %s: %s", path, strerror(errno)); return -1; }
    ssize_t got = read(fd, text, sizeof text - 1);
    close(fd);
    if (got < 0) { emit("BENCH-ERROR spec %s: %s", path, strerror(errno)); return -1; }
    text[got] = '\0';
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        if (spec_line(s, line) != 0) { emit("BENCH-ERROR bad spec line %.80s", line); return -1; }
    return 0;
}

/* A guest's setup before the command: modules, loopback, the tree and the scratch disk. */
static int wait_for_node(const char *dev) {
    for (int i = 0; i < 1000 && access(dev, F_OK) != 0; i++) usleep(10000);
    return access(dev, F_OK);
}

static int load_modules(const char *list) {
    FILE *f = fopen(list, "r");
    if (!f) { emit("BENCH-ERROR modules %s: %s", list, strerror(errno)); return -1; }
    char path[512];
    while (fgets(path, sizeof path, f)) {
        path[strcspn(path, "\n")] = '\0';
        if (!path[0]) continue;
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || (syscall(SYS_finit_module, fd, "", 0) != 0 && errno != EEXIST)) {
            emit("BENCH-ERROR load module %s: %s", path, strerror(errno));
            fclose(f);
            return -1;
        }
        close(fd);
    }
    fclose(f);
    return 0;
}

static void loopback_up(void) {
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
    if (sock >= 0 && ioctl(sock, SIOCGIFFLAGS, &ifr) == 0) {
        ifr.ifr_flags |= IFF_UP;
        if (ioctl(sock, SIOCSIFFLAGS, &ifr) != 0) emit("BENCH-ERROR bring lo up: %s", strerror(errno));
    }
    if (sock >= 0) close(sock);
}

static int mount_at(const char *dev, const char *dir, unsigned long flags) {
    if (wait_for_node(dev) != 0) { emit("BENCH-ERROR no device %s", dev); return -1; }
    if (mount(dev, dir, "ext4", flags, NULL) != 0) {
        emit("BENCH-ERROR mount %s on %s: %s", dev, dir, strerror(errno));
        return -1;
    }
    return 0;
}

static int setup_guest(const struct spec *s) {
    loopback_up();
    if (s->modules && load_modules(s->modules) != 0) return -1;
    if (s->root_dev && s->root) {
        char path[512];
        if (mount_at(s->root_dev, s->root, MS_RDONLY) != 0) return -1;
        snprintf(path, sizeof path, "%s/proc", s->root);
        mount("proc", path, "proc", 0, NULL);
        snprintf(path, sizeof path, "%s/dev", s->root);
        mount("devtmpfs", path, "devtmpfs", 0, NULL);
        snprintf(path, sizeof path, "%s/tmp", s->root);
        mount("tmpfs", path, "tmpfs", 0, NULL);
    }
    if (s->scratch_dev) {
        char path[512];
        snprintf(path, sizeof path, "%s/scratch", s->root ? s->root : "");
        if (mount_at(s->scratch_dev, path, 0) != 0) return -1;
    }
    return 0;
}

/* In a guest the host reads the probe on the serial console, which root could open (a
 * devtmpfs node, mknod, port I/O) or reach through /proc/1 (CAP_SYS_PTRACE). So the command
 * (and its helper) get a mount namespace whose /dev is a tmpfs with the harmless nodes only,
 * and lose the capabilities that would get the console back: after exec a root process
 * holds its bounding set, and these are not in it. 0, or the errno of what failed. */
static int console_out_of_reach = 0;

static int guard_console(const char *root) {
    static const struct { const char *name; unsigned int major, minor; } nodes[] = {
        {"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}};
    static const int caps[] = {CAP_SYS_ADMIN, CAP_MKNOD, CAP_SYS_RAWIO, CAP_SYS_PTRACE,
                               CAP_SYS_MODULE, CAP_SYSLOG, CAP_SYS_TTY_CONFIG, CAP_SYS_BOOT};
    char dev[512], node[600];
    snprintf(dev, sizeof dev, "%s/dev", root ? root : "");
    if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
        mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755") != 0)
        return errno ? errno : EPERM;
    for (size_t i = 0; i < sizeof nodes / sizeof nodes[0]; i++) {
        snprintf(node, sizeof node, "%s/%s", dev, nodes[i].name);
        if (mknod(node, S_IFCHR | 0666, makedev(nodes[i].major, nodes[i].minor)) != 0) return errno;
    }
    snprintf(node, sizeof node, "%s/shm", dev);
    mkdir(node, 01777);
    /* read-only: `> /dev/console` must fail, not make a file; /dev/shm stays writable */
    if (mount(NULL, dev, NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC, NULL) != 0 ||
        mount("tmpfs", node, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") != 0)
        return errno;
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++)
        if (prctl(PR_CAPBSET_DROP, caps[i], 0, 0, 0) != 0) return errno;
    return 0;
}

/* Start argv with its output on pipes; the child reports a failed exec through `report`. */
static pid_t start_child(const struct spec *s, char **argv, int out[2], int err[2]) {
    int report[2], input[2];
    if (pipe2(report, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0 ||
        pipe2(input, O_CLOEXEC) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(input[0], STDIN_FILENO);  /* stdin at EOF at once, with no /dev/null needed */
        dup2(out[1], STDOUT_FILENO);
        dup2(err[1], STDERR_FILENO);
        signal(SIGPIPE, SIG_DFL);
#ifdef SYS_close_range
        /* nothing but 0, 1 and 2 reaches the command (report[1] still reports a failed exec) */
        syscall(SYS_close_range, 3u, ~0u, 4u /* CLOSE_RANGE_CLOEXEC */);
#endif
        struct sigaction dfl = {.sa_handler = SIG_DFL};
        sigaction(SIGTERM, &dfl, NULL);
        sigaction(SIGINT, &dfl, NULL);
        int code = console_out_of_reach ? guard_console(s->root) : 0;
        if (!code && s->root && (chroot(s->root) != 0 || chdir("/") != 0)) code = errno;
        if (!code && s->cwd && chdir(s->cwd) != 0) code = errno;
        if (!code && !s->cwd && chdir("/") != 0) code = errno;
        if (!code) {
            clearenv();
            for (int i = 0; i < s->envc; i++) putenv(s->env[i]);
            execvp(argv[0], argv);
            code = errno;
        }
        if (write(report[1], &code, sizeof code) < 0) _exit(126);
        _exit(127);
    }
    close(report[1]);
    close(input[0]);
    close(input[1]);
    close(out[1]);
    close(err[1]);
    if (pid < 0) { close(report[0]); return -1; }
    int code = 0;
    ssize_t got;
    while ((got = read(report[0], &code, sizeof code)) < 0 && errno == EINTR) {}
    close(report[0]);
    if (got == (ssize_t)sizeof code) {
        emit("BENCH-ERROR exec %s: %s", argv[0], strerror(code));
        errno = code;
        return -2;
    }
    return pid;
}

/* Forward what a stream has, one protocol line per output line; false at its end. */
static int forward(struct stream *st) {
    ssize_t got = read(st->fd, st->buf + st->len, sizeof st->buf - 1 - st->len);
    if (got <= 0) {
        if (got < 0 && errno == EINTR) return 1;
        if (st->len) { st->buf[st->len] = '\0'; emit_line(st, st->buf); st->len = 0; }
        close(st->fd);
        st->fd = -1;
        return 0;
    }
    st->len += (size_t)got;
    char *start = st->buf, *nl;
    while ((nl = memchr(start, '\n', st->len - (size_t)(start - st->buf)))) {
        *nl = '\0';
        emit_line(st, start);
        start = nl + 1;
    }
    size_t left = st->len - (size_t)(start - st->buf);
    if (left == sizeof st->buf - 1) { st->buf[left] = '\0'; emit_line(st, st->buf); left = 0; }
    memmove(st->buf, start, left);
    st->len = left;
    return 1;
}

static int port_answers(long port, const struct spec *s, int want_reply) {
    int sock = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (sock < 0) return 0;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ok = connect(sock, (struct sockaddr *)&addr, sizeof addr) == 0;
    if (ok && want_reply && s->ready_send_len)
        ok = write(sock, s->ready_send, s->ready_send_len) == (ssize_t)s->ready_send_len;
    if (ok && want_reply && s->ready_expect) {
        struct timeval tv = {.tv_sec = 0, .tv_usec = 200000};
        setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        char reply[256];
        ssize_t got = read(sock, reply, sizeof reply - 1);
        size_t want = strlen(s->ready_expect);
        ok = got >= (ssize_t)want && memcmp(reply, s->ready_expect, want) == 0;
    }
    close(sock);
    return ok;
}

struct usage { unsigned long long user_ns, sys_ns; long maxrss_kb; };

static void add_usage(struct usage *u, const struct rusage *ru) {
    u->user_ns += (unsigned long long)ru->ru_utime.tv_sec * 1000000000ull + (unsigned long long)ru->ru_utime.tv_usec * 1000ull;
    u->sys_ns += (unsigned long long)ru->ru_stime.tv_sec * 1000000000ull + (unsigned long long)ru->ru_stime.tv_usec * 1000ull;
    if (ru->ru_maxrss > u->maxrss_kb) u->maxrss_kb = ru->ru_maxrss;
}

/* Reap every child that has ended (orphans come here too: the probe is a subreaper). */
static void reap(pid_t command, int *status, int *done, struct usage *cmd, struct usage *all,
                 unsigned long long *ended) {
    struct rusage ru;
    int st;
    pid_t pid;
    while ((pid = wait4(-1, &st, WNOHANG, &ru)) > 0) {
        add_usage(all, &ru);
        if (pid == command) { *status = st; *done = 1; *ended = now_ns(); add_usage(cmd, &ru); }
    }
}

/* The parent of `pid`, from /proc/PID/stat (its comm may hold spaces and parentheses: the
 * fields start after the last ')'); -1 when it is gone or already dead (a zombie). */
static pid_t parent_of(pid_t pid) {
    char path[64], text[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t got = read(fd, text, sizeof text - 1);
    close(fd);
    if (got <= 0) return -1;
    text[got] = '\0';
    char *close_paren = strrchr(text, ')');
    int ppid;
    char state;
    if (!close_paren || sscanf(close_paren + 1, " %c %d", &state, &ppid) != 2) return -1;
    return state == 'Z' || state == 'X' ? -1 : (pid_t)ppid;
}

/* Send `sig` to every process below the probe except `spare` and its own descendants (the
 * background helper, stopped on its own). Daemons that called setsid are still below the
 * probe: it is their subreaper. Returns how many were signalled; -1 without /proc. */
static int signal_descendants(int sig, pid_t spare) {
    static pid_t pids[32768], parents[32768];
    int n = 0, hit = 0;
    DIR *dir = opendir("/proc");
    if (!dir) return -1;
    for (struct dirent *e; (e = readdir(dir)) && n < 32768;) {
        pid_t pid = (pid_t)atoi(e->d_name);
        if (pid <= 0 || pid == getpid()) continue;
        pid_t ppid = parent_of(pid);
        if (ppid > 0) { pids[n] = pid; parents[n++] = ppid; }
    }
    closedir(dir);
    for (int i = 0; i < n; i++) {
        pid_t up = pids[i];  /* walk up: below us, and not through `spare`? */
        int depth = 0, mine = 0;
        while (up > 0 && depth++ < 64) {
            if (up == spare) break;
            pid_t next = -1;
            for (int j = 0; j < n; j++) if (pids[j] == up) { next = parents[j]; break; }
            if (next == getpid()) { mine = 1; break; }
            up = next;
        }
        if (mine && kill(pids[i], sig) == 0) hit++;
    }
    return hit;
}

/* The command's whole tree killed: SIGKILL until nothing is left below the probe (but the
 * helper), so a process that forks as it dies is caught on the next pass. */
static void kill_tree(pid_t command, pid_t spare) {
    if (command > 0) kill(command, SIGKILL);
    for (int pass = 0; pass < 100 && signal_descendants(SIGKILL, spare) > 0; pass++) usleep(2000);
}

static void stop_child(pid_t pid, struct usage *all) {
    struct rusage ru;
    int st;
    kill(pid, SIGTERM);
    for (int i = 0; i < 200; i++) {
        if (wait4(pid, &st, WNOHANG, &ru) == pid) { add_usage(all, &ru); return; }
        usleep(10000);
    }
    kill(pid, SIGKILL);
    if (wait4(pid, &st, 0, &ru) == pid) add_usage(all, &ru);
}

static pid_t start_background(const struct spec *s, struct stream *bg_out, struct stream *bg_err) {
    int out[2], err[2];
    char *argv[SPEC_MAX + 1];
    memcpy(argv, s->bg, sizeof argv);
    argv[s->bgc] = NULL;
    pid_t pid = start_child(s, argv, out, err);
    if (pid < 0) return pid;
    bg_out->fd = out[0];
    bg_err->fd = err[0];
    if (!s->bg_port) return pid;
    unsigned long long deadline = now_ns() + 30000000000ull;
    while (!port_answers(s->bg_port, s, 0)) {
        struct pollfd p[2] = {{.fd = bg_out->fd, .events = POLLIN}, {.fd = bg_err->fd, .events = POLLIN}};
        if (poll(p, 2, 5) > 0) {
            if (p[0].revents && bg_out->fd >= 0) forward(bg_out);
            if (p[1].revents && bg_err->fd >= 0) forward(bg_err);
        }
        if (now_ns() > deadline || waitpid(pid, NULL, WNOHANG) == pid) {
            emit("BENCH-ERROR the background helper never answered on port %ld", s->bg_port);
            return -2;
        }
    }
    return pid;
}

/* The command's end: everything it and its helper printed forwarded, every child reaped. */
static void finish(pid_t bg, struct stream *bg_out, struct stream *bg_err, int *status, int *done,
                   struct usage *cmd, struct usage *all, unsigned long long *ended) {
    if (bg > 0) stop_child(bg, all);
    while (bg_out->fd >= 0) forward(bg_out);
    while (bg_err->fd >= 0) forward(bg_err);
    reap(-1, status, done, cmd, all, ended);
}

static int supervise(int argc, char **argv, int is_init) {
    static struct spec s;
    static struct stream out = {.fd = -1, .prefix = "BENCH-OUT", .watched = 1};
    static struct stream err = {.fd = -1, .prefix = "BENCH-ERR", .watched = 1};
    static struct stream bg_out = {.fd = -1, .prefix = "BENCH-BG"}, bg_err = {.fd = -1, .prefix = "BENCH-BG"};
    if (read_spec(argc, argv, &s) != 0) return 2;
    if (s.argc == 0) { emit("BENCH-ERROR the spec names no command (arg=...)"); return 2; }
    s.argv[s.argc] = NULL;
    s.env[s.envc] = NULL;
    if (is_init && setup_guest(&s) != 0) return 1;
    console_out_of_reach = is_init;
    if (s.ready_line) {
        if (regcomp(&ready_re, s.ready_line, REG_EXTENDED | REG_NOSUB) != 0) {
            emit("BENCH-ERROR ready_line is not an extended regex");
            return 2;
        }
        ready_re_set = 1;
    }
    /* a port that answers before its server started would answer for someone else */
    long ports[2] = {s.bg_port, s.ready_port};
    for (int i = 0; i < 2; i++)
        if (ports[i] && port_answers(ports[i], &s, 0)) {
            emit("BENCH-ERROR port %ld on 127.0.0.1 already answers before the server started", ports[i]);
            return 1;
        }
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    struct usage cmd = {0}, all = {0};
    pid_t bg = s.bgc ? start_background(&s, &bg_out, &bg_err) : 0;
    if (bg < 0) return 1;
    int pipes_out[2], pipes_err[2], status = 0, done = 0, stopped = 0, responded = 0;
    unsigned long long started = now_ns(), ended = started;
    pid_t pid = start_child(&s, s.argv, pipes_out, pipes_err);
    if (pid < 0) {
        if (pid == -1) emit("BENCH-ERROR cannot start the command: %s", strerror(errno));
        finish(bg, &bg_out, &bg_err, &status, &done, &cmd, &all, &ended);
        return 127;
    }
    out.fd = pipes_out[0];
    err.fd = pipes_err[0];
    emit("BENCH-STARTED");
    int server = s.ready_port || s.ready_line;
    /* timeout <= TIMEOUT_MAX_S (read_spec): the product cannot wrap */
    unsigned long long deadline = s.timeout > 0 ? started + (unsigned long long)s.timeout * 1000000000ull : 0;
    unsigned long long stop_asked = 0;
    struct stream *streams[4] = {&out, &err, &bg_out, &bg_err};
    while (!done || out.fd >= 0 || err.fd >= 0) {
        if (done && now_ns() > ended + 2000000000ull) {  /* a daemonized grandchild holds them */
            for (int i = 0; i < 2; i++) if (streams[i]->fd >= 0) { close(streams[i]->fd); streams[i]->fd = -1; }
            break;
        }
        struct pollfd p[4];
        for (int i = 0; i < 4; i++) p[i] = (struct pollfd){.fd = streams[i]->fd, .events = POLLIN};
        if (poll(p, 4, server && !responded ? 1 : 50) > 0)
            for (int i = 0; i < 4; i++)
                if (p[i].fd >= 0 && p[i].revents) forward(streams[i]);
        flush_forwarded();
        if (!responded && !done && ((s.ready_line && ready_line_seen) ||
                                    (s.ready_port && port_answers(s.ready_port, &s, 1)))) {
            responded = 1;
            emit("BENCH-RESPONSE");
        }
        if (server && responded && !stopped && !done) { kill(pid, SIGTERM); stopped = 1; }
        if (deadline && !done && !stopped && now_ns() > deadline) {
            emit("BENCH-ERROR the command ran past its timeout of %ld s: killed", s.timeout);
            kill_tree(pid, bg);  /* the whole tree: a grandchild would hold the pipes, or run on */
            stopped = 2;
        }
        if (stop_requested && !done && !stopped) {  /* politely first, the whole tree */
            kill(pid, SIGTERM);
            signal_descendants(SIGTERM, bg);
            stopped = 3;
            stop_asked = now_ns();
        }
        if (stopped == 3 && stop_asked && now_ns() > stop_asked + STOP_GRACE_NS) {
            kill_tree(done ? 0 : pid, bg);  /* it ignored SIGTERM: the grace is over */
            stop_asked = 0;
        }
        int was_done = done;
        reap(pid, &status, &done, &cmd, &all, &ended);
        if (done && !was_done) emit("BENCH-EXITED");
    }
    finish(bg, &bg_out, &bg_err, &status, &done, &cmd, &all, &ended);
    int exited = WIFEXITED(status), sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    emit("BENCH-COMMAND status=%d signal=%d stopped=%d wall_ns=%llu user_ns=%llu sys_ns=%llu "
         "maxrss_kb=%ld all_user_ns=%llu all_sys_ns=%llu all_maxrss_kb=%ld",
         exited ? WEXITSTATUS(status) : -1, sig, stopped, ended - started, cmd.user_ns, cmd.sys_ns,
         cmd.maxrss_kb, all.user_ns, all.sys_ns, all.maxrss_kb);
    if (stopped == 1) return 0;  /* a server stopped after its first answer, as asked */
    if (stopped == 2) return 124;
    return exited ? WEXITSTATUS(status) : 128 + sig;
}

/* As a guest's init there is nothing mounted and nobody to exit to. The kernel shares the
 * serial console with the probe: from here on only emergencies may print there, or a late
 * kernel message (crng init, a driver probing) lands inside one of the probe's lines. */
static void init_guest(void) {
    klogctl(8 /* SYSLOG_ACTION_CONSOLE_LEVEL */, NULL, 1);
    mount("proc", "/proc", "proc", 0, NULL);
    mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
    mount("tmpfs", "/tmp", "tmpfs", 0, NULL);
}

/* A guest's init leaves by powering off, or by a reset where it was told to (end=reboot). */
static void leave_guest(int argc, char **argv) {
    int reset = 0;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "end=reboot") == 0) reset = 1;
    sync();
    reboot(reset ? RB_AUTOBOOT : RB_POWER_OFF);
}

int main(int argc, char **argv) {
    struct timespec boot = {0, 0};  /* first: the guest kernel's clock as /init begins */
    clock_gettime(CLOCK_BOOTTIME, &boot);
    own_channel();
    if (join_cgroups(argc, argv) != 0) return 1;
    /* A guest's init finds nothing mounted; PID 1 of a container already has /proc. */
    int is_init = getpid() == 1 && access("/proc/self", F_OK) != 0;
    open_target(argv[0]);
    const char *mode = argc > 1 && strchr(argv[1], '=') == NULL ? argv[1] : "ready";
    for (int i = 1; i < argc; i++)
        if (strncmp(argv[i], "mode=", 5) == 0) mode = argv[i] + 5;
    if (is_init) init_guest();

    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    emit("BENCH-READY %s", mode);
    if (is_init)
        emit("BENCH-GUEST-CLOCK boottime_ns=%llu",
             (unsigned long long)boot.tv_sec * 1000000000ull + (unsigned long long)boot.tv_nsec);
    report_meminfo();
    int status;
    if (strcmp(mode, "ready") == 0) {
        idle(arg_long(argc, argv, "idle", 600));
        status = 0;
    } else if (strcmp(mode, "syscall") == 0) {
        status = run_syscalls(arg_long(argc, argv, "batches", 30), arg_long(argc, argv, "calls", 20000),
                              arg_long(argc, argv, "warmup", 3));
    } else if (strcmp(mode, "command") == 0) {
        status = supervise(argc, argv, is_init);
        emit("BENCH-DONE %d", status);
        /* idle on, so the host reads the instance's counters before it stops it */
        idle(arg_long(argc, argv, "idle", 600));
        if (is_init) leave_guest(argc, argv);
        return status;
    } else if (strcmp(mode, "memtouch") == 0) {
        status = touch_memory(arg_long(argc, argv, "mib", 64));
        if (status == 0) idle(arg_long(argc, argv, "idle", 600));
    } else {
        emit("BENCH-ERROR unknown mode %s", mode);
        status = 2;
    }
    emit("BENCH-DONE %d", status);
    if (is_init) leave_guest(argc, argv);
    return status;
}
