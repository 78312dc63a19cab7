/*
 * green_threads.c - coroutines. oslo.reports lists eventlet's green
 * threads here; a native program can register a lister
 * (gmr_register_green_threads) that hands us each suspended coroutine's
 * saved registers, and we unwind its stack where it lies. In a Python
 * process with greenlet loaded, each suspended greenlet follows, with its
 * Python frames (python.c found them). Without either the section says
 * there is nothing to show. JSON key "green_threads": a list shaped like
 * "threads", with "index" for "tid".
 *
 * A suspended coroutine's stack does not move while it sleeps, so it is
 * read in place, not copied; one resumed meanwhile may show stale frames,
 * which its note says.
 */
#include "sections.h"

#include "report/stacks.h"

#include <string.h>

static void begin_green(struct emitter *e, long index, const char *name, const char *state)
{
    struct emit_thread h;

    memset(&h, 0, sizeof(h));
    h.green = 1;
    h.tid = index;
    h.name = name;
    h.state = state;
    e->ops->begin_thread(e, &h);
}

static void one(struct emitter *e, struct report *r, long index, const struct green_thread *t)
{
    const struct unwound *u = r->green_unwound ? &r->green_unwound[index] : NULL;
    struct notes ns;
    struct slot s;

    memset(&ns, 0, sizeof(ns));
    begin_green(e, index, t->name, t->state[0] ? t->state : NULL);
    stacks_green_slot(&s, &t->g);
    if (u && u->frames) {
        frames_emit_unwound(e, r, &s, u, &ns, NULL);
    } else {
        e->ops->begin_frames(e);
        e->ops->end_frames(e);
        frames_note(&ns, "out of memory while unwinding this coroutine's stack");
    }
    frames_note(&ns, "read in place from the suspended coroutine's stack");
    frames_emit_notes(e, &ns);
    e->ops->end_thread(e);
}

static void greenlet(struct emitter *e, long index, const struct py_thread *g)
{
    struct notes ns;

    memset(&ns, 0, sizeof(ns));
    begin_green(e, index, g->name, "suspended");
    frames_emit_python(e, g, &ns);
    frames_emit_notes(e, &ns);
    e->ops->end_thread(e);
}

/* What was found of greenlets, and what their blocks hold. */
static void greenlets_said(struct emitter *e, const struct py_stacks *py)
{
    char text[512];
    int n;

    n = snprintf(text, sizeof(text), "greenlets: ");
    python_greenlets_summary(py, text + n, sizeof(text) - (size_t)n);
    e->ops->str(e, NULL, text, EMIT_TEXT_ONLY);
    if (py->n_greenlets)
        e->ops->str(e, NULL,
                    "A greenlet's block shows its Python frames only: its C stack is saved "
                    "away in pieces, where no unwinder can follow it.",
                    EMIT_TEXT_ONLY);
}

void section_green_threads(struct emitter *e, struct report *r)
{
    const struct green_thread *list = r->green;
    long n = r->n_green, i;

    e->ops->begin_section(e, "Green Threads", "green_threads");
    e->ops->begin_list(e, NULL, 0);
    if (n < 0 && !r->python.n_greenlets)
        e->ops->str(e, NULL,
                    "No green threads: no coroutine lister is registered "
                    "(gmr_register_green_threads).",
                    EMIT_TEXT_ONLY);
    else if (n == 0)
        e->ops->str(e, NULL, "No green threads: the program's lister reported none.",
                    EMIT_TEXT_ONLY);
    if (r->python.greenlet)
        greenlets_said(e, &r->python);
    for (i = 0; i < n; i++)
        one(e, r, i, &list[i]);
    for (size_t g = 0; g < r->python.n_greenlets; g++)
        greenlet(e, (n > 0 ? n : 0) + (long)g, &r->python.greenlets[g]);
    e->ops->end_list(e);
    e->ops->end_section(e);
}
