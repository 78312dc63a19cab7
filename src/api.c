/*
 * api.c - the public API: program sections, gmr_report, coroutine lister,
 * and the emitter functions section callbacks write through.
 *
 * No lock is held while the program's code runs on the watcher. A report
 * copies the section table (and the lister) under a short lock, then, for
 * each section, looks it up again, publishes its id in running_id and
 * calls it with no lock held. gmr_unregister_section from another thread
 * removes the entry and waits (futex) while that id is running, so a
 * plugin may unload right after; called on the watcher (from a callback,
 * for itself or another section) it never waits. The lister is the same,
 * with a run counter (odd while it runs) in place of the id.
 *
 * gmr_report: each request takes a ticket; the watcher notes the highest
 * ticket when it takes the API trigger, and after writing the report
 * declares every ticket up to that one served. A caller waits (futex) for
 * its own ticket, so it returns once a report begun after its request is
 * written, and requests arriving together share a report.
 *
 * A watcher that faults (in a callback, say) is ended by its fault handler
 * (crash_handler.c), which first marks it crashed (handler_no_watcher_reason): from
 * then on nothing waits for it. Callers waiting for a report or a callback
 * wait on the handlers' news word (handler_news), which that mark wakes,
 * and return at once; gmr_report returns -1 (ENOSYS) at once;
 * (un)registering goes on without waiting. The locks are futex words
 * holding their owner's tid, so a caller that finds one held by the dead
 * watcher gives up, at its next look (every SLICE_MS), instead of waiting.
 */
#include "api.h"

#include "signal/handlers.h"
#include "base/lowlevel.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MAX_SECTIONS   64
#define MAX_GREEN      10000
#define REPORT_WAIT_S  60
#define MAX_USER_DEPTH 16
#define SLICE_MS       100 /* longest futex nap: each wait looks again after it */

struct section_entry {
    int id;
    char title[128];
    gmr_section_fn fn;
    void *arg;
};

/* A lock: 0 when free, else the tid of the thread that holds it. */
typedef _Atomic int api_lock;

static api_lock sections_lock;
static struct section_entry sections[MAX_SECTIONS];
static int next_id;
static _Atomic int running_id; /* the section the watcher is calling, or 0 */

static api_lock requests_lock;
static _Atomic uint32_t requested, served;
static char last_reason[256];
static pid_t last_caller; /* the thread of the newest gmr_report call */
static unsigned pending_requests;

static api_lock green_lock;
static gmr_green_enum_fn green_fn;
static void *green_arg;
static _Atomic int green_runs; /* odd while the lister runs */

/* ---- waiting ---- */

static int on_watcher(void)
{
    return ll_gettid() == handler_watcher();
}

/* Nothing will come from the watcher: it faulted, or there is none. */
static int watcher_gone(void)
{
    return handler_no_watcher_reason() != NULL;
}

static int watcher_crashed(void)
{
    return handler_watcher_state() == WATCHER_CRASHED;
}

/* 0, or -1 (ENOSYS) if the lock is held by a watcher that has failed. */
static int lock_take(api_lock *l)
{
    int me = (int)ll_gettid();

    for (;;) {
        int seen = 0;

        if (atomic_compare_exchange_strong(l, &seen, me))
            return 0;
        if (watcher_crashed() && seen == (int)handler_watcher()) {
            errno = ENOSYS;
            return -1;
        }
        ll_futex_wait(l, (uint32_t)seen, SLICE_MS);
    }
}

static void lock_give(api_lock *l)
{
    atomic_store(l, 0);
    ll_futex_wake(l, 1);
}

/* Waits while *word == value and the watcher lives; never on the watcher
   itself (a callback that waited for its own return would wait forever). */
static void wait_while_running(_Atomic int *word, int value)
{
    if (on_watcher())
        return;
    for (;;) {
        uint32_t seen = atomic_load(handler_news());

        if (atomic_load(word) != value || watcher_gone())
            return;
        ll_futex_wait(handler_news(), seen, SLICE_MS);
    }
}

/* ---- the emitter handed to callbacks ---- */

struct gmr_emitter {
    struct emitter *e;
    int depth;   /* containers the callback opened and has not closed */
    int ignored; /* begins past MAX_USER_DEPTH, whose ends are ignored too */
    unsigned char list[MAX_USER_DEPTH + 1];
};

/* Inside a list items have no key; inside an object they must have one. */
static const char *key_for(const struct gmr_emitter *g, const char *key)
{
    if (g->list[g->depth])
        return NULL;
    return key ? key : "value";
}

void gmr_emit_str(struct gmr_emitter *g, const char *key, const char *value)
{
    if (g)
        g->e->ops->str(g->e, key_for(g, key), value ? value : "", 0);
}

