/*
 * threads.c - every thread: heading, state, frames, and a note wherever
 * something could not be captured or shown. JSON key "threads".
 *
 * Threads are listed main thread first, then by tid. Each captured thread
 * is unwound here, one at a time into a scratch array, and its addresses
 * symbolized (inlined calls expand to extra frames), so memory stays
 * bounded by one thread's frames whatever the thread count.
 */
#include "sections.h"

#include "../signames.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_rec(const void *a, const void *b, void *pid)
{
    const struct thread_rec *x = *(const struct thread_rec *const *)a;
    const struct thread_rec *y = *(const struct thread_rec *const *)b;
    pid_t main_tid = *(pid_t *)pid;

    if (x->tid == main_tid || y->tid == main_tid)
        return x->tid == main_tid ? -1 : 1;
    return (x->tid > y->tid) - (x->tid < y->tid);
}

static void thread_heading(struct emitter *e, const struct report *r, const struct thread_rec *t)
{
    struct emit_thread h;
    char recv[48], name[32];

    memset(&h, 0, sizeof(h));
    h.tid = t->tid;
    h.name = t->name;
    h.state = t->state;
    if (t->tid == r->pid)
        h.marks[h.nmarks++] = "main thread";
    if (t->status == CAP_SELF)
        h.marks[h.nmarks++] = "libgmr watcher";
    if ((r->trigger & TRIGGER_SIGNAL) && t->tid == r->trigger_tid && r->cfg->signal) {
        snprintf(recv, sizeof(recv), "received SIG%s",
                 signal_name(r->cfg->signal, name, sizeof(name)));
        h.marks[h.nmarks++] = recv;
    }
    if (t->late)
        h.marks[h.nmarks++] = "started during capture";
    e->ops->begin_thread(e, &h);
}

static void emit_symbolized(struct emitter *e, const struct report *r, uintptr_t pc, int exact,
                            int *index)
{
    const struct sym_result *res = r->sym ? symbolize(r->sym, pc, exact) : NULL;
    struct emit_frame f;
    size_t i;

    memset(&f, 0, sizeof(f));
    f.pc = pc;
    if (!res || res->n == 0) {
        f.index = (*index)++;
        e->ops->frame(e, &f);
        return;
    }
    for (i = 0; i < res->n; i++) {
        const struct sym_frame *s = &res->frames[i];
        f.index = (*index)++;
        f.function = s->function;
        f.offset = s->offset;
        f.has_offset = s->has_offset;
        f.inlined = s->inlined;
        f.module = s->module;
        f.module_offset = s->module_offset;
        f.file = s->file;
        f.line = s->line;
        e->ops->frame(e, &f);
    }
}

/* A thread's notes: one "note = ..." line each in text, one joined
   "note" string in JSON (the key the JSON contract names). */
struct notes {
    char text[1024];
    size_t len;
    const char *line[4];
    size_t n;
};

