/*
 * header.c - the block under the title: who, when, why, and how the
 * capture went. JSON key "header".
 */
#include "sections.h"

#include "report/waits.h"
#include "signal/crash_record.h"
#include "signal/freeze.h"

#include "base/fdtable.h"
#include "base/procfs.h"
#include "base/signames.h"
#include "base/timefmt.h"

#include <gmr.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

static int cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;

    return (x > y) - (x < y);
}

/* Median and maximum time the captured threads spent in our handler. */
static void pauses(const struct report *r, long *median_ns, long *max_ns)
{
    long *v = malloc((r->cap.n ? r->cap.n : 1) * sizeof(long));
    size_t i, n = 0;

    *median_ns = *max_ns = 0;
    if (!v)
        return;
    for (i = 0; i < r->cap.n; i++)
        if (r->cap.threads[i].status == CAP_OK && r->cap.threads[i].preset == PRESET_NONE)
            v[n++] = r->cap.threads[i].slot->pause_ns;
    if (n) {
        qsort(v, n, sizeof(long), cmp_long);
        *median_ns = v[n / 2];
        *max_ns = v[n - 1];
    }
    free(v);
}

static void capture_summary(struct emitter *e, const struct report *r)
{
    size_t i, captured = 0;
    long median, max;
    char text[400];
    int len;

    for (i = 0; i < r->cap.n; i++)
        captured += r->cap.threads[i].status == CAP_OK;
    pauses(r, &median, &max);
    if (r->trigger & TRIGGER_CRASH) /* frozen or held: stopped until the process dies or goes on */
        len = snprintf(text, sizeof(text),
                       "%zu of %zu threads in %ld.%03ld ms; held stopped while the crash is "
                       "reported",
                       captured, r->cap.n, r->cap.elapsed_us / 1000, r->cap.elapsed_us % 1000);
    else
        len = snprintf(text, sizeof(text),
                       "%zu of %zu threads in %ld.%03ld ms; each paused %ld.%ld us (median), "
                       "%ld.%ld us (max)",
                       captured, r->cap.n, r->cap.elapsed_us / 1000, r->cap.elapsed_us % 1000,
                       median / 1000, median % 1000 / 100, max / 1000, max % 1000 / 100);
    if (r->cap.ptrace_asked && len > 0 && (size_t)len < sizeof(text))
        snprintf(text + len, sizeof(text) - (size_t)len, "; %zu by ptrace%s%s%s", r->cap.ptraced,
                 r->trigger & TRIGGER_CRASH ? " (of the threads the signal could not reach)" : "",
                 !r->cap.ptrace_why           ? ""
                 : r->trigger & TRIGGER_CRASH ? ": "
                                              : ", the rest by signal: ",
                 r->cap.ptrace_why ? r->cap.ptrace_why : "");
    e->ops->str(e, "capture", text, EMIT_TEXT_ONLY);
    if (r->cap.ptrace_asked) {
        e->ops->num(e, "threads_ptraced", (long long)r->cap.ptraced, EMIT_JSON_ONLY);
        if (r->cap.ptrace_why)
            e->ops->str(e, "ptrace_refused", r->cap.ptrace_why, EMIT_JSON_ONLY);
    }
    e->ops->num(e, "threads", (long long)r->cap.n, EMIT_JSON_ONLY);
    e->ops->num(e, "threads_captured", (long long)captured, EMIT_JSON_ONLY);
    e->ops->num(e, "capture_us", r->cap.elapsed_us, EMIT_JSON_ONLY);
    e->ops->num(e, "pause_median_ns", median, EMIT_JSON_ONLY);
    e->ops->num(e, "pause_max_ns", max, EMIT_JSON_ONLY);
    e->ops->num(e, "waits_us", r->waits->read_us, EMIT_JSON_ONLY);
}

