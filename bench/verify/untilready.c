/*
 * untilready: run a command and exit the moment its output carries the probe's ready line.
 *
 * It lets a timer that only sees a process exit (hyperfine) time a launch to the same end
 * point bench uses: the host reading BENCH-READY. The launch goes on after this exits
 * (the probe prints a few more lines and leaves, a guest powers off, docker removes its
 * container); the next launch waits until it is over (`--wait`, hyperfine's --prepare).
 *
 *   untilready [--pidfile FILE] [--quiet MS] COMMAND [ARG...]
 *                                                  exit 0 at the ready line, 1 if the
 *                                                  output ends without one, 2 on misuse;
 *                                                  with --quiet, MS milliseconds pass
 *                                                  between our own start and the command's
 *                                                  (see below)
 *   untilready --wait FILE [--settle MS]           wait until the process named in FILE
 *                                                  (a previous launch) is gone, then MS
 *                                                  milliseconds more (a launch that follows
 *                                                  a pause, as each of bench's does, not one
 *                                                  run straight after the last, with every
 *                                                  cache warm), then a random part of one
 *                                                  kernel tick, uniform (as bench's pause
 *                                                  ends: bench/tick.py, which says why)
 *   untilready --ready                             print a ready line and exit: timing
 *                                                  `untilready untilready --ready` against
 *                                                  `untilready --ready` gives our own cost
 *
 * Static, so its own start-up is one exec of a small file, the same on every run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define READY "BENCH-READY"
extern char **environ;
#define WAIT_LIMIT_NS 120000000000LL

static long read_pid(const char *pidfile) {
    FILE *f = fopen(pidfile, "r");
    if (!f) return -1;  /* no earlier launch */
    long pid = 0;
    int got = fscanf(f, "%ld", &pid);
    fclose(f);
    return got == 1 ? pid : 0;  /* 0: the launch has not written its pid yet */
}

/* Alive and not a zombie: an orphaned launch is reaped by whatever init the host has,
 * which may take its time (a second here), but it has finished once it is a zombie. */
