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
    {"HUP", SIGHUP},       {"INT", SIGINT},   {"QUIT", SIGQUIT},     {"ILL", SIGILL},
    {"TRAP", SIGTRAP},     {"ABRT", SIGABRT}, {"IOT", SIGIOT},       {"BUS", SIGBUS},
    {"FPE", SIGFPE},       {"KILL", SIGKILL}, {"USR1", SIGUSR1},     {"SEGV", SIGSEGV},
    {"USR2", SIGUSR2},     {"PIPE", SIGPIPE}, {"ALRM", SIGALRM},     {"TERM", SIGTERM},
    {"STKFLT", SIGSTKFLT}, {"CHLD", SIGCHLD}, {"CONT", SIGCONT},     {"STOP", SIGSTOP},
    {"TSTP", SIGTSTP},     {"TTIN", SIGTTIN}, {"TTOU", SIGTTOU},     {"URG", SIGURG},
    {"XCPU", SIGXCPU},     {"XFSZ", SIGXFSZ}, {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF},
    {"WINCH", SIGWINCH},   {"IO", SIGIO},     {"POLL", SIGPOLL},     {"PWR", SIGPWR},
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
    if (n >= 0) /* the C library keeps the numbers between SIGSYS and SIGRTMIN */
        return (n >= 1 && n <= SIGSYS) || (n >= SIGRTMIN && n <= SIGRTMAX) ? n : -1;
    if (!strncasecmp(spec, "SIG", 3))
        spec += 3;
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (!strcasecmp(spec, names[i].name))
            return names[i].sig;
    return parse_rt(spec);
}

/* Appends text to out (at *at), cut to fit. */
static void put(char *out, size_t len, size_t *at, const char *text)
{
    while (*text && *at + 1 < len)
        out[(*at)++] = *text++;
    out[*at] = '\0';
}

/* No stdio: a process's start (signals.c) and signal handlers name
   signals too. */
const char *signal_name(int sig, char *out, size_t len)
{
    char digits[16], *d = digits + sizeof(digits);
    unsigned v;
    size_t i, at = 0;

    if (!len)
        return out;
    out[0] = '\0';
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (names[i].sig == sig) {
            put(out, len, &at, names[i].name);
            return out;
        }
    if (sig >= SIGRTMIN && sig <= SIGRTMAX) {
        int near_min = sig - SIGRTMIN <= SIGRTMAX - sig;

        put(out, len, &at, near_min ? "RTMIN+" : "RTMAX-");
        sig = near_min ? sig - SIGRTMIN : SIGRTMAX - sig;
    } else if (sig < 0) {
        put(out, len, &at, "-");
    }
    v = sig < 0 ? 0u - (unsigned)sig : (unsigned)sig;
    *--d = '\0';
    do
        *--d = (char)('0' + v % 10);
    while (v /= 10);
    put(out, len, &at, d);
    return out;
}

const char *signal_fatal_name(int sig)
{
    switch (sig) {
    case SIGSEGV:
        return "SEGV";
    case SIGBUS:
        return "BUS";
    case SIGFPE:
        return "FPE";
    case SIGILL:
        return "ILL";
    case SIGABRT:
        return "ABRT";
    }
    return "?";
}

static const char *pick(const char *const *table, size_t n, int code)
{
    return code > 0 && (size_t)code < n ? table[code] : NULL;
}

static const char *fault_code_text(int sig, int code)
{
    static const char *const segv[] = {"", "SEGV_MAPERR: address not mapped to object",
                                       "SEGV_ACCERR: invalid permissions for mapped object",
                                       "SEGV_BNDERR: failed bounds check",
                                       "SEGV_PKUERR: protection key check failed"};
    static const char *const bus[] = {"",
                                      "BUS_ADRALN: invalid address alignment",
                                      "BUS_ADRERR: nonexistent physical address",
                                      "BUS_OBJERR: object-specific hardware error",
                                      "BUS_MCEERR_AR: machine check error, action required",
                                      "BUS_MCEERR_AO: machine check error, action optional"};
    static const char *const fpe[] = {"",
                                      "FPE_INTDIV: integer divide by zero",
                                      "FPE_INTOVF: integer overflow",
                                      "FPE_FLTDIV: floating-point divide by zero",
                                      "FPE_FLTOVF: floating-point overflow",
                                      "FPE_FLTUND: floating-point underflow",
                                      "FPE_FLTRES: floating-point inexact result",
                                      "FPE_FLTINV: floating-point invalid operation",
                                      "FPE_FLTSUB: subscript out of range"};
    static const char *const ill[] = {"",
                                      "ILL_ILLOPC: illegal opcode",
                                      "ILL_ILLOPN: illegal operand",
                                      "ILL_ILLADR: illegal addressing mode",
                                      "ILL_ILLTRP: illegal trap",
                                      "ILL_PRVOPC: privileged opcode",
                                      "ILL_PRVREG: privileged register",
                                      "ILL_COPROC: coprocessor error",
                                      "ILL_BADSTK: internal stack error"};
    switch (sig) {
    case SIGSEGV:
        return pick(segv, sizeof(segv) / sizeof(segv[0]), code);
    case SIGBUS:
        return pick(bus, sizeof(bus) / sizeof(bus[0]), code);
    case SIGFPE:
        return pick(fpe, sizeof(fpe) / sizeof(fpe[0]), code);
    case SIGILL:
        return pick(ill, sizeof(ill) / sizeof(ill[0]), code);
    }
    return NULL;
}

const char *signal_code_text(int sig, int code)
{
    const char *fault = fault_code_text(sig, code);

    if (fault)
        return fault;
    switch (code) {
    case SI_USER:
        return "SI_USER: sent by kill()";
    case SI_TKILL:
        return "SI_TKILL: sent by tgkill() or raise()";
    case SI_QUEUE:
        return "SI_QUEUE: sent by sigqueue()";
    case SI_KERNEL:
        return "SI_KERNEL: sent by the kernel";
    case SI_TIMER:
        return "SI_TIMER: a POSIX timer expired";
    }
    return "unknown code";
}