static void crash_fields(struct emitter *e, const struct report *r)
{
    const struct crash_info *c = r->crash;
    char addr[24];

    snprintf(addr, sizeof(addr), "%#lx", (unsigned long)c->addr);
    emit_str(e, "signal", signal_fatal_name(c->signo));
    emit_str(e, "code", signal_code_text(c->signo, c->code));
    if (c->code > 0 && c->signo != SIGABRT) /* a fault: si_addr is meaningful */
        emit_str(e, "address", addr);
    emit_num(e, "crashed_thread", c->slot.tid);
    if (c->sender)
        emit_num(e, "sender_pid", c->sender);
}

/* A process out of descriptors is worth saying so: it explains failures,
   and this report was written from a table of libgmr's own. */
static void descriptors(struct emitter *e)
{
    struct rlimit rl;
    long open_fds = procfs_count("/proc/self/fd");
    char text[200];

    if (open_fds < 0 || getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY ||
        (rlim_t)open_fds < rl.rlim_cur)
        return;
    snprintf(text, sizeof(text),
             "the process has used all its file descriptors (%ld open, limit %llu)%s", open_fds,
             (unsigned long long)rl.rlim_cur,
             fdtable_is_private() ? "; libgmr wrote this report from a descriptor table of its own"
                                  : "; parts of this report may be missing");
    emit_str(e, "note", text);
}

/* "python = CPython 3.11.7", and why no Python frames are shown if so. */
static void python(struct emitter *e, const struct report *r)
{
    char text[320];

    if (!r->python.found)
        return;
    const char *why = r->python.problem ? r->python.problem : r->python.note;

    snprintf(text, sizeof(text), "CPython%s%s%s%s", r->python.version[0] ? " " : "",
             r->python.version, why ? ": " : "", why ? why : "");
    emit_str(e, "python", text);
    e->ops->num(e, "python_read_us", r->python.read_us, EMIT_JSON_ONLY);
    if (!r->python.greenlet)
        return;
    python_greenlets_summary(&r->python, text, sizeof(text));
    emit_str(e, "greenlets", text);
    e->ops->num(e, "gc_objects_walked", r->python.gc_objects, EMIT_JSON_ONLY);
}

void section_header(struct emitter *e, struct report *r)
{
    char when[21], name[32];

    time_iso8601(r->when, when);
    e->ops->begin_section(e, NULL, "header");
    e->ops->begin_object(e, NULL, NULL, 0);
    emit_num(e, "pid", r->pid);
    emit_str(e, "service", r->ctx->service);
    emit_str(e, "trigger", r->trigger_name);
    if (r->trigger & TRIGGER_CRASH)
        crash_fields(e, r);
    else if ((r->trigger & TRIGGER_SIGNAL) && r->cfg->signal) {
        emit_str(e, "signal", signal_name(r->cfg->signal, name, sizeof(name)));
        if (r->trigger_sender)
            emit_num(e, "sender_pid", r->trigger_sender);
        if (r->trigger_tid)
            emit_num(e, "received_by", r->trigger_tid);
    }
    if ((r->trigger & TRIGGER_REQUEST) && r->req->reply) {
        emit_num(e, "requested_by_pid", r->req->reply->pid);
        emit_num(e, "requested_by_uid", r->req->reply->uid);
    }
    if ((r->trigger & TRIGGER_API) && r->req->reason[0])
        emit_str(e, "reason", r->req->reason);
    if ((r->trigger & TRIGGER_API) && r->req->api_calls > 1)
        emit_num(e, "api_calls", r->req->api_calls);
    emit_str(e, "time", when);
    emit_str(e, "libgmr", GMR_VERSION);
    capture_summary(e, r);
    python(e, r);
    descriptors(e);
    if ((r->trigger & TRIGGER_CRASH) && freeze_released())
        emit_str(e, "note",
                 "the other threads were let go while this report was written (libgmr's watcher "
                 "needed a lock one of them held); their frames may have moved on");
    e->ops->end_object(e);
    e->ops->end_section(e);
}
