/*
 * probe: the only code that runs inside an instance.
 *
 * The same static binary is a plain child process, the init of a namespace
 * container, the entrypoint of a FROM-scratch image and the /init of a guest's
 * initramfs. It never timestamps an interval the host reports as boot time: it
 * only prints markers, and the host stamps their arrival with its own clock.
 *
 * Output, one record per line, parsed by bench/probe_output.py:
 *   BENCH-READY <mode>
 *   BENCH-MEMINFO MemTotal=<kB> MemAvailable=<kB>       (when /proc/meminfo is readable)
 *   BENCH-LOOP ns_per_iter=<float> calls=<n>             (empty-loop cost, syscall mode)
 *   BENCH-TARGET name=<file> fs=<magic hex>             (what open_close and stat reach)
 *   BENCH-SYSCALL <name> <batch> <ns_per_call>           (every measured batch)
 *   BENCH-IDLE                                          (entered the idle state)
 *   BENCH-ERROR <text>
 *   BENCH-DONE <exit status>
 *
 * Usage: probe MODE [key=value ...]
 *   ready     idle=SECONDS                 idle until SIGTERM, a byte or EOF on stdin, or timeout
 *   syscall   batches=N calls=N warmup=N  time each syscall in batches
 *   memtouch  mib=N idle=SECONDS           touch N MiB, then idle like ready
 * Arguments may also come as key=value in the kernel command line after "--".
 *
 * Syscall mode keeps every timing in memory and reports them only after the last batch:
 * a line written during the loop would wake the host's reader, which then competes with
 * the probe for its CPU (on a small host it preempts the very batch being timed). The
 * open_close and stat target is the probe's own file, reached by name from a descriptor
 * of its directory, so every runtime walks one path component whatever its layout.
 * As PID 1 of a guest (no parent to return to) it powers the machine off at the end.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop_requested;
/* open_close and stat reach the probe's own file as `target_name` in `target_dir` */
static int target_dir = AT_FDCWD;
static const char *target_name = "/probe";

static void on_signal(int sig) { (void)sig; stop_requested = 1; }

static unsigned long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
}

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
    ssize_t off = 0;
    while (off < n) {  /* unbuffered: the host stamps arrival, so nothing may wait in a buffer */
        ssize_t w = write(STDOUT_FILENO, line + off, (size_t)(n - off));
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return;
        off += w;
    }
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

/* ns per iteration of a batch of `calls` calls; the function pointer call is part of the loop cost. */
static double time_batch(call_fn fn, void *ctx, long calls) {
    unsigned long long start = now_ns();
    for (long i = 0; i < calls; i++) fn(ctx);
    return (double)(now_ns() - start) / (double)calls;
}

static double empty_loop_cost(long calls) {
    double best = 1e18;
    for (int i = 0; i < 20; i++) {
        double t = time_batch(call_nothing, NULL, calls);
        if (t < best) best = t;
    }
    return best;
}

/* Every call timed, in the order measured; the pipe is filled by `write` batches and
 * drained by the following `read` batches. */
static const struct { const char *name; call_fn fn; int io; } CALLS[] = {
    {"getppid", call_getppid, 0}, {"clock_gettime", call_clock_gettime, 0},
    {"write", call_write, 1},     {"read", call_read, 1},
    {"open_close", call_open_close, 0}, {"stat", call_stat, 0},
};
#define NCALLS (sizeof CALLS / sizeof CALLS[0])

/* Batches of one call, kept in `out` (warm-up batches are run and dropped); returns how
 * many were measured before a stop request. */
static long measure(call_fn fn, void *ctx, long batches, long calls, long warmup, double loop,
                    double *out) {
    long b;
    for (b = -warmup; b < batches && !stop_requested; b++) {
        double t = time_batch(fn, ctx, calls) - loop;
        if (b >= 0) out[b] = t;
    }
    return b < 0 ? 0 : b;
}

/* Lines gathered into large writes once measuring is over: a handful of wake-ups of the
 * host's reader instead of one per line. */
struct report { char buf[1 << 16]; size_t used; };

static void report_flush(struct report *r) {
    size_t off = 0;
    while (off < r->used) {
        ssize_t w = write(STDOUT_FILENO, r->buf + off, r->used - off);
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
    double loop = empty_loop_cost(calls);
    long done[NCALLS] = {0};
    for (size_t c = 0; c < NCALLS; c++)
        done[c] = measure(CALLS[c].fn, CALLS[c].io ? (void *)&io : NULL, batches, calls, warmup,
                          loop, timings + c * (size_t)batches);
    close(fds[0]);
    close(fds[1]);

    static struct report r;
    report_line(&r, "BENCH-LOOP ns_per_iter=%.3f calls=%ld", loop, calls);
    report_line(&r, "BENCH-TARGET name=%s fs=0x%lx", target_name, target_fs());
    for (size_t c = 0; c < NCALLS; c++)
        for (long b = 0; b < done[c]; b++)
            report_line(&r, "BENCH-SYSCALL %s %ld %.3f", CALLS[c].name, b, timings[c * (size_t)batches + b]);
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

/* As a guest's init there is nothing mounted and nobody to exit to. */
static void init_guest(void) {
    mount("proc", "/proc", "proc", 0, NULL);
    mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
    mount("tmpfs", "/tmp", "tmpfs", 0, NULL);
}

int main(int argc, char **argv) {
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
    report_meminfo();
    int status;
    if (strcmp(mode, "ready") == 0) {
        idle(arg_long(argc, argv, "idle", 600));
        status = 0;
    } else if (strcmp(mode, "syscall") == 0) {
        status = run_syscalls(arg_long(argc, argv, "batches", 30), arg_long(argc, argv, "calls", 20000),
                              arg_long(argc, argv, "warmup", 3));
    } else if (strcmp(mode, "memtouch") == 0) {
        status = touch_memory(arg_long(argc, argv, "mib", 64));
        if (status == 0) idle(arg_long(argc, argv, "idle", 600));
    } else {
        emit("BENCH-ERROR unknown mode %s", mode);
        status = 2;
    }
    emit("BENCH-DONE %d", status);
    if (is_init) {
        sync();
        reboot(RB_POWER_OFF);
    }
    return status;
}
