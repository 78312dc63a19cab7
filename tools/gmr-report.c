/*
 * gmr-report - ask a running process that runs libgmr for a Guru
 * Meditation Report, and print it on standard output. See gmr-report(1).
 *
 * It asks over the process's control channel (src/control.h): the
 * abstract unix socket @gmr-<pid>, served by libgmr's watcher thread. It
 * sends no signal and touches no file, so it cannot set off what a host
 * does with its own signals (PostgreSQL's and nginx's SIGUSR2), and it
 * does not read /proc/PID/environ (hosts rewrite it). The peer's pid,
 * from SO_PEERCRED, must be the one asked for: nothing else may answer in
 * its name.
 *
 * --tree asks PID and each of its descendants, in the order of a walk of
 * the process tree; those that do not run libgmr are named on stderr and
 * skipped.
 */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define NAME_PREFIX "gmr-" /* src/control.h */
#define MAX_PROCS   4096
#define START_MS    2000

enum status { OK = 0, CANNOT_ASK = 1, USAGE = 2, TIMED_OUT = 3, NO_CHANNEL = 4 /* internal */ };

struct options {
    int json;
    int tree;
    int timeout_ms;
};

static void usage(FILE *out)
{
    fputs("usage: gmr-report [--json] [--tree] [--timeout SECONDS] PID\n"
          "\n"
          "Asks process PID, which runs with libgmr, for a Guru Meditation Report\n"
          "over its control channel and prints it on standard output. No signal is\n"
          "sent and no file is touched.\n"
          "\n"
          "  --json             the report as JSON (default: text)\n"
          "  --tree             PID and every descendant that runs libgmr, one report\n"
          "                     each (text: under a '==> pid N (name) <==' line; JSON:\n"
          "                     an array of reports)\n"
          "  --timeout SECONDS  how long to wait for each report (default 30)\n"
          "  -h, --help         this help\n"
          "\n"
          "exit status: 0 report printed, 1 the process cannot be asked (no such\n"
          "process, no libgmr, not allowed), 2 usage, 3 no report within the timeout.\n",
          out);
}

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int parse_pid(const char *s, pid_t *pid)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end || v <= 0 || v > 0x3fffffff)
        return -1;
    *pid = (pid_t)v;
    return 0;
}

/* The process's name from /proc/PID/comm, for messages. */
static void process_name(pid_t pid, char *out, size_t len)
{
    char path[64];
    FILE *f;

    snprintf(out, len, "?");
    snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
    f = fopen(path, "re");
    if (!f)
        return;
    if (fgets(out, (int)len, f))
        out[strcspn(out, "\n")] = '\0';
    fclose(f);
}

/* Has the process mapped a libgmr? (Its watcher may not be listening yet:
   it starts with the process.) */
static int maps_libgmr(pid_t pid)
{
    char path[64], line[4096];
    int found = 0;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
    f = fopen(path, "re");
    if (!f)
        return 0;
    while (!found && fgets(line, sizeof(line), f)) {
        const char *name = strrchr(line, '/');
        found = name && !strncmp(name, "/libgmr", 7) && strstr(name, ".so");
    }
    fclose(f);
    return found;
}

static int process_exists(pid_t pid)
{
    char path[64];

    snprintf(path, sizeof(path), "/proc/%d", (int)pid);
    return access(path, F_OK) == 0;
}

/* connect(), again for up to START_MS while a process with libgmr has no
   channel yet (it was just started). */
static int connect_soon(int fd, const struct sockaddr_un *sa, socklen_t alen, pid_t pid)
{
    long long deadline = now_ms() + START_MS;
    struct timespec pause = {0, 10 * 1000000};

    while (connect(fd, (const struct sockaddr *)sa, alen) < 0) {
        int err = errno;

        if (err != ECONNREFUSED || now_ms() > deadline || !maps_libgmr(pid)) {
            errno = err;
            return -1;
        }
        nanosleep(&pause, NULL);
    }
    return 0;
}

/* Connects to PID's channel; -1 with a message in why, and *none set if
   the process has no channel at all. */
