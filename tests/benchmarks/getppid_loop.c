/* An independent reference for syscall.getppid: a plain loop of raw getppid syscalls,
 * sharing no code with the probe. It times BATCHES batches of N calls and prints the
 * median ns per call, because on a busy 2-core host a single long loop mostly measures
 * preemption (the probe reports batches for the same reason). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define BATCHES 21

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 20000;
    double per_call[BATCHES];
    for (int batch = 0; batch < BATCHES; batch++) {
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        for (long i = 0; i < n; i++) syscall(SYS_getppid);
        clock_gettime(CLOCK_MONOTONIC, &b);
        per_call[batch] = ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / (double)n;
    }
    qsort(per_call, BATCHES, sizeof per_call[0], by_value);
    printf("%.3f\n", per_call[BATCHES / 2]);
    return 0;
}
