/*
 * waits.c - the Waits section, right after the header: deadlocks first
 * (every cycle of threads waiting for each other through mutexes, rwlocks
 * and joins), then chains (threads waiting, through others, for one that
 * waits for no thread), then what each blocked thread waits for. A stuck
 * process's report answers "why" here before it shows any stack.
 *
 * JSON key "deadlocks": a list of cycles, each a list of tids; each
 * thread's own wait is threads[].wait (threads.c).
 */
#include "sections.h"

#include "report/waits.h"

#include <stdio.h>
#include <stdlib.h>

#define SENTENCE 4096

static void runs(struct emitter *e, const struct report *r, const pid_t *tids, const size_t *at,
                 const size_t *len, size_t n, int cycle, char *text)
{
    size_t k, i;

    for (k = 0; k < n; k++) {
        int head = snprintf(text, SENTENCE, "%s", cycle ? "Deadlock: " : "Chain: ");

        waits_sentence(r, r->waits, tids + at[k], len[k], cycle, text + head,
                       SENTENCE - (size_t)head);
        e->ops->str(e, NULL, text, EMIT_TEXT_ONLY);
        if (!cycle)
            continue;
        e->ops->begin_list(e, NULL, EMIT_JSON_ONLY);
        for (i = 0; i < len[k]; i++)
            e->ops->num(e, NULL, tids[at[k] + i], EMIT_JSON_ONLY);
        e->ops->end_list(e);
    }
}

static void each_wait(struct emitter *e, const struct report *r, char *text)
{
    size_t i;

    for (i = 0; i < r->waits->n; i++) {
        const struct wait *w = &r->waits->v[i];
        const struct thread_rec *t = &r->cap.threads[i];

        if (!w->text[0])
            continue;
        snprintf(text, SENTENCE, "Thread #%d (%s) %s", (int)w->tid, t->name, w->text);
        e->ops->str(e, NULL, text, EMIT_TEXT_ONLY);
    }
}

void section_waits(struct emitter *e, struct report *r)
{
    const struct waits *w = r->waits;
    char *text = malloc(SENTENCE);

    e->ops->begin_section(e, "Waits", "deadlocks");
    e->ops->begin_list(e, NULL, 0);
    if (!text) {
        e->ops->text(e, "note: out of memory; waits not shown");
        goto out;
    }
    runs(e, r, w->cycle, w->cycle_at, w->cycle_len, w->ncycles, 1, text);
    if (!w->ncycles)
        e->ops->str(e, NULL,
                    "No deadlock: no threads wait for each other in a cycle (through mutexes, "
                    "rwlocks held for writing, or joins).",
                    EMIT_TEXT_ONLY);
    runs(e, r, w->chain, w->chain_at, w->chain_len, w->nchains, 0, text);
    each_wait(e, r, text);
out:
    e->ops->end_list(e);
    e->ops->end_section(e);
    free(text);
}
