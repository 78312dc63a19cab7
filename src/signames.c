/*
 * signames.c - the table of Linux signal names.
 *
 * Names are matched case-insensitively, with or without the SIG prefix.
 * Real-time signals are written relative to SIGRTMIN or SIGRTMAX as glibc
 * reports them (glibc keeps the first two or three for itself).
 */
#include "signames.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct {
    const char *name;
    int sig;
} names[] = {
    {"HUP", SIGHUP},     {"INT", SIGINT},       {"QUIT", SIGQUIT},   {"ILL", SIGILL},
    {"TRAP", SIGTRAP},   {"ABRT", SIGABRT},     {"IOT", SIGIOT},     {"BUS", SIGBUS},
    {"FPE", SIGFPE},     {"KILL", SIGKILL},     {"USR1", SIGUSR1},   {"SEGV", SIGSEGV},
    {"USR2", SIGUSR2},   {"PIPE", SIGPIPE},     {"ALRM", SIGALRM},   {"TERM", SIGTERM},
    {"STKFLT", SIGSTKFLT}, {"CHLD", SIGCHLD},   {"CONT", SIGCONT},   {"STOP", SIGSTOP},
    {"TSTP", SIGTSTP},   {"TTIN", SIGTTIN},     {"TTOU", SIGTTOU},   {"URG", SIGURG},
    {"XCPU", SIGXCPU},   {"XFSZ", SIGXFSZ},     {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF},
    {"WINCH", SIGWINCH}, {"IO", SIGIO},         {"POLL", SIGPOLL},   {"PWR", SIGPWR},
    {"SYS", SIGSYS},
};

/* Parses a decimal in [0, 64]; returns -1 otherwise. */
static int small_number(const char *s)
{
    char *end;
    long v;

    if (*s < '0' || *s > '9')
        return -1;
    v = strtol(s, &end, 10);
    if (*end || v < 0 || v > 64)
        return -1;
    return (int)v;
}

static int parse_rt(const char *s)
{
    int base, n, sig;

    if (!strncasecmp(s, "RTMIN", 5))
        base = SIGRTMIN;
    else if (!strncasecmp(s, "RTMAX", 5))
        base = SIGRTMAX;
    else
        return -1;
    s += 5;
    if (!*s)
        return base;
    n = small_number(s + 1);
    if (n < 0)
        return -1;
    if (*s == '+')
        sig = base + n;
    else if (*s == '-')
        sig = base - n;
    else
        return -1;
    return sig >= SIGRTMIN && sig <= SIGRTMAX ? sig : -1;
}

int signal_parse(const char *spec)
{
    size_t i;
    int n;

    if (!strcasecmp(spec, "none"))
        return 0;
    n = small_number(spec);
    if (n >= 0)
        return n >= 1 && n <= SIGRTMAX ? n : -1;
    if (!strncasecmp(spec, "SIG", 3))
        spec += 3;
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (!strcasecmp(spec, names[i].name))
            return names[i].sig;
    return parse_rt(spec);
}

const char *signal_name(int sig, char *out, size_t len)
{
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (names[i].sig == sig) {
            snprintf(out, len, "%s", names[i].name);
            return out;
        }
    if (sig >= SIGRTMIN && sig <= SIGRTMAX) {
        if (sig - SIGRTMIN <= SIGRTMAX - sig)
            snprintf(out, len, "RTMIN+%d", sig - SIGRTMIN);
        else
            snprintf(out, len, "RTMAX-%d", SIGRTMAX - sig);
        return out;
    }
    snprintf(out, len, "%d", sig);
    return out;
}
