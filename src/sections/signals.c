/*
 * signals.c - signal dispositions and masks: which signals the process
 * handles (and with what function), ignores, blocks (in the main thread)
 * and has pending. JSON key "signals": {handlers: [{signal, action,
 * handler, module, flags}], blocked, ignored, pending: [names]}.
 */
#include "sections.h"

#include "../procfs.h"
#include "../signames.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* glibc's own signals (SIGCANCEL, SIGSETXID) sit between SIGSYS and
   SIGRTMIN; they say nothing about the program. */
static int internal(int sig)
{
    return sig > SIGSYS && sig < SIGRTMIN;
}

static int shown(unsigned long long bits, int sig)
{
    return (bits & (1ULL << (sig - 1))) && !internal(sig);
}

static void flags_text(int flags, char *out, size_t len)
{
    static const struct {
        int flag;
        const char *name;
    } names[] = {{SA_SIGINFO, "SIGINFO"},     {SA_RESTART, "RESTART"},
                 {SA_ONSTACK, "ONSTACK"},     {SA_NODEFER, "NODEFER"},
                 {SA_RESETHAND, "RESETHAND"}, {SA_NOCLDSTOP, "NOCLDSTOP"},
                 {SA_NOCLDWAIT, "NOCLDWAIT"}};
    size_t i, n = 0;

    out[0] = '\0';
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (flags & names[i].flag)
            n += (size_t)snprintf(out + n, n < len ? len - n : 0, "%s%s", n ? "," : "",
                                  names[i].name);
}

static void handler(struct emitter *e, const struct report *r, int sig, const struct sigaction *sa)
{
    void *fn = (sa->sa_flags & SA_SIGINFO) ? (void *)sa->sa_sigaction : (void *)sa->sa_handler;
    const struct sym_result *res = r->sym ? symbolize(r->sym, (uintptr_t)fn, 1) : NULL;
    const struct sym_frame *f = res && res->n ? &res->frames[res->n - 1] : NULL;
    char name[32], flags[96], heading[600], where[40];

    signal_name(sig, name, sizeof(name));
    flags_text(sa->sa_flags, flags, sizeof(flags));
    snprintf(where, sizeof(where), "%p", fn);
    snprintf(heading, sizeof(heading), "SIG%s: handler %s (%s)%s%s%s", name,
             f && f->function ? f->function : where, f && f->module ? f->module : "??",
             flags[0] ? " [" : "", flags, flags[0] ? "]" : "");
    e->ops->begin_object(e, NULL, heading, 0);
    e->ops->str(e, "signal", name, EMIT_JSON_ONLY);
    e->ops->str(e, "action", "handler", EMIT_JSON_ONLY);
    e->ops->str(e, "handler", f && f->function ? f->function : where, EMIT_JSON_ONLY);
    if (f && f->module)
        e->ops->str(e, "module", f->module, EMIT_JSON_ONLY);
    e->ops->str(e, "flags", flags, EMIT_JSON_ONLY);
    e->ops->end_object(e);
}

static void handlers(struct emitter *e, const struct report *r)
{
    int sig;

    e->ops->begin_list(e, "handlers", 0);
    for (sig = 1; sig <= SIGRTMAX; sig++) {
        struct sigaction sa;
        if (internal(sig) || sigaction(sig, NULL, &sa) < 0)
            continue;
        if (!(sa.sa_flags & SA_SIGINFO) && sa.sa_handler == SIG_DFL)
            continue;
        if (!(sa.sa_flags & SA_SIGINFO) && sa.sa_handler == SIG_IGN)
            continue; /* listed under "ignored" */
        handler(e, r, sig, &sa);
    }
    e->ops->end_list(e);
}

/* A mask line of /proc/self/status ("SigBlk: 0000000000010000") as names. */
static void mask(struct emitter *e, const char *status, const char *field, const char *key)
{
    char name[32], text[1024];
    unsigned long long bits;
    const char *v;
    size_t len, n = 0;
    int sig;

    if (!status || !(v = procfs_field(status, field, &len)))
        return;
    bits = strtoull(v, NULL, 16);
    text[0] = '\0';
    for (sig = 1; sig <= 64; sig++)
        if (shown(bits, sig))
            n += (size_t)snprintf(text + n, n < sizeof(text) ? sizeof(text) - n : 0, "%s%s",
                                  n ? " " : "", signal_name(sig, name, sizeof(name)));
    e->ops->str(e, key, n ? text : "(none)", EMIT_TEXT_ONLY);
    e->ops->begin_list(e, key, EMIT_JSON_ONLY);
    for (sig = 1; sig <= 64; sig++)
        if (shown(bits, sig))
            e->ops->str(e, NULL, signal_name(sig, name, sizeof(name)), 0);
    e->ops->end_list(e);
}

void section_signals(struct emitter *e, struct report *r)
{
    char status[4096];
    int ok = procfs_read("/proc/self/status", status, sizeof(status)) >= 0;

    e->ops->begin_section(e, "Signals", "signals");
    e->ops->begin_object(e, NULL, NULL, 0);
    handlers(e, r);
    if (!ok)
        emit_str(e, "note", "/proc/self/status could not be read: masks not shown");
    mask(e, ok ? status : NULL, "SigIgn:", "ignored");
    mask(e, ok ? status : NULL, "SigBlk:", "blocked_in_main_thread");
    mask(e, ok ? status : NULL, "ShdPnd:", "pending");
    mask(e, ok ? status : NULL, "SigPnd:", "pending_in_main_thread");
    e->ops->end_object(e);
    e->ops->end_section(e);
}
