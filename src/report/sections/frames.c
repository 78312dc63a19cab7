/*
 * frames.c - stacks to frame lines, shared by the Threads and Green
 * Threads sections: each address the stacks stage unwound and symbolized
 * (an inlined call becomes frames of its own), Python frames merged in
 * where the evaluation loop ran them, and notes on what could not be
 * shown.
 */
#include "sections.h"

#include "arch/arch.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void frames_note(struct notes *ns, const char *fmt, ...)
{
    va_list ap;
    int w;

    if (ns->n == sizeof(ns->line) / sizeof(ns->line[0]) || ns->len >= sizeof(ns->text))
        return;
    va_start(ap, fmt);
    /* NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): va_start is just above */
    w = vsnprintf(ns->text + ns->len, sizeof(ns->text) - ns->len, fmt, ap);
    va_end(ap);
    if (w < 0)
        return;
    ns->line[ns->n++] = ns->text + ns->len;
    ns->len += (size_t)w + 1;
    if (ns->len > sizeof(ns->text))
        ns->len = sizeof(ns->text);
}

void frames_emit_notes(struct emitter *e, const struct notes *ns)
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

/* Frames [from, to) of what one address stands for. */
static void emit_symbols(struct emitter *e, const struct sym_result *res, uintptr_t pc, int signal,
                         size_t from, size_t to, int *index)
{
    struct emit_frame f;
    size_t i;

    memset(&f, 0, sizeof(f));
    f.pc = pc;
    for (i = from; i < to; i++) {
        const struct sym_frame *s = &res->frames[i];
        f.index = (*index)++;
        f.kind = frame_kind_name(signal ? FRAME_SIGNAL : s->kind);
        f.function = s->function || !signal ? s->function : "<signal handler called>";
        f.raw = s->raw;
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

void frames_emit_pc(struct emitter *e, const struct sym_result *res, uintptr_t pc, int signal,
                    int *index)
{
    struct emit_frame f;

    if (res && res->n) {
        emit_symbols(e, res, pc, signal, 0, res->n, index);
        return;
    }
    memset(&f, 0, sizeof(f));
    f.pc = pc;
    f.index = (*index)++;
    if (signal) {
        f.kind = frame_kind_name(FRAME_SIGNAL);
        f.function = "<signal handler called>"; /* gdb's words, if it has no name */
    }
    e->ops->frame(e, &f);
}

static void unwind_notes(struct notes *ns, const struct report *r, const struct slot *slot,
                         const struct unwind_result *u)
{
    if (slot->copy_errno)
        frames_note(ns,
                    "the stack at 0x%llx could not be copied when the thread was captured (%s); "
                    "frames past the first were read from live memory",
                    (unsigned long long)arch_sp(slot->regs), strerror(slot->copy_errno));
    else if (slot->copy_short)
        frames_note(ns,
                    "the stack copy stops at 0x%llx, where the memory had just been unmapped "
                    "(%zu bytes copied)",
                    (unsigned long long)slot->stack_lo + slot->copy_len, slot->copy_len);
    else if (slot->copy_clipped)
        frames_note(ns, "the stack is deeper than the %zu KiB copied", slot->copy_cap / 1024);
    if (u->no_info_at >= 0 && (size_t)u->no_info_at + 1 < u->n)
        frames_note(ns,
                    "frames after #%d were found by frame pointer: the code at #%d has no unwind "
                    "information (JIT code, say)",
                    u->no_info_at, u->no_info_at);
    if (u->live_from >= 0 && !slot->copy_errno && !slot->frozen)
        frames_note(ns,
                    "frames from #%d on were found through live memory, read after the "
                    "thread ran on; they may be inexact",
                    u->live_from);
    switch (u->end) {
    case UNWIND_END_LIMIT:
        frames_note(ns, "%zu%s more frames not shown (GMR_MAX_FRAMES=%d)", u->omitted,
                    u->n + u->omitted >= UNWIND_HARD_LIMIT ? " or" : "", r->cfg->max_frames);
        break;
    case UNWIND_END_ERROR:
        if (u->bad_addr)
            frames_note(ns, "unwinding stopped: unreadable address 0x%llx after frame #%zu",
                        (unsigned long long)u->bad_addr, u->n ? u->n - 1 : 0);
        else
            frames_note(ns, "unwinding stopped after frame #%zu (libunwind error %d)",
                        u->n ? u->n - 1 : 0, u->error);
        break;
    case UNWIND_END_LOOP:
        frames_note(ns, "unwinding stopped: the stack loops back on itself");
        break;
    case UNWIND_END_OK:
        break;
    }
}

/* The Python frames one call of the evaluation loop ran: from *next to
   the first that call entered with (innermost first, as the stack). */
static void emit_python_run(struct emitter *e, const struct py_thread *py, size_t *next, int *index)
{
    struct emit_frame f;

    while (*next < py->n) {
        const struct py_frame *p = &py->frames[(*next)++];

        memset(&f, 0, sizeof(f));
        f.index = (*index)++;
        f.kind = "python";
        f.function = p->function;
        f.file = p->file;
        f.line = p->line;
        e->ops->frame(e, &f);
        if (p->entry)
            return;
    }
}

/* Which of an address's frames is CPython's evaluation loop, or res->n
   if none: the frames inlined into it (Py_INCREF, say) ran on behalf of
   the Python code it runs, so they come before that code's frames. */
static size_t eval_frame_at(const struct sym_result *res)
{
    size_t i;

    for (i = 0; i < res->n; i++)
        if (python_is_eval_frame(res->frames[i].function))
            return i;
    return res->n;
}

/* Python frames no evaluation loop frame was found for: last, said so. */
static void python_rest(struct emitter *e, const struct py_thread *py, size_t next, int *index,
                        struct notes *ns)
{
    if (py->stale)
        frames_note(ns, "%s", py->stale_note);
    if (py->note)
        frames_note(ns, "%s", py->note);
    if (next >= py->n)
        return;
    frames_note(ns,
                "%zu Python frames are shown last: the native stack has no more "
                "_PyEval_EvalFrameDefault frames to place them at",
                py->n - next);
    while (next < py->n)
        emit_python_run(e, py, &next, index);
}

void frames_emit_python(struct emitter *e, const struct py_thread *py, struct notes *ns)
{
    size_t next = 0;
    int index = 0;

    e->ops->begin_frames(e);
    while (next < py->n)
        emit_python_run(e, py, &next, &index);
    e->ops->end_frames(e);
    if (py->note)
        frames_note(ns, "%s", py->note);
}

void frames_emit_unwound(struct emitter *e, const struct report *r, const struct slot *slot,
                         const struct unwound *u, struct notes *ns, const struct py_thread *py)
{
    size_t next_py = 0;
    int index = 0;
    size_t i;

    e->ops->begin_frames(e);
    if (u->no_unwinder) {
        /* Without libunwind, the interrupted instruction is all we have. */
        frames_emit_pc(e, u->syms ? u->syms[0] : NULL, u->frames[0].pc, 0, &index);
        e->ops->end_frames(e);
        frames_note(ns, "libunwind is not available; only the current frame is shown");
        return;
    }
    for (i = 0; i < u->res.n; i++) {
        const struct sym_result *res = u->syms ? u->syms[i] : NULL;
        size_t at = py && res ? eval_frame_at(res) : 0;

        if (py && res && at < res->n) {
            emit_symbols(e, res, u->frames[i].pc, u->frames[i].signal, 0, at, &index);
            emit_python_run(e, py, &next_py, &index);
            emit_symbols(e, res, u->frames[i].pc, u->frames[i].signal, at, res->n, &index);
            continue;
        }
        frames_emit_pc(e, res, u->frames[i].pc, u->frames[i].signal, &index);
    }
    if (py)
        python_rest(e, py, next_py, &index, ns);
    e->ops->end_frames(e);
    if (r->sym && !u->syms)
        frames_note(ns, "out of memory while symbolizing: the frames are shown as addresses");
    unwind_notes(ns, r, slot, &u->res);
}
