/*
 * signals.c - signal dispositions and masks: which signals the process
 * handles (and with what function), ignores, blocks (in the main thread)
 * and has pending. JSON key "signals": {handlers: [{signal, action,
 * handler, module, flags, libgmr, program}], blocked, ignored, pending:
 * [names]}.
 *
 * For the signals libgmr took, the kernel holds libgmr's handler; the
 * entry says what it is for ("libgmr": crash, trigger or capture) and, for
 * a fatal signal, what the program installed behind it ("program"), which
 * runs first.
 */
#include "sections.h"

#include "base/procfs.h"
#include "signal/sigchain.h"
#include "base/signames.h"

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

/* Where a handler function is: its symbol and module, if known. */
static void locate(const struct report *r, const struct sigaction *sa, char *fn_name, size_t len,
                   const char **module)
{
    void *fn = (sa->sa_flags & SA_SIGINFO) ? (void *)sa->sa_sigaction : (void *)sa->sa_handler;
    const struct sym_result *res = r->sym ? symbolize(r->sym, (uintptr_t)fn, 1) : NULL;
    const struct sym_frame *f = res && res->n ? &res->frames[res->n - 1] : NULL;

    if (f && f->function)
        snprintf(fn_name, len, "%s", f->function);
    else
        snprintf(fn_name, len, "%p", fn);
    *module = f && f->module ? f->module : NULL;
}

static const char *role_text(enum sigchain_role role)
{
    switch (role) {
    case ROLE_CRASH:
        return "crash";
    case ROLE_TRIGGER:
        return "trigger";
    case ROLE_CAPTURE:
        return "capture";
    case ROLE_NONE:
        break;
    }
    return NULL;
}

/* A disposition in words: action, handler, module, flags. */
struct disposition {
    const char *action; /* "default", "ignore" or "handler" */
    char handler[256];
    const char *module;
    char flags[96];
};

static void describe(const struct report *r, const struct sigaction *sa, struct disposition *d)
{
    memset(d, 0, sizeof(*d));
    if (!(sa->sa_flags & SA_SIGINFO) && (sa->sa_handler == SIG_DFL || sa->sa_handler == SIG_IGN)) {
        d->action = sa->sa_handler == SIG_DFL ? "default" : "ignore";
        return;
    }
    d->action = "handler";
    locate(r, sa, d->handler, sizeof(d->handler), &d->module);
    flags_text(sa->sa_flags, d->flags, sizeof(d->flags));
}

static void emit_disposition(struct emitter *e, const struct disposition *d)
{
    e->ops->str(e, "action", d->action, EMIT_JSON_ONLY);
    if (strcmp(d->action, "handler"))
        return;
    e->ops->str(e, "handler", d->handler, EMIT_JSON_ONLY);
    if (d->module)
        e->ops->str(e, "module", d->module, EMIT_JSON_ONLY);
    e->ops->str(e, "flags", d->flags, EMIT_JSON_ONLY);
}

/* "SIGSEGV: handler handler_crash (libgmr.so) [SIGINFO] libgmr's crash;
   the program's, run first: on_segv (prog) [SIGINFO,ONSTACK]" */
static void heading_text(char *out, size_t len, const char *name, const struct disposition *d,
                         enum sigchain_role role, const struct disposition *program)
{
    char behind[512] = "";

    if (program && !strcmp(program->action, "handler"))
        snprintf(behind, sizeof(behind), "; the program's, run first: %s (%s)%s%s%s",
                 program->handler, program->module ? program->module : "??",
                 program->flags[0] ? " [" : "", program->flags, program->flags[0] ? "]" : "");
    else if (program)
        snprintf(behind, sizeof(behind), "; the program's: %s", program->action);
    snprintf(out, len, "SIG%s: handler %s (%s)%s%s%s%s%s%s", name, d->handler,
             d->module ? d->module : "??", d->flags[0] ? " [" : "", d->flags,
             d->flags[0] ? "]" : "", role != ROLE_NONE ? " libgmr's " : "",
             role != ROLE_NONE ? role_text(role) : "", behind);
}

static void handler(struct emitter *e, const struct report *r, int sig, const struct sigaction *sa)
{
    enum sigchain_role role = sigchain_role_of(sig);
    struct disposition d, program;
    struct sigaction view;
    char name[32], heading[1200];

    signal_name(sig, name, sizeof(name));
    describe(r, sa, &d);
    if (role == ROLE_CRASH) {
        sigchain_view(sig, &view);
        describe(r, &view, &program);
    }
    heading_text(heading, sizeof(heading), name, &d, role, role == ROLE_CRASH ? &program : NULL);
    e->ops->begin_object(e, NULL, heading, 0);
    e->ops->str(e, "signal", name, EMIT_JSON_ONLY);
    emit_disposition(e, &d);
    if (role != ROLE_NONE)
        e->ops->str(e, "libgmr", role_text(role), EMIT_JSON_ONLY);
    if (role == ROLE_CRASH) {
        e->ops->begin_object(e, "program", NULL, EMIT_JSON_ONLY);
        emit_disposition(e, &program);
        e->ops->end_object(e);
    }
    e->ops->end_object(e);
}

static void handlers(struct emitter *e, const struct report *r)
{
    int sig;

    e->ops->begin_list(e, "handlers", 0);
    for (sig = 1; sig <= SIGRTMAX; sig++) {
        struct sigaction sa;
        if (internal(sig) || sys_sigaction(sig, NULL, &sa) < 0)
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
