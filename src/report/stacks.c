/*
 * stacks.c - the stacks stage: unwind, then symbolize, once per report.
 *
 * Each captured thread's stack is unwound into frames of its own (one
 * scratch array, copied to the exact size) right after the capture; the
 * Waits analysis runs next, while the threads are as close as may be to
 * where they were caught (it looks up the few innermost frames it needs
 * itself). Then every frame's address is looked up in the symbolizer,
 * whose results stay valid until its next refresh, past the report's
 * end. A program's coroutines (gmr_register_green_threads) are listed
 * last, and their stacks unwound where they lie. Without libunwind each
 * thread keeps the interrupted instruction alone, marked so
 * (no_unwinder), and the Threads section says why.
 */
#include "stacks.h"

#include "arch/arch.h"

#include <stdlib.h>
#include <string.h>

void stacks_green_slot(struct slot *s, const struct gmr_green_thread *g)
{
    memset(s, 0, sizeof(*s));
    s->frozen = 1;
    arch_regs_from_green(s->regs, g);
}

/* Unwinds slot into u, through scratch (max frames). 0, or -1 if out of
   memory. */
static int unwind_one(struct report *r, const struct slot *slot, struct unwind_frame *scratch,
                      size_t max, struct unwound *u)
{
    if (!r->unwind) {
        u->no_unwinder = 1;
        u->res.n = 1;
        u->res.live_from = u->res.no_info_at = -1;
        scratch[0].pc = arch_pc(slot->regs);
        scratch[0].exact = 1;
        scratch[0].signal = 0;
    } else {
        unwind_slot(r->unwind, slot, scratch, max, &u->res);
    }
    u->frames = malloc((u->res.n ? u->res.n : 1) * sizeof(*u->frames));
    if (!u->frames)
        return -1;
    memcpy(u->frames, scratch, u->res.n * sizeof(*u->frames));
    return 0;
}

/* Looks up every frame of u once. */
static void symbolize_one(struct report *r, struct unwound *u)
{
    size_t i;

    if (!r->sym || !u->frames || !u->res.n)
        return;
    /* an array of pointers */ /* NOLINTNEXTLINE(bugprone-sizeof-expression) */
    u->syms = calloc(u->res.n, sizeof(*u->syms));
    for (i = 0; u->syms && i < u->res.n; i++)
        u->syms[i] = symbolize(r->sym, u->frames[i].pc, u->frames[i].exact);
}

void stacks_unwind(struct report *r)
{
    size_t i, max = (size_t)r->cfg->max_frames;
    struct unwind_frame *scratch = calloc(max, sizeof(*scratch));

    r->unwound = scratch ? calloc(r->cap.n ? r->cap.n : 1, sizeof(*r->unwound)) : NULL;
    for (i = 0; r->unwound && i < r->cap.n; i++) {
        const struct thread_rec *t = &r->cap.threads[i];

        if (t->status == CAP_OK)
            unwind_one(r, t->slot, scratch, max, &r->unwound[i]);
    }
    free(scratch);
}

/* The program's coroutines, unwound where they lie, then symbolized. */
static void coroutines(struct report *r)
{
    size_t max = (size_t)r->cfg->max_frames;
    struct unwind_frame *scratch;
    long i;

    r->n_green = r->ctx->list_green ? r->ctx->list_green(&r->green) : -1;
    if (r->n_green <= 0)
        return;
    scratch = calloc(max, sizeof(*scratch));
    r->green_unwound = scratch ? calloc((size_t)r->n_green, sizeof(*r->green_unwound)) : NULL;
    for (i = 0; r->green_unwound && i < r->n_green; i++) {
        struct unwound *u = &r->green_unwound[i];
        struct slot s;

        stacks_green_slot(&s, &r->green[i].g);
        if (unwind_one(r, &s, scratch, max, u) < 0)
            continue;
        /* A coroutine's saved pc is where it resumes: a return address. */
        if (u->res.n && !u->no_unwinder)
            u->frames[0].exact = 0;
        symbolize_one(r, u);
    }
    free(scratch);
}

void stacks_symbolize(struct report *r)
{
    size_t i;

    for (i = 0; r->unwound && i < r->cap.n; i++)
        symbolize_one(r, &r->unwound[i]);
    coroutines(r);
}

static void unwound_free(struct unwound *v, size_t n)
{
    size_t i;

    for (i = 0; v && i < n; i++) {
        free(v[i].frames);
        free(v[i].syms);
    }
    free(v);
}

void stacks_free(struct report *r)
{
    unwound_free(r->unwound, r->cap.n);
    unwound_free(r->green_unwound, r->n_green > 0 ? (size_t)r->n_green : 0);
    free(r->green);
}