static void note(struct notes *ns, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void note(struct notes *ns, const char *fmt, ...)
{
    va_list ap;
    int w;

    if (ns->n == sizeof(ns->line) / sizeof(ns->line[0]) || ns->len >= sizeof(ns->text))
        return;
    va_start(ap, fmt);
    w = vsnprintf(ns->text + ns->len, sizeof(ns->text) - ns->len, fmt, ap);
    va_end(ap);
    if (w < 0)
        return;
    ns->line[ns->n++] = ns->text + ns->len;
    ns->len += (size_t)w + 1;
}

static void emit_notes(struct emitter *e, const struct notes *ns)
{
    char joined[sizeof(ns->text)];
    size_t i, len = 0;

    for (i = 0; i < ns->n; i++) {
        e->ops->str(e, "note", ns->line[i], EMIT_TEXT_ONLY);
        len += (size_t)snprintf(joined + len, sizeof(joined) - len, "%s%s", i ? "; " : "",
                                ns->line[i]);
        if (len >= sizeof(joined))
            len = sizeof(joined) - 1;
    }
    if (ns->n)
        e->ops->str(e, "note", joined, EMIT_JSON_ONLY);
}

static void unwind_notes(struct notes *ns, const struct report *r, const struct thread_rec *t,
                         const struct unwind_result *u)
{
    if (t->slot->stack_unknown)
        note(ns, "the stack pointer was in no known mapping; frames past the first were read "
                 "from live memory");
    else if (t->slot->copy_clipped)
        note(ns, "the stack is deeper than the %zu KiB copied", t->slot->copy_cap / 1024);
    if (u->live_from >= 0 && !t->slot->stack_unknown)
        note(ns, "frames from #%d on were found through live memory, read after the thread "
                 "ran on; they may be inexact",
             u->live_from);
    switch (u->end) {
    case UNWIND_END_LIMIT:
        note(ns, "%zu%s more frames not shown (GMR_MAX_FRAMES=%d)", u->omitted,
             u->n + u->omitted >= UNWIND_HARD_LIMIT ? " or" : "", r->cfg->max_frames);
        break;
    case UNWIND_END_ERROR:
        note(ns, "unwinding stopped after frame #%zu (libunwind error %d)", u->n ? u->n - 1 : 0,
             u->error);
        break;
    case UNWIND_END_LOOP:
        note(ns, "unwinding stopped: the stack loops back on itself");
        break;
    case UNWIND_END_OK:
        break;
    }
}

static void captured_frames(struct emitter *e, struct report *r, const struct thread_rec *t,
                            struct unwind_frame *scratch)
{
    struct unwind_result u;
    struct notes ns = {.len = 0, .n = 0};
    int index = 0;
    size_t i;

    e->ops->begin_frames(e);
    if (!r->unwind) {
        /* Without libunwind, the interrupted instruction is all we have. */
        emit_symbolized(e, r, (uintptr_t)t->slot->regs[REG_RIP], 1, &index);
        e->ops->end_frames(e);
        note(&ns, "libunwind is not available; only the current frame is shown");
        emit_notes(e, &ns);
        return;
    }
    unwind_slot(r->unwind, t->slot, scratch, (size_t)r->cfg->max_frames, &u);
    for (i = 0; i < u.n; i++)
        emit_symbolized(e, r, scratch[i].pc, scratch[i].exact, &index);
    e->ops->end_frames(e);
    unwind_notes(&ns, r, t, &u);
    emit_notes(e, &ns);
}

/* /proc/self/task/TID/syscall: "nr a1 .. a6 sp pc", "-1 sp pc" or "running". */
static void whereabouts(struct emitter *e, struct report *r, const struct thread_rec *t)
{
    unsigned long long v[9];
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

static void one_thread(struct emitter *e, struct report *r, const struct thread_rec *t,
                       struct unwind_frame *scratch)
{
    const char *why = capture_status_text(t);

    thread_heading(e, r, t);
    if (t->status == CAP_OK) {
        captured_frames(e, r, t, scratch);
    } else {
        e->ops->begin_frames(e);
        e->ops->end_frames(e);
        e->ops->str(e, "note", why, 0);
        if (t->status != CAP_SELF)
            whereabouts(e, r, t);
    }
    e->ops->end_thread(e);
}

void section_threads(struct emitter *e, struct report *r)
{
    struct thread_rec **order = calloc(r->cap.n ? r->cap.n : 1, sizeof(*order));
    struct unwind_frame *scratch = calloc((size_t)r->cfg->max_frames, sizeof(*scratch));
    size_t i;

    e->ops->begin_section(e, "Threads", "threads");
    e->ops->begin_list(e, NULL, 0);
    if (!order || !scratch) {
        e->ops->text(e, "note: out of memory; threads not shown");
        goto out;
    }
    for (i = 0; i < r->cap.n; i++)
        order[i] = &r->cap.threads[i];
    qsort_r(order, r->cap.n, sizeof(*order), cmp_rec, &r->pid);
    for (i = 0; i < r->cap.n; i++)
        one_thread(e, r, order[i], scratch);
    if (r->cap.n == 0)
        e->ops->text(e, "note: the thread list (/proc/self/task) could not be read");
out:
    e->ops->end_list(e);
    e->ops->end_section(e);
    free(order);
    free(scratch);
}