static int connect_to(pid_t pid, char *why, size_t len, int *none)
{
    struct sockaddr_un sa;
    struct ucred cred;
    socklen_t clen = sizeof(cred), alen;
    int fd, n;

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    n = snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1, NAME_PREFIX "%d", (int)pid);
    alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(why, len, "cannot make a socket: %s", strerror(errno));
        return -1;
    }
    if (connect_soon(fd, &sa, alen, pid) < 0) {
        if (!process_exists(pid))
            snprintf(why, len, "no process %d", (int)pid);
        else if (errno == ECONNREFUSED && maps_libgmr(pid))
            snprintf(why, len,
                     "process %d runs libgmr, but its control channel does not answer (its "
                     "stderr may say why, on a line that starts with gmr:)",
                     (int)pid);
        else if ((*none = errno == ECONNREFUSED || errno == ENOENT))
            snprintf(why, len,
                     "process %d does not run libgmr (no control channel @%s%d; or it runs in "
                     "another network namespace: run gmr-report there)",
                     (int)pid, NAME_PREFIX, (int)pid);
        else
            snprintf(why, len, "cannot reach process %d: %s", (int)pid, strerror(errno));
        goto fail;
    }
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0 || cred.pid != pid) {
        snprintf(why, len, "@%s%d is not served by process %d (but by %d): not asking it",
                 NAME_PREFIX, (int)pid, (int)pid, (int)cred.pid);
        goto fail;
    }
    return fd;
fail:
    close(fd);
    return -1;
}

/* Reads into buf until EOF or the deadline: 0, or -1 on timeout/error. */
static int read_all(int fd, char **buf, size_t *len, long long deadline)
{
    size_t cap = 65536;

    *len = 0;
    *buf = malloc(cap);
    if (!*buf)
        return -1;
    for (;;) {
        struct pollfd pfd = {fd, POLLIN, 0};
        long long left = deadline - now_ms();
        ssize_t n;

        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
            return -1;
        if (*len == cap) {
            char *grown = realloc(*buf, cap * 2);
            if (!grown)
                return -1;
            *buf = grown;
            cap *= 2;
        }
        n = read(fd, *buf + *len, cap - *len);
        if (n < 0 && errno == EINTR)
            continue;
        /* A refusal closes before our request was read: the reset comes
           after what was sent to us. */
        if (n == 0 || (n < 0 && errno == ECONNRESET))
            return 0;
        if (n < 0)
            return -1;
        *len += (size_t)n;
    }
}

/* Asks one process; the report (without the "ok" line) in *report.
   NO_CHANNEL (nothing said) if it does not run libgmr and quiet is set. */
static enum status ask(pid_t pid, const struct options *o, int quiet, char **report, size_t *len)
{
    const char *request = o->json ? "report json\n" : "report text\n";
    char why[256], *buf = NULL, *nl;
    enum status st = CANNOT_ASK;
    size_t n = 0;
    int none = 0, fd = connect_to(pid, why, sizeof(why), &none);

    *report = NULL;
    if (fd < 0 && none && quiet)
        return NO_CHANNEL;
    if (fd < 0) {
        fprintf(stderr, "gmr-report: %s\n", why);
        return CANNOT_ASK;
    }
    /* A refusal comes before the request is read: it is still there to read. */
    if (send(fd, request, strlen(request), MSG_NOSIGNAL) < 0 && errno != EPIPE &&
        errno != ECONNRESET) {
        fprintf(stderr, "gmr-report: cannot ask process %d: %s\n", (int)pid, strerror(errno));
        goto out;
    }
    if (read_all(fd, &buf, &n, now_ms() + o->timeout_ms) < 0) {
        fprintf(stderr, "gmr-report: no report from process %d within %d s\n", (int)pid,
                o->timeout_ms / 1000);
        st = TIMED_OUT;
        goto out;
    }
    nl = memchr(buf, '\n', n);
    if (n >= 3 && !memcmp(buf, "ok\n", 3)) {
        memmove(buf, buf + 3, n - 3);
        *report = buf;
        *len = n - 3;
        buf = NULL;
        st = OK;
    } else {
        fprintf(stderr, "gmr-report: process %d: %.*s\n", (int)pid,
                nl ? (int)(nl - buf) : (int)n, n ? buf : "closed the connection without a report");
    }
out:
    free(buf);
    close(fd);
    return st;
}

