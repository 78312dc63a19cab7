/*
 * gmr-report - ask a running process that runs libgmr for a Guru
 * Meditation Report, and print it on standard output. See gmr-report(1).
 *
 * It asks over the process's control channel (channel.h): the abstract
 * unix socket @gmr-<pid>, served by libgmr's watcher thread. It sends no
 * signal and touches no file, so it cannot set off what a host does with
 * its own signals (PostgreSQL's and nginx's SIGUSR2), and it does not read
 * /proc/PID/environ (hosts rewrite it).
 *
 * --tree asks PID and each of its descendants, in the order of a walk of
 * the process tree; those that do not run libgmr are named on stderr and
 * skipped.
 */
#include "channel.h"
#include "proctree.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PROCS 4096

enum status { OK = 0, CANNOT_ASK = 1, USAGE = 2, TIMED_OUT = 3 };

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

/* The answer's first line: "ok <length>" and exactly that many bytes
   after it. Returns the length of that line, 0 if the answer is not a
   whole report. */
static size_t whole_report(const char *answer, size_t len)
{
    const char *nl = memchr(answer, '\n', len);
    unsigned long long want;
    char *end;

    if (!nl || strncmp(answer, "ok ", 3))
        return 0;
    want = strtoull(answer + 3, &end, 10);
    if (end != nl || want != len - (size_t)(nl + 1 - answer))
        return 0;
    return (size_t)(nl + 1 - answer);
}

/* Asks one process. The report is *report + *skip, *len bytes in all.
   `quiet`: say nothing of a process that does not run libgmr. */
static enum channel_result ask(pid_t pid, const struct options *o, int quiet, char **report,
                               size_t *skip, size_t *len)
{
    enum channel_result r;
    char why[320];

    r = channel_ask(pid, o->json ? "report json" : "report text", o->timeout_ms, report, len, why,
                    sizeof(why));
    if (r == CHANNEL_OK && !(*skip = whole_report(*report, *len))) {
        if (!strncmp(*report, "ok ", 3))
            fprintf(stderr, "gmr-report: process %d: the report was cut off\n", (int)pid);
        else if (*len)
            fprintf(stderr, "gmr-report: process %d: %.*s\n", (int)pid, (int)strcspn(*report, "\n"),
                    *report); /* "error: <why>" */
        else
            fprintf(stderr, "gmr-report: process %d closed the connection without a report\n",
                    (int)pid);
        free(*report);
        *report = NULL;
        return CHANNEL_REFUSED;
    }
    if (r != CHANNEL_OK && !(r == CHANNEL_NONE && quiet))
        fprintf(stderr, "gmr-report: %s\n", why);
    return r;
}

static enum status status_of(enum channel_result r)
{
    return r == CHANNEL_OK ? OK : r == CHANNEL_TIMED_OUT ? TIMED_OUT : CANNOT_ASK;
}

static int ask_tree(pid_t root, const struct options *o)
{
    static pid_t pids[MAX_PROCS];
    size_t n, i, printed = 0;
    int timed_out = 0;

    if (!proc_exists(root)) {
        fprintf(stderr, "gmr-report: no process %d\n", (int)root);
        return CANNOT_ASK;
    }
    n = proc_tree(root, pids, MAX_PROCS);
    if (o->json)
        fputs("[\n", stdout);
    for (i = 0; i < n; i++) {
        enum channel_result r;
        char name[64], *report;
        size_t skip, len;

        r = ask(pids[i], o, 1, &report, &skip, &len);
        proc_name(pids[i], name, sizeof(name));
        if (r == CHANNEL_NONE)
            fprintf(stderr, "gmr-report: pid %d (%s) does not run libgmr: skipped\n", (int)pids[i],
                    name);
        timed_out |= r == CHANNEL_TIMED_OUT;
        if (r != CHANNEL_OK)
            continue;
        if (o->json)
            fputs(printed ? ",\n" : "", stdout);
        else
            printf("%s==> pid %d (%s) <==\n", printed ? "\n" : "", (int)pids[i], name);
        fwrite(report + skip, 1, len - skip, stdout);
        free(report);
        printed++;
    }
    if (o->json)
        fputs("]\n", stdout);
    if (printed)
        return OK;
    if (!timed_out)
        fprintf(stderr, "gmr-report: no process of the tree of %d runs libgmr\n", (int)root);
    return timed_out ? TIMED_OUT : CANNOT_ASK;
}

static int parse_options(int argc, char **argv, struct options *o, pid_t *pid)
{
    int i;

    o->json = o->tree = 0;
    o->timeout_ms = 30000;
    for (i = 1; i < argc && argv[i][0] == '-'; i++) {
        char *end;
        double s;

        if (!strcmp(argv[i], "--json")) {
            o->json = 1;
        } else if (!strcmp(argv[i], "--tree")) {
            o->tree = 1;
        } else if (!strcmp(argv[i], "--timeout") && i + 1 == argc) {
            fprintf(stderr, "gmr-report: --timeout needs a number of seconds\n");
            return -1;
        } else if (!strcmp(argv[i], "--timeout") && i + 1 < argc) {
            s = strtod(argv[++i], &end);
            if (end == argv[i] || *end || !(s > 0 && s <= 86400)) {
                fprintf(stderr, "gmr-report: not a number of seconds: %s\n", argv[i]);
                return -1;
            }
            o->timeout_ms = s * 1000 < 1 ? 1 : (int)(s * 1000);
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
    if (proc_parse_pid(argv[i], pid) < 0) {
        fprintf(stderr, "gmr-report: not a process id: %s\n", argv[i]);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    enum channel_result r;
    struct options o;
    size_t skip, len;
    char *report;
    pid_t pid;

    if (parse_options(argc, argv, &o, &pid) < 0)
        return USAGE;
    if (o.tree)
        return ask_tree(pid, &o);
    r = ask(pid, &o, 0, &report, &skip, &len);
    if (r == CHANNEL_OK) {
        fwrite(report + skip, 1, len - skip, stdout);
        free(report);
    }
    return status_of(r);
}
