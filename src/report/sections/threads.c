/*
 * threads.c - every thread: heading, state, CPU time, frames, and a note
 * wherever something could not be captured or shown. JSON key "threads".
 *
 * Threads are listed crashed thread first (with its registers), then the
 * main thread, then by tid. Their stacks were unwound and symbolized by
 * the stacks stage (stacks.c); this section renders them.
 */
#include "sections.h"

#include "report/waits.h"

#include "signal/crash_record.h"
#include "base/signames.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The crashed thread first, then the main thread, then by tid. */
static int rank(const struct thread_rec *t, pid_t main_tid)
{
    if (t->preset == PRESET_CRASHED)
        return 0;
    return t->tid == main_tid ? 1 : 2;
}

static int cmp_rec(const void *a, const void *b, void *pid)
{
    const struct thread_rec *x = *(const struct thread_rec *const *)a;
    const struct thread_rec *y = *(const struct thread_rec *const *)b;
    int rx = rank(x, *(pid_t *)pid), ry = rank(y, *(pid_t *)pid);

    if (rx != ry)
        return rx - ry;
    return (x->tid > y->tid) - (x->tid < y->tid);
}

static void heading(struct emitter *e, const struct report *r, const struct thread_rec *t,
                    const struct py_thread *py)
{
    struct emit_thread h;
    char recv[48], name[32], crashed[48];

    memset(&h, 0, sizeof(h));
    h.tid = t->tid;
    h.name = t->name;
    h.state = t->state;
    if (t->preset == PRESET_CRASHED && r->crash) {
        snprintf(crashed, sizeof(crashed), "crashed: SIG%s", signal_fatal_name(r->crash->signo));
        h.marks[h.nmarks++] = crashed;
    }
    if (t->tid == r->pid)
        h.marks[h.nmarks++] = "main thread";
    if (t->status == CAP_SELF)
        h.marks[h.nmarks++] = "libgmr watcher";
    if ((r->trigger & TRIGGER_SIGNAL) && t->tid == r->trigger_tid && r->cfg->signal) {
        snprintf(recv, sizeof(recv), "received SIG%s",
                 signal_name(r->cfg->signal, name, sizeof(name)));
        h.marks[h.nmarks++] = recv;
    }
    if ((r->trigger & TRIGGER_API) && t->tid == r->req->api_caller)
        h.marks[h.nmarks++] = "called gmr_report";
    if (t->late)
        h.marks[h.nmarks++] = "started during capture";
    if (py && py->holds_gil)
        h.marks[h.nmarks++] = "holds the GIL";
    e->ops->begin_thread(e, &h);
}

static void cpu_time(struct emitter *e, const struct thread_rec *t)
{
    char text[80];

    snprintf(text, sizeof(text), "%ld.%02ld s user, %ld.%02ld s system", t->utime_ms / 1000,
             t->utime_ms % 1000 / 10, t->stime_ms / 1000, t->stime_ms % 1000 / 10);
    e->ops->str(e, "cpu", text, EMIT_TEXT_ONLY);
    e->ops->num(e, "utime_ms", t->utime_ms, EMIT_JSON_ONLY);
    e->ops->num(e, "stime_ms", t->stime_ms, EMIT_JSON_ONLY);
}

