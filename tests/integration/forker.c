/*
 * forker: a test-only helper for the native runtime's pids limit (the probe has no fork mode).
 *
 * Run as PID 1 of an instance: prints "BENCH-READY forker", forks children that just wait,
 * until want=N forks succeeded or fork failed, prints "FORKER forked=<n> errno=<e>", then
 * idles until EOF on stdin. Its exit, as PID 1 of the pid namespace, takes the children.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    long want = 100;
    for (int i = 1; i < argc; i++)
        if (strncmp(argv[i], "want=", 5) == 0) want = atol(argv[i] + 5);
    dprintf(STDOUT_FILENO, "BENCH-READY forker\n");
    long forked = 0;
    int error = 0;
    for (; forked < want; forked++) {
        pid_t pid = fork();
        if (pid < 0) { error = errno; break; }
        if (pid == 0) { for (;;) pause(); }
    }
    dprintf(STDOUT_FILENO, "FORKER forked=%ld errno=%d\n", forked, error);
    char c;
    while (read(STDIN_FILENO, &c, 1) > 0) continue;
    dprintf(STDOUT_FILENO, "BENCH-DONE 0\n");
    return 0;
}