/* PID, then its descendants (breadth first), from the ppid in /proc/N/stat. */
static size_t tree(pid_t root, pid_t *out, size_t max)
{
    static pid_t pids[MAX_PROCS], parents[MAX_PROCS];
    size_t all = 0, n = 0, i, j;
    struct dirent *d;
    DIR *proc = opendir("/proc");

    while (proc && (d = readdir(proc)) && all < MAX_PROCS) {
        char path[300], stat[512], *close_paren;
        pid_t pid;
        int ppid;
        FILE *f;

        if (parse_pid(d->d_name, &pid) < 0)
            continue;
        snprintf(path, sizeof(path), "/proc/%s/stat", d->d_name);
        f = fopen(path, "re");
        if (!f)
            continue;
        close_paren = fgets(stat, sizeof(stat), f) ? strrchr(stat, ')') : NULL;
        fclose(f);
        if (close_paren && sscanf(close_paren + 1, " %*c %d", &ppid) == 1) {
            pids[all] = pid;
            parents[all++] = (pid_t)ppid;
        }
    }
    if (proc)
        closedir(proc);
    out[n++] = root;
    for (i = 0; i < n && n < max; i++)
        for (j = 0; j < all && n < max; j++)
            if (parents[j] == out[i])
                out[n++] = pids[j];
    return n;
}

static void print(const char *report, size_t len)
{
    fwrite(report, 1, len, stdout);
}

static int ask_tree(pid_t root, const struct options *o)
{
    static pid_t pids[MAX_PROCS];
    size_t n, i, printed = 0;
    int worst = OK;

    if (!process_exists(root)) {
        fprintf(stderr, "gmr-report: no process %d\n", (int)root);
        return CANNOT_ASK;
    }
    n = tree(root, pids, MAX_PROCS);
    if (o->json)
        fputs("[\n", stdout);
    for (i = 0; i < n; i++) {
        char name[64], *report;
        size_t len;
        enum status st = ask(pids[i], o, 1, &report, &len);

        process_name(pids[i], name, sizeof(name));
        if (st == NO_CHANNEL)
            fprintf(stderr, "gmr-report: pid %d (%s) does not run libgmr: skipped\n", (int)pids[i],
                    name);
        if (st == TIMED_OUT)
            worst = TIMED_OUT;
        if (st != OK)
            continue;
        if (o->json)
            fputs(printed ? ",\n" : "", stdout);
        else
            printf("%s==> pid %d (%s) <==\n", printed ? "\n" : "", (int)pids[i], name);
        print(report, len);
        free(report);
        printed++;
    }
    if (o->json)
        fputs("]\n", stdout);
    if (!printed && worst == OK)
        fprintf(stderr, "gmr-report: no process of the tree of %d runs libgmr\n", (int)root);
    return printed ? OK : worst == OK ? CANNOT_ASK : worst;
}

static int parse_options(int argc, char **argv, struct options *o, pid_t *pid)
{
    int i;

    o->json = o->tree = 0;
    o->timeout_ms = 30000;
    for (i = 1; i < argc && argv[i][0] == '-'; i++) {
        double s;
        char *end;

        if (!strcmp(argv[i], "--json")) {
            o->json = 1;
        } else if (!strcmp(argv[i], "--tree")) {
            o->tree = 1;
        } else if (!strcmp(argv[i], "--timeout") && i + 1 < argc) {
            s = strtod(argv[++i], &end);
            if (end == argv[i] || *end || !(s > 0 && s <= 86400)) {
                fprintf(stderr, "gmr-report: not a number of seconds: %s\n", argv[i]);
                return -1;
            }
            o->timeout_ms = (int)(s * 1000);
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            exit(OK);
        } else if (!strcmp(argv[i], "--")) {
            i++;
            break;
        } else {
            fprintf(stderr, "gmr-report: unknown option %s (try --help)\n", argv[i]);
            return -1;
        }
    }
    if (i + 1 != argc) {
        fprintf(stderr, "gmr-report: give one process id (try --help)\n");
        return -1;
    }
    if (parse_pid(argv[i], pid) < 0) {
        fprintf(stderr, "gmr-report: not a process id: %s\n", argv[i]);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct options o;
    char *report;
    size_t len;
    pid_t pid;
    int st;

    if (parse_options(argc, argv, &o, &pid) < 0)
        return USAGE;
    if (o.tree)
        return ask_tree(pid, &o);
    st = ask(pid, &o, 0, &report, &len);
    if (st == OK) {
        print(report, len);
        free(report);
    }
    return st;
}