/* /proc/self/task/TID/syscall: "nr a1 .. a6 sp pc", "-1 sp pc" or "running". */
static void whereabouts(struct emitter *e, struct report *r, const struct thread_rec *t)
{
    unsigned long long v[8];
    long nr;
    int n;

    if (t->syscall[0]) {
        n = sscanf(t->syscall, "%ld %llx %llx %llx %llx %llx %llx %llx %llx", &nr, &v[0], &v[1],
                   &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
        if (n == 9 || n == 3) {
            uintptr_t pc = (uintptr_t)(n == 9 ? v[7] : v[1]);
            const struct sym_result *s = r->sym ? symbolize(r->sym, pc, 0) : NULL;
            const struct sym_frame *f = s && s->n ? &s->frames[s->n - 1] : NULL;
            char pcs[24];

            e->ops->begin_object(e, "syscall", NULL, 0);
            if (nr >= 0)
                emit_num(e, "number", nr);
            else
                emit_str(e, "number", "(none: blocked in user space)");
            snprintf(pcs, sizeof(pcs), "0x%llx", (unsigned long long)pc);
            emit_str(e, "pc", pcs);
            if (f && f->function)
                emit_str(e, "symbol", f->function);
            if (f && f->module)
                emit_str(e, "module", f->module);
            e->ops->end_object(e);
        } else if (!strncmp(t->syscall, "running", 7)) {
            emit_str(e, "syscall", "running (not in a system call)");
        }
    }
    if (t->wchan[0])
        emit_str(e, "wchan", t->wchan);
}

/* What it waits for (waits.c), and the deadlock it is in. */
static void wait_of(struct emitter *e, const struct report *r, const struct thread_rec *t)
{
    const struct wait *w = waits_of(r->waits, t->tid);
    const pid_t *cycle = NULL;
    size_t n;
    char text[24];

    if (!w || !w->text[0])
        return;
    e->ops->str(e, "wait", w->text, EMIT_TEXT_ONLY);
    e->ops->begin_object(e, "wait", NULL, EMIT_JSON_ONLY);
    emit_str(e, "kind", wait_kind_name(w->kind));
    if (w->addr) {
        snprintf(text, sizeof(text), "0x%lx", w->addr);
        emit_str(e, "address", text);
    }
    if (w->fd >= 0)
        emit_num(e, "fd", w->fd);
    if (w->holder)
        emit_num(e, "holder", w->holder);
    emit_str(e, "text", w->text);
    e->ops->end_object(e);
    n = waits_cycle_of(r->waits, t->tid, &cycle);
    if (n) {
        char *sentence = malloc(4096);

        if (!sentence)
            return;
        waits_sentence(r, r->waits, cycle, n, 1, sentence, 4096);
        emit_str(e, "deadlock", sentence);
        free(sentence);
    }
}

static void one_thread(struct emitter *e, struct report *r, const struct thread_rec *t)
{
    const struct py_thread *py = python_thread(&r->python, t->tid);
    struct notes ns;

    memset(&ns, 0, sizeof(ns));
    heading(e, r, t, py);
    if (t->status != CAP_GONE)
        cpu_time(e, t);
    if (t->preset == PRESET_CRASHED)
        emit_registers(e, t->slot->regs);
    if (t->status == CAP_OK && report_unwound(r, t)) {
        frames_emit_unwound(e, r, t->slot, report_unwound(r, t), &ns, py);
    } else if (t->status == CAP_OK) {
        e->ops->begin_frames(e);
        e->ops->end_frames(e);
        frames_note(&ns, "out of memory while unwinding this thread's stack");
    } else {
        e->ops->begin_frames(e);
        e->ops->end_frames(e);
        frames_note(&ns, "%s", capture_status_text(t));
    }
    frames_emit_notes(e, &ns);
    wait_of(e, r, t);
    if (t->status != CAP_OK && t->status != CAP_SELF && t->status != CAP_GONE)
        whereabouts(e, r, t);
    e->ops->end_thread(e);
}

void section_threads(struct emitter *e, struct report *r)
{
    /* an array of pointers */ /* NOLINTNEXTLINE(bugprone-sizeof-expression) */
    struct thread_rec **order = calloc(r->cap.n ? r->cap.n : 1, sizeof(*order));
    size_t i;

    e->ops->begin_section(e, "Threads", "threads");
    e->ops->begin_list(e, NULL, 0);
    if (!order) {
        e->ops->text(e, "note: out of memory; threads not shown");
        goto out;
    }
    for (i = 0; i < r->cap.n; i++)
        order[i] = &r->cap.threads[i];
    /* an array of pointers */ /* NOLINTNEXTLINE(bugprone-sizeof-expression) */
    qsort_r(order, r->cap.n, sizeof(*order), cmp_rec, &r->pid);
    for (i = 0; i < r->cap.n; i++)
        one_thread(e, r, order[i]);
    if (r->cap.n == 0)
        e->ops->text(e, "note: the thread list (/proc/self/task) could not be read");
out:
    e->ops->end_list(e);
    e->ops->end_section(e);
    free(order);
}
