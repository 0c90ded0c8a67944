/*
 * cpu_levels: is a per-instance getppid "level" the instance's, or the CPU's at that moment?
 *
 * Usage: cpu_levels ROUNDS
 * Each round times, back to back on one thread, nine pairs of (a fixed user-space loop of
 * 20,000 dependent multiply-adds, then 2,000 getppid calls) and prints the medians: getppid
 * in ns per call and the loop in ns per iteration. The loop enters no kernel, touches no
 * memory and is the same code every round, so its speed is the CPU's speed at that moment
 * (its clock, or a sibling or the hypervisor sharing its core). If the getppid levels move
 * with it, they come from the CPU, not from the instance or the harness.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define PAIRS 9

static long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000L + t.tv_nsec;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 60;
    volatile unsigned long seed = 1;
    for (int round = 0; round < rounds; round++) {
        double calls[PAIRS], loop[PAIRS];
        for (int k = 0; k < PAIRS; k++) {
            long t0 = now_ns();
            unsigned long y = seed;
            for (int i = 0; i < 20000; i++) y = y * 6364136223846793005UL + 1442695040888963407UL;
            seed = y;
            long t1 = now_ns();
            for (int i = 0; i < 2000; i++) syscall(SYS_getppid);
            long t2 = now_ns();
            loop[k] = (t1 - t0) / 20000.0;
            calls[k] = (t2 - t1) / 2000.0;
        }
        qsort(calls, PAIRS, sizeof calls[0], by_value);
        qsort(loop, PAIRS, sizeof loop[0], by_value);
        printf("%.2f %.4f\n", calls[PAIRS / 2], loop[PAIRS / 2]);
    }
    return 0;
}
