/* A probe that crashes right after saying it is ready: the runner must record why. */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

int main(void) {
    static const char line[] = "BENCH-READY ready\n";
    if (write(1, line, sizeof line - 1) < 0) return 1;
    raise(SIGSEGV);
    return 0;
}