void gmr_emit_int(struct gmr_emitter *g, const char *key, long long value)
{
    if (g)
        g->e->ops->num(g->e, key_for(g, key), value, 0);
}

void gmr_emit_text(struct gmr_emitter *g, const char *line)
{
    if (g)
        g->e->ops->text(g->e, line ? line : "");
}

static void begin(struct gmr_emitter *g, const char *key, int list)
{
    if (!g)
        return;
    if (g->ignored || g->depth == MAX_USER_DEPTH) {
        g->ignored++;
        return;
    }
    if (list)
        g->e->ops->begin_list(g->e, key_for(g, key), 0);
    else
        g->e->ops->begin_object(g->e, key_for(g, key), NULL, 0);
    g->list[++g->depth] = (unsigned char)list;
}

static void end(struct gmr_emitter *g, int list)
{
    if (!g)
        return;
    if (g->ignored) {
        g->ignored--;
        return;
    }
    if (g->depth == 0 || g->list[g->depth] != list)
        return; /* an end with no matching begin */
    if (list)
        g->e->ops->end_list(g->e);
    else
        g->e->ops->end_object(g->e);
    g->depth--;
}

void gmr_emit_begin_object(struct gmr_emitter *g, const char *key)
{
    begin(g, key, 0);
}

void gmr_emit_end_object(struct gmr_emitter *g)
{
    end(g, 0);
}

void gmr_emit_begin_list(struct gmr_emitter *g, const char *key)
{
    begin(g, key, 1);
}

void gmr_emit_end_list(struct gmr_emitter *g)
{
    end(g, 1);
}

/* ---- sections ---- */

static const char *const reserved[] = {
    "header",        "package",        "threads",        "green_threads",    "processes",
    "configuration", "environment",    "shared_objects", "file_descriptors", "signals",
    "memory",        "resource_usage", "Package",        "Threads",          "Green Threads",
    "Processes",     "Configuration",  "Environment",    "Shared Objects",   "File Descriptors",
    "Signals",       "Memory",         "Resource Usage",
};

int api_title_reserved(const char *title)
{
    size_t i;

    for (i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
        if (!strcmp(title, reserved[i]))
            return 1;
    return 0;
}

int gmr_register_section(const char *title, gmr_section_fn fn, void *arg)
{
    int i, free_slot = -1, id = -1;

    if (!title || !title[0] || !fn || strlen(title) >= sizeof(sections[0].title) ||
        api_title_reserved(title))
        return -1;
    if (lock_take(&sections_lock) < 0)
        return -1;
    for (i = 0; i < MAX_SECTIONS; i++) {
        if (sections[i].id && !strcmp(sections[i].title, title))
            goto out;
        if (!sections[i].id && free_slot < 0)
            free_slot = i;
    }
    if (free_slot < 0 || next_id == INT_MAX)
        goto out;
    id = ++next_id;
    sections[free_slot].id = id;
    snprintf(sections[free_slot].title, sizeof(sections[free_slot].title), "%s", title);
    sections[free_slot].fn = fn;
    sections[free_slot].arg = arg;
out:
    lock_give(&sections_lock);
    return id;
}

int gmr_unregister_section(int id)
{
    int i, ret = -1;

    if (id <= 0 || lock_take(&sections_lock) < 0)
        return -1;
    for (i = 0; i < MAX_SECTIONS; i++)
        if (sections[i].id == id) {
            memset(&sections[i], 0, sizeof(sections[i]));
            ret = 0;
        }
    lock_give(&sections_lock);
    /* Removed, so no report starts it again; one may be calling it now. */
    if (ret == 0)
        wait_while_running(&running_id, id);
    return ret;
}

static void run_section(struct emitter *e, const struct section_entry *s)
{
    struct gmr_emitter g;

    memset(&g, 0, sizeof(g));
    g.e = e;
    e->ops->begin_section(e, s->title, s->title);
    e->ops->begin_object(e, NULL, NULL, 0);
    s->fn(&g, s->arg);
    while (g.depth > 0)
        end(&g, g.list[g.depth]);
    e->ops->end_object(e);
    e->ops->end_section(e);
}

/* Is section `id` still registered? If so it is marked running, under the
   lock gmr_unregister_section takes: it either sees the mark or was first. */
static int start_section(int id)
{
    int i, found = 0;

    if (lock_take(&sections_lock) < 0)
        return 0;
    for (i = 0; i < MAX_SECTIONS && !found; i++)
        found = sections[i].id == id;
    if (found)
        atomic_store(&running_id, id);
    lock_give(&sections_lock);
    return found;
}

void api_emit_sections(struct emitter *e)
{
    struct section_entry snapshot[MAX_SECTIONS];
    int i;

    if (lock_take(&sections_lock) < 0)
        return;
    memcpy(snapshot, sections, sizeof(snapshot));
    lock_give(&sections_lock);
    for (i = 0; i < MAX_SECTIONS; i++) {
        if (!snapshot[i].id || !start_section(snapshot[i].id))
            continue;
        run_section(e, &snapshot[i]); /* no lock held: it may (un)register */
        atomic_store(&running_id, 0);
        handler_announce();
    }
}

/* ---- gmr_report ---- */

static int wait_served(uint32_t ticket)
{
    struct timespec start, now;

    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        uint32_t seen = atomic_load(handler_news());

        if ((int32_t)(atomic_load(&served) - ticket) >= 0)
            return 0;
        if (watcher_gone()) {
            errno = ENOSYS;
            return -1;
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - start.tv_sec >= REPORT_WAIT_S) {
            errno = ETIMEDOUT;
            return -1;
        }
        ll_futex_wait(handler_news(), seen, SLICE_MS);
    }
}

