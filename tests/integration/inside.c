/*
 * inside: a test-only helper that says what an instance looks like from the inside, for
 * runtimes whose inside the host cannot read through /proc/<pid> (gVisor's processes live
 * in its own kernel) and for every other runtime alike.
 *
 * Run as an instance's process: prints "BENCH-READY inside", then one line
 *   INSIDE pid=<getpid> hostname=<name> ifaces=<a,b> capeff=<hex> capbnd=<hex> nnp=<0|1>
 *          rootro=<0|1> rootwrite=<errno of creating a file in />
 * and idles until EOF on stdin or SIGTERM, then prints "BENCH-DONE 0".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sys/prctl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void on_term(int signum) { (void)signum; stop = 1; }

/* The value of a "Key:\tvalue" line of /proc/self/status, or "?" */
static void status_field(const char *key, char *out, size_t size) {
    snprintf(out, size, "?");
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return;
    char line[256];
    size_t len = strlen(key);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, key, len) == 0 && line[len] == ':') {
            char *value = line + len + 1;
            value += strspn(value, " \t");
            value[strcspn(value, "\n")] = 0;
            snprintf(out, size, "%s", value);
            break;
        }
    }
    fclose(f);
}

int main(void) {
    dprintf(STDOUT_FILENO, "BENCH-READY inside\n");
    char host[256] = "?", ifaces[512] = "", capeff[64], capbnd[64];
    gethostname(host, sizeof host);
    struct if_nameindex *names = if_nameindex();
    for (struct if_nameindex *i = names; i && i->if_index; i++) {
        if (ifaces[0]) strncat(ifaces, ",", sizeof ifaces - strlen(ifaces) - 1);
        strncat(ifaces, i->if_name, sizeof ifaces - strlen(ifaces) - 1);
    }
    if (names) if_freenameindex(names);
    status_field("CapEff", capeff, sizeof capeff);
    status_field("CapBnd", capbnd, sizeof capbnd);
    int nnp = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
    struct statvfs root;
    int rootro = statvfs("/", &root) == 0 && (root.f_flag & ST_RDONLY);
    int fd = open("/inside-was-here", O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    int rootwrite = fd < 0 ? errno : 0;
    if (fd >= 0) { close(fd); unlink("/inside-was-here"); }
    dprintf(STDOUT_FILENO, "INSIDE pid=%d hostname=%s ifaces=%s capeff=%s capbnd=%s nnp=%d rootro=%d "
            "rootwrite=%d\n", getpid(), host, ifaces[0] ? ifaces : "none", capeff, capbnd, nnp,
            rootro, rootwrite);
    struct sigaction sa = {.sa_handler = on_term};
    sigaction(SIGTERM, &sa, NULL);
    char c;
    while (!stop && read(STDIN_FILENO, &c, 1) > 0) continue;
    dprintf(STDOUT_FILENO, "BENCH-DONE 0\n");
    return 0;
}
