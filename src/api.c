/*
 * api.c - the public API: program sections, gmr_report, coroutine lister,
 * and the emitter functions section callbacks write through.
 *
 * Sections: a fixed table under a recursive mutex. A report holds the
 * mutex while it runs the callbacks, so gmr_unregister_section from
 * another thread waits until the callback is done - a plugin may unload
 * right after - while a callback may still (un)register: the mutex is
 * recursive and each entry is looked up again before it is called.
 *
 * gmr_report: each request takes a ticket; the watcher notes the highest
 * ticket when it takes the API trigger, and after writing the report
 * declares every ticket up to that one served. A caller waits (futex) for
 * its own ticket, so it returns once a report begun after its request is
 * written, and requests arriving together share a report.
 */
#include "api.h"

#include "handlers.h"
#include "watcher.h"

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
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

struct section_entry {
    int id;
    char title[128];
    gmr_section_fn fn;
    void *arg;
};

static pthread_mutex_t sections_lock = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
static struct section_entry sections[MAX_SECTIONS];
static int next_id;

static pthread_mutex_t requests_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic uint32_t requested, served;
static char last_reason[256];
static pid_t last_caller; /* the thread of the newest gmr_report call */
static unsigned pending_requests;

static pthread_mutex_t green_lock = PTHREAD_MUTEX_INITIALIZER;
static gmr_green_enum_fn green_fn;
static void *green_arg;

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
    pthread_mutex_lock(&sections_lock);
    for (i = 0; i < MAX_SECTIONS; i++) {
        if (sections[i].id && !strcmp(sections[i].title, title))
            goto out;
        if (!sections[i].id && free_slot < 0)
            free_slot = i;
    }
    if (free_slot < 0)
        goto out;
    id = ++next_id;
    sections[free_slot].id = id;
    snprintf(sections[free_slot].title, sizeof(sections[free_slot].title), "%s", title);
    sections[free_slot].fn = fn;
    sections[free_slot].arg = arg;
out:
    pthread_mutex_unlock(&sections_lock);
    return id;
}

int gmr_unregister_section(int id)
{
    int i, ret = -1;

    pthread_mutex_lock(&sections_lock);
    for (i = 0; i < MAX_SECTIONS; i++)
        if (id > 0 && sections[i].id == id) {
            memset(&sections[i], 0, sizeof(sections[i]));
            ret = 0;
        }
    pthread_mutex_unlock(&sections_lock);
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

void api_emit_sections(struct emitter *e)
{
    struct section_entry snapshot[MAX_SECTIONS];
    int i, j;

    pthread_mutex_lock(&sections_lock);
    memcpy(snapshot, sections, sizeof(snapshot));
    for (i = 0; i < MAX_SECTIONS; i++) {
        if (!snapshot[i].id)
            continue;
        for (j = 0; j < MAX_SECTIONS; j++) /* still registered? */
            if (sections[j].id == snapshot[i].id)
                break;
        if (j < MAX_SECTIONS)
            run_section(e, &snapshot[i]);
    }
    pthread_mutex_unlock(&sections_lock);
}

/* ---- gmr_report ---- */

static pid_t my_tid(void)
{
    return (pid_t)syscall(SYS_gettid);
}

static int wait_served(uint32_t ticket)
{
    struct timespec start, now;

    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        uint32_t seen = atomic_load(&served);
        struct timespec left = {1, 0};

        if ((int32_t)(seen - ticket) >= 0)
            return 0;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - start.tv_sec >= REPORT_WAIT_S) {
            errno = ETIMEDOUT;
            return -1;
        }
        syscall(SYS_futex, &served, FUTEX_WAIT_PRIVATE, seen, &left, NULL, 0);
    }
}

int gmr_report(const char *reason)
{
    uint32_t ticket;

    if (!watcher_running() || handler_no_watcher_reason()) {
        errno = ENOSYS;
        return -1;
    }
    if (my_tid() == atomic_load(&hs.watcher_tid)) {
        errno = EDEADLK;
        return -1;
    }
    pthread_mutex_lock(&requests_lock);
    snprintf(last_reason, sizeof(last_reason), "%s", reason ? reason : "");
    last_caller = my_tid();
    pending_requests++;
    ticket = atomic_fetch_add(&requested, 1) + 1;
    pthread_mutex_unlock(&requests_lock);
    handler_wake_watcher(TRIGGER_API);
    return wait_served(ticket);
}

uint32_t api_take_requests(char *reason, size_t len, unsigned *count, pid_t *caller)
{
    uint32_t ticket;

    pthread_mutex_lock(&requests_lock);
    ticket = atomic_load(&requested);
    snprintf(reason, len, "%s", last_reason);
    *caller = last_caller;
    *count = pending_requests;
    pending_requests = 0;
    pthread_mutex_unlock(&requests_lock);
    return ticket;
}

void api_requests_served(uint32_t ticket)
{
    uint32_t seen = atomic_load(&served);

    while ((int32_t)(ticket - seen) > 0 && !atomic_compare_exchange_weak(&served, &seen, ticket))
        ;
    syscall(SYS_futex, &served, FUTEX_WAKE_PRIVATE, 0x7fffffff, NULL, NULL, 0);
}

/* ---- green threads ---- */

int gmr_register_green_threads(gmr_green_enum_fn enumerate, void *arg)
{
    pthread_mutex_lock(&green_lock);
    green_fn = enumerate;
    green_arg = arg;
    pthread_mutex_unlock(&green_lock);
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
    size_t i;
    long n = -1;

    pthread_mutex_lock(&green_lock);
    if (green_fn) {
        green_fn(visit, &l, green_arg);
        n = (long)l.n;
    }
    pthread_mutex_unlock(&green_lock);
    for (i = 0; i < l.n; i++) { /* pointers into the array's final place */
        l.v[i].g.name = l.v[i].name;
        l.v[i].g.state = l.v[i].state;
    }
    *out = l.v;
    return n;
}

void api_after_fork(void)
{
    pthread_mutex_t recursive = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
    pthread_mutex_t plain = PTHREAD_MUTEX_INITIALIZER;

    /* The child has one thread: whoever held these in the parent is gone. */
    sections_lock = recursive;
    requests_lock = plain;
    green_lock = plain;
    pending_requests = 0;
}