static int running(long pid) {
    char path[64], stat[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(stat, 1, sizeof stat - 1, f);
    fclose(f);
    stat[n] = '\0';
    const char *end = strrchr(stat, ')');
    return end && end[1] == ' ' && end[2] != 'Z';
}

/* A random part of one kernel tick (the coarse clock's resolution, 1/HZ), uniform, in ns. */
static long tick_part_ns(void) {
    struct timespec tick;
    unsigned int draw;
    if (clock_getres(CLOCK_MONOTONIC_COARSE, &tick) != 0) return 0;
    if (getrandom(&draw, sizeof draw, 0) != (ssize_t)sizeof draw)
        draw = (unsigned int)getpid() * 2654435761u;  /* no entropy yet: any spread will do */
    unsigned long long tick_ns = (unsigned long long)tick.tv_sec * 1000000000ULL + (unsigned long long)tick.tv_nsec;
    return (long)(((unsigned long long)draw * tick_ns) >> 32);
}

static int wait_gone(const char *pidfile, long settle_ms) {
    struct timespec step = {0, 1000000};
    long long waited = 0;
    long pid;
    while ((pid = read_pid(pidfile)) == 0 && waited < WAIT_LIMIT_NS) {
        nanosleep(&step, NULL);
        waited += step.tv_nsec;
    }
    while (pid > 0 && running(pid)) {
        if ((waited += step.tv_nsec) > WAIT_LIMIT_NS) {
            fprintf(stderr, "untilready: %ld still runs\n", pid);
            return 1;
        }
        nanosleep(&step, NULL);
    }
    long long settle_ns = settle_ms * 1000000LL + tick_part_ns();
    struct timespec settle = {(time_t)(settle_ns / 1000000000LL), (long)(settle_ns % 1000000000LL)};
    nanosleep(&settle, NULL);
    return 0;
}

/* Reads the command's output until a line starts with READY: 0 when one did, 1 when the
 * output ended first. Whatever follows in the same read is left in the pipe. */
static int until_ready(int out) {
    char buf[4096];
    size_t line_pos = 0;  /* bytes of the current line compared so far */
    int matching = 1;
    ssize_t n;
    while ((n = read(out, buf, sizeof buf)) != 0) {
        if (n < 0) { if (errno == EINTR) continue; return 1; }
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] == '\n') { line_pos = 0; matching = 1; continue; }
            if (!matching || line_pos >= strlen(READY)) continue;
            matching = buf[i] == READY[line_pos++];
            if (matching && line_pos == strlen(READY)) return 0;
        }
    }
    return 1;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--wait") == 0) return wait_gone(argv[2], 0);
    if (argc == 5 && strcmp(argv[1], "--wait") == 0 && strcmp(argv[3], "--settle") == 0)
        return wait_gone(argv[2], atol(argv[4]));
    if (argc == 2 && strcmp(argv[1], "--ready") == 0)
        return write(STDOUT_FILENO, READY " calibration\n", sizeof READY " calibration\n" - 1) > 0 ? 0 : 1;
    int first = 1, pidfd = -1;
    if (argc > 2 && strcmp(argv[1], "--pidfile") == 0) {
        pidfd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        first = 3;
    }
    long quiet_ms = 0;
    if (argc > first + 1 && strcmp(argv[first], "--quiet") == 0) {
        quiet_ms = atol(argv[first + 1]);
        first += 2;
    }
    if (first >= argc) { fprintf(stderr, "usage: untilready [--pidfile FILE] [--quiet MS] COMMAND [ARG...]\n"); return 2; }
    /* The instrument never waits for a CPU: on a busy host a process this young queues
     * behind every task that ran longer, and its read of the ready line would time the
     * host's run queue, not the launch. The command gets the ordinary policy back (below),
     * so it waits for a CPU exactly as one bench spawns does. Not allowed: measure as we are. */
    struct sched_param fifo = {.sched_priority = 1};
    sched_setscheduler(0, SCHED_FIFO, &fifo);

    /* The read end stays open in the command too (no O_CLOEXEC): once we are gone it still
     * has a reader, so what it writes after the ready line fills the pipe's buffer instead
     * of failing, and no second process of ours is needed to drain it. */
    int out[2];
    if (pipe(out) != 0) { perror("untilready: pipe"); return 2; }
    fcntl(out[1], F_SETFD, FD_CLOEXEC);
    fcntl(out[1], F_SETPIPE_SZ, 1 << 20);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDERR_FILENO);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    struct sched_param normal = {.sched_priority = 0};
    posix_spawnattr_setschedpolicy(&attr, SCHED_OTHER);
    posix_spawnattr_setschedparam(&attr, &normal);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSCHEDULER);
    /* Our own start (the exec hyperfine made, the switch to SCHED_FIFO) leaves the kernel
     * work to finish in an RCU grace period or two. A launch that waits for a grace period
     * of its own right away (lxc-start's first write to cgroup.procs, 2 ms after its exec)
     * waits for ours as well if it is still running: lxc-start to ready took 21-26 ms
     * spawned at once, 13-15 ms after 60 ms here, as when Python spawns it. --quiet lets
     * that pass before the command starts; the calibration waits the same, so the wait is
     * part of our own cost, taken off. */
    if (quiet_ms > 0) {
        struct timespec quiet = {quiet_ms / 1000, (quiet_ms % 1000) * 1000000L};
        nanosleep(&quiet, NULL);
    }
    pid_t command;
    int failed = posix_spawnp(&command, argv[first], &actions, &attr, argv + first, environ);
    if (failed) { fprintf(stderr, "untilready: cannot run %s: %s\n", argv[first], strerror(failed)); return 1; }
    close(out[1]);
    if (pidfd >= 0) { dprintf(pidfd, "%ld\n", (long)command); close(pidfd); }
    return until_ready(out[0]);
}
