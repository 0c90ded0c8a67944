/*
 * tsckhz: the host's TSC frequency in kHz, measured against CLOCK_MONOTONIC_RAW.
 *
 * A TCG guest's TSC is the host's (QEMU reads it for the guest's rdtsc), and a guest kernel
 * with no kvmclock, HPET or ACPI PM timer (a microvm) cannot time it reliably against the
 * PIT: handed this figure (tsc_early_khz=), it needs no calibration. Prints one number.
 */
#include <stdio.h>
#include <time.h>
#include <x86intrin.h>

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(void) {
    enum { ROUNDS = 5 };
    long long khz[ROUNDS];
    for (int round = 0; round < ROUNDS; round++) {  /* five 20 ms windows; the median of them */
        long long t0 = now_ns();                    /* is untouched by a preemption in one */
        unsigned long long c0 = __rdtsc();
        while (now_ns() - t0 < 20000000LL) {}
        long long t1 = now_ns();
        unsigned long long c1 = __rdtsc();
        khz[round] = (long long)((c1 - c0) * 1000000ULL / (unsigned long long)(t1 - t0));
        for (int i = round; i > 0 && khz[i] < khz[i - 1]; i--) {
            long long swap = khz[i]; khz[i] = khz[i - 1]; khz[i - 1] = swap;
        }
    }
    printf("%lld\n", khz[ROUNDS / 2]);
    return khz[ROUNDS / 2] > 0 ? 0 : 1;
}