int gmr_report(const char *reason)
{
    uint32_t ticket;

    if (watcher_gone()) {
        errno = ENOSYS;
        return -1;
    }
    if (on_watcher()) {
        errno = EDEADLK;
        return -1;
    }
    if (lock_take(&requests_lock) < 0)
        return -1;
    snprintf(last_reason, sizeof(last_reason), "%s", reason ? reason : "");
    last_caller = ll_gettid();
    pending_requests++;
    ticket = atomic_fetch_add(&requested, 1) + 1;
    lock_give(&requests_lock);
    handler_wake_watcher(TRIGGER_API);
    return wait_served(ticket);
}

uint32_t api_take_requests(char *reason, size_t len, unsigned *count, pid_t *caller)
{
    uint32_t ticket;

    if (lock_take(&requests_lock) < 0)
        return atomic_load(&served);
    ticket = atomic_load(&requested);
    snprintf(reason, len, "%s", last_reason);
    *caller = last_caller;
    *count = pending_requests;
    pending_requests = 0;
    lock_give(&requests_lock);
    return ticket;
}

void api_requests_served(uint32_t ticket)
{
    uint32_t seen = atomic_load(&served);

    while ((int32_t)(ticket - seen) > 0 && !atomic_compare_exchange_weak(&served, &seen, ticket))
        ;
    handler_announce();
}

/* ---- green threads ---- */

int gmr_register_green_threads(gmr_green_enum_fn enumerate, void *arg)
{
    int runs;

    if (lock_take(&green_lock) < 0)
        return -1;
    green_fn = enumerate;
    green_arg = arg;
    runs = atomic_load(&green_runs);
    lock_give(&green_lock);
    /* The old lister may be running: wait for that run (not later ones). */
    if (runs & 1)
        wait_while_running(&green_runs, runs);
    return 0;
}

struct green_list {
    struct green_thread *v;
    size_t n, cap;
};

static void visit(const struct gmr_green_thread *g, void *p)
{
    struct green_list *l = p;
    struct green_thread *t;

    if (!g || l->n == MAX_GREEN)
        return;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        struct green_thread *grown = realloc(l->v, cap * sizeof(*grown));
        if (!grown)
            return;
        l->v = grown;
        l->cap = cap;
    }
    t = &l->v[l->n++];
    t->g = *g;
    snprintf(t->name, sizeof(t->name), "%s", g->name ? g->name : "");
    snprintf(t->state, sizeof(t->state), "%s", g->state ? g->state : "");
}

long api_green_threads(struct green_thread **out)
{
    struct green_list l = {NULL, 0, 0};
    gmr_green_enum_fn fn = NULL;
    void *arg = NULL;
    size_t i;
    long n = -1;

    if (lock_take(&green_lock) == 0) {
        fn = green_fn;
        arg = green_arg;
        if (fn)
            atomic_fetch_add(&green_runs, 1); /* odd: running */
        lock_give(&green_lock);
    }
    if (fn) {
        fn(visit, &l, arg); /* no lock held */
        atomic_fetch_add(&green_runs, 1);
        handler_announce();
        n = (long)l.n;
    }
    for (i = 0; i < l.n; i++) { /* pointers into the array's final place */
        l.v[i].g.name = l.v[i].name;
        l.v[i].g.state = l.v[i].state;
    }
    *out = l.v;
    return n;
}

void api_after_fork(void)
{
    /* The child has one thread and a watcher of its own to come: whoever
       held these in the parent, and whatever the parent's watcher was
       running, is gone. */
    atomic_store(&sections_lock, 0);
    atomic_store(&requests_lock, 0);
    atomic_store(&green_lock, 0);
    atomic_store(&running_id, 0);
    atomic_store(&green_runs, 0);
    pending_requests = 0;
}
