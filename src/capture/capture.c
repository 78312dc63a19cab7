/*
 * capture.c - the watcher's half of a capture round.
 *
 *  1. list the threads, then read /proc/self/maps: every listed thread's
 *     stack is in that map, which the handlers use to bound their copy
 *     (a thread created later is listed later, with a newer map);
 *  2. per thread, /proc/self/task/TID/stat: name, state and CPU times as
 *     they were before we interrupted anyone;
 *  3. publish the round and queue the signal to each thread that would
 *     take it in our handler and nowhere else (tasks.c: not one that
 *     blocks it, waits for it in sigwaitinfo, or has one of ours pending
 *     still); re-list to catch threads created meanwhile;
 *  4. sleep on the round's futex until every thread sent the signal has
 *     answered (counted thread by thread; the last handler wakes us) or
 *     the deadline passes. When answers stop coming, look at the silent
 *     threads again: one that has exited, blocked the signal since, or
 *     waits for a vfork child is settled at once, so it never costs the
 *     deadline;
 *  5. unpublish, wait for handlers still inside to leave, classify, and
 *     list the threads created too late to be asked, so none is missing.
 *
 * Memory for slots and stack copies comes from mmap and goes back with
 * munmap, so a report leaves the host no bigger than it was. Copy space
 * is reserved (MAP_NORESERVE), and only what a stack really uses is
 * touched.
 */
#include "capture.h"

#include "capture_ptrace.h"
#include "base/lowlevel.h"
#include "base/procfs.h"
#include "base/safecopy.h"
#include "base/tasks.h"
#include "signal/handlers.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define STACK_COPY_MIN    (16 * 1024)
#define RELIST_ROUNDS     8
#define STALL_US          10000  /* no new answer for this long: look at the silent */
#define RECHECK_ANYWAY_US 200000 /* ... and from then on, regardless */
#define BLOCKED_RETRY_US  30000  /* a thread blocking the signal is looked at again this long */
#define DRAIN_MAX_MS      2000

static uint32_t round_seq;

/* ---- thread records ---- */

static struct thread_rec *add_thread(struct capture *c, pid_t tid)
{
    struct thread_rec *t;

    if (c->n == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 64;
        struct thread_rec *grown = realloc(c->threads, ncap * sizeof(*grown));
        if (!grown)
            return NULL;
        c->threads = grown;
        c->cap = ncap;
    }
    t = &c->threads[c->n++];
    memset(t, 0, sizeof(*t));
    t->tid = tid;
    return t;
}

static int known(const struct capture *c, pid_t tid)
{
    size_t i;

    for (i = 0; i < c->n; i++)
        if (c->threads[i].tid == tid)
            return 1;
    return 0;
}

/* Adds the threads of `tids` not listed yet; returns the first one's index. */
static size_t add_unknown(struct capture *c, const pid_t *tids, size_t ntids, int late)
{
    size_t i, first = c->n;

    for (i = 0; i < ntids; i++) {
        struct thread_rec *t;
        if (known(c, tids[i]))
            continue;
        t = add_thread(c, tids[i]);
        if (!t)
            break;
        t->late = late;
    }
    return first;
}

static const char *state_text(char s)
{
    switch (s) {
    case 'R':
        return "R (running)";
    case 'S':
        return "S (sleeping)";
    case 'D':
        return "D (disk sleep)";
    case 'T':
        return "T (stopped)";
    case 't':
        return "t (tracing stop)";
    case 'Z':
        return "Z (zombie)";
    case 'X':
        return "X (dead)";
    case 'I':
        return "I (idle)";
    }
    return "?";
}

static unsigned long long ticks_per_second(void)
{
    static long hz;

    if (!hz)
        hz = sysconf(_SC_CLK_TCK);
    return (unsigned long long)(hz > 0 ? hz : 100);
}

/*
 * /proc/self/task/TID/stat: "tid (name) S ppid ... utime stime ...".
 * The name may hold spaces and parentheses, so it ends at the last ')'.
 * Returns -1 if the thread is gone.
 */
static int read_stat(int taskdir, struct thread_rec *t)
{
    char path[32], text[1024];
    const char *open_paren, *close_paren, *p;
    unsigned long long utime = 0, stime = 0;
    int field;

    snprintf(path, sizeof(path), "%d/stat", (int)t->tid);
    if (procfs_readat(taskdir, path, text, sizeof(text)) < 0)
        return -1;
    open_paren = strchr(text, '(');
    close_paren = strrchr(text, ')');
    if (!open_paren || !close_paren || close_paren < open_paren || !close_paren[1])
        return -1;
    snprintf(t->name, sizeof(t->name), "%.*s", (int)(close_paren - open_paren - 1), open_paren + 1);
    snprintf(t->state, sizeof(t->state), "%s", state_text(close_paren[2]));
    /* Fields 14 and 15 (utime, stime) counting "tid" as field 1. */
    for (p = close_paren + 2, field = 3; *p && field < 14; p++)
        if (*p == ' ')
            field++;
    if (*p) {
        char *end;
        utime = strtoull(p, &end, 10);
        stime = strtoull(end, NULL, 10);
        t->utime_ms = (long)(utime * 1000 / ticks_per_second());
        t->stime_ms = (long)(stime * 1000 / ticks_per_second());
        for (p = end, field = 15; *p && field < 21; p++) /* on to 22: starttime */
            if (*p == ' ')
                field++;
        t->start = strtoull(p, NULL, 10);
    }
    return 0;
}

/*
 * Threads once seen waiting in sigwaitinfo for the capture signal. Such a
 * thread leaves the wait and enters it again all the time (a daemon's
 * signal thread), and between our look at its mask and our look at its
 * system call it may seem free to take the signal, and then take it as
 * its own. So once seen there, it is never sent the signal again. A thread
 * is known by its tid and start time (tids are reused).
 */
#define SIGWAITERS 64

static struct {
    pid_t tid;
    unsigned long long start;
} sigwaiters[SIGWAITERS];
static size_t nsigwaiters, next_sigwaiter; /* a ring: the oldest go first */

static int was_sigwaiter(const struct thread_rec *t)
{
    size_t i;

    for (i = 0; i < nsigwaiters; i++)
        if (sigwaiters[i].tid == t->tid && sigwaiters[i].start == t->start)
            return 1;
    return 0;
}

static void note_sigwaiter(const struct thread_rec *t)
{
    if (was_sigwaiter(t))
        return;
    sigwaiters[next_sigwaiter].tid = t->tid;
    sigwaiters[next_sigwaiter].start = t->start;
    next_sigwaiter = (next_sigwaiter + 1) % SIGWAITERS;
    if (nsigwaiters < SIGWAITERS)
        nsigwaiters++;
}

/* The system call the thread sits in: read for every thread before it is
   signalled (the signal takes it out of the call), for the Waits section. */
static void read_syscall(int taskdir, struct thread_rec *t)
{
    char path[32];
    ssize_t n;

    snprintf(path, sizeof(path), "%d/syscall", (int)t->tid);
    n = procfs_readat(taskdir, path, t->syscall, sizeof(t->syscall));
    if (n > 0 && t->syscall[n - 1] == '\n')
        t->syscall[n - 1] = '\0';
}

static void read_whereabouts(int taskdir, struct thread_rec *t)
{
    char path[32];

    read_syscall(taskdir, t);
    snprintf(path, sizeof(path), "%d/wchan", (int)t->tid);
    procfs_readat(taskdir, path, t->wchan, sizeof(t->wchan));
    if (!strcmp(t->wchan, "0"))
        t->wchan[0] = '\0';
}

/* ---- round memory ---- */

static size_t round_size(uint32_t cap)
{
    return sizeof(struct round) + (size_t)cap * sizeof(struct slot);
}

static int alloc_round(struct capture *c, uint32_t cap)
{
    size_t stack = CAPTURE_STACK_MAX;
    void *p;

    c->round_bytes = round_size(cap);
    p = mmap(NULL, c->round_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return -1;
    c->round = p;
    c->round->cap = cap;
    c->round->slots = (struct slot *)(c->round + 1);
    /* Reserve copy space; halve it where address space is short. */
    for (; stack >= STACK_COPY_MIN; stack /= 2) {
        p = mmap(NULL, (size_t)cap * stack, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p != MAP_FAILED) {
            c->copies = p;
            c->copies_bytes = (size_t)cap * stack;
            c->stack_cap = stack;
            return 0;
        }
    }
    munmap(c->round, c->round_bytes);
    c->round = NULL;
    return -1;
}

/* ---- sending ---- */

static int queue_signal(pid_t pid, pid_t tid, int signo, uint32_t seq, uint32_t idx)
{
    siginfo_t si;

    memset(&si, 0, sizeof(si));
    si.si_signo = signo;
    si.si_code = SI_QUEUE;
    si.si_pid = pid;
    si.si_uid = getuid();
    si.si_value.sival_ptr = (void *)(uintptr_t)(((uint64_t)seq << 32) | idx);
    return (int)syscall(SYS_rt_tgsigqueueinfo, pid, tid, signo, &si);
}

/* A slot for the thread, made ready for its answer; NULL if none is left. */
static struct slot *reserve_slot(struct capture *c, struct thread_rec *t, const struct map_set *set,
                                 int filtered)
{
    struct round *r = c->round;
    uint32_t idx = atomic_load(&r->nslots);
    struct slot *s;

    if (idx >= r->cap) {
        t->status = CAP_NO_ROOM;
        return NULL;
    }
    s = &r->slots[idx];
    s->tid = t->tid;
    s->maps = set;
    s->copy = c->copies + (size_t)idx * c->stack_cap;
    s->copy_cap = c->stack_cap;
    s->via_mem_file = filtered;
    atomic_store(&s->state, SLOT_SENT);
    atomic_store(&r->nslots, idx + 1);
    t->slot = s;
    t->status = CAP_NO_ANSWER; /* until it answers */
    return s;
}

/* The thread's slot, writable: the round owns it. */
static struct slot *slot_of(struct capture *c, const struct thread_rec *t)
{
    return &c->round->slots[t->slot - c->round->slots];
}

/* Queues the capture signal for a thread whose slot is ready. */
static void signal_slot(struct capture *c, struct thread_rec *t)
{
    struct round *r = c->round;
    struct slot *s = slot_of(c, t);

    atomic_fetch_add(&r->expected, 1);
    if (queue_signal(handler_pid(), t->tid, c->signo, r->seq, (uint32_t)(s - r->slots)) < 0) {
        t->err = errno;
        t->status = errno == ESRCH ? CAP_GONE : CAP_SEND_FAILED;
        atomic_store(&s->state, SLOT_EMPTY);
        atomic_fetch_sub(&r->expected, 1);
        t->slot = NULL;
    }
}

static void send_to(struct capture *c, struct thread_rec *t, const struct map_set *set,
                    int filtered)
{
    if (reserve_slot(c, t, set, filtered))
        signal_slot(c, t);
}

/* Reads a map for the threads that have none yet (see step 1). */
static struct map_set *fresh_map_set(struct capture *c)
{
    struct rlimit rl = {RLIM_INFINITY, RLIM_INFINITY};
    struct map_set *set = NULL;
    struct maps fresh;

    if (c->nsets == sizeof(c->sets) / sizeof(c->sets[0]) || maps_read(&fresh) < 0)
        return NULL;
    getrlimit(RLIMIT_STACK, &rl);
    set = maps_readable_set(&fresh, (uintptr_t)rl.rlim_cur);
    maps_free(&c->maps);
    c->maps = fresh;
    if (set)
        c->sets[c->nsets++] = set;
    return set;
}

/* The preset slot for tid, if any, and its kind. A frozen thread's slot
   is made up in `scratch` from its record. */
static const struct slot *preset_for(const struct capture_presets *p, pid_t tid,
                                     enum capture_preset *kind, struct slot *scratch)
{
    size_t i;

    if (!p)
        return NULL;
    if (p->crashed && p->crashed->tid == tid) {
        *kind = PRESET_CRASHED;
        return p->crashed;
    }
    for (i = 0; i < p->nfrozen; i++)
        if (atomic_load(&p->frozen[i].tid) == tid) {
            memset(scratch, 0, sizeof(*scratch));
            scratch->tid = tid;
            scratch->frozen = 1;
            memcpy(scratch->regs, p->frozen[i].regs, sizeof(scratch->regs));
            atomic_store(&scratch->state, SLOT_DONE);
            *kind = PRESET_FROZEN;
            return scratch;
        }
    if (p->trigger && p->trigger->tid == tid) {
        *kind = PRESET_TRIGGER;
        return p->trigger;
    }
    return NULL;
}

static enum capture_status reach_status(enum task_reach reach)
{
    switch (reach) {
    case REACH_BLOCKED:
        return CAP_BLOCKED;
    case REACH_SIGWAIT:
        return CAP_SIGWAIT;
    case REACH_PENDING:
        return CAP_PENDING;
    case REACH_GONE:
        return CAP_GONE;
    case REACH_YES:
        break;
    }
    return CAP_NO_ANSWER;
}

/* Takes a preset for t. The slot is copied: a frozen thread's lives on
   its own stack, and the thread may be let go before the report is done. */
static void take_preset(struct thread_rec *t, const struct slot *preset, enum capture_preset kind)
{
    t->kept = malloc(sizeof(*t->kept));
    if (!t->kept) {
        t->status = CAP_NO_MEMORY;
        return;
    }
    memcpy(t->kept, preset, sizeof(*t->kept));
    t->status = CAP_OK;
    t->preset = kind;
    t->slot = t->kept;
}

/* ---- the ptrace backend (capture_ptrace.c) ---- */

/* A reserved slot given back unused: the thread is not captured, `why`. */
static void give_back(struct capture *c, struct thread_rec *t, enum capture_status why)
{
    atomic_store(&slot_of(c, t)->state, SLOT_EMPTY);
    t->slot = NULL;
    t->status = why;
}

/*
 * Threads enrolled for the tracer are captured in one batch; any it could
 * not capture get the signal after all, if it would reach them. If the
 * tracer could trace no thread at all, the rest of the capture uses
 * signals, and the header says why.
 */
static void trace_enrolled(struct capture *c, size_t first)
{
    /* an array of pointers */ /* NOLINTNEXTLINE(bugprone-sizeof-expression) */
    struct slot **batch = calloc(c->n - first + 1, sizeof(*batch));
    struct ptrace_outcome out;
    size_t i, n = 0;

    for (i = first; batch && i < c->n; i++)
        if (c->threads[i].traced && c->threads[i].slot)
            batch[n++] = slot_of(c, &c->threads[i]);
    if (!batch || !n)
        goto out;
    ptrace_capture(handler_pid(), batch, n, c->timeout_ms, NULL, &out);
    c->ptraced += out.captured;
    if (out.why)
        c->ptrace_why = out.why;
    if (!out.captured && out.why)
        c->ptrace = 0; /* refused: the rest of this capture by signal */
    for (i = first; i < c->n; i++) {
        struct thread_rec *t = &c->threads[i];
        enum task_reach reach;
        int filtered;

        if (!t->traced || !t->slot || atomic_load(&t->slot->state) == SLOT_DONE)
            continue;
        if (task_in_vfork(c->taskdir, t->tid)) { /* it cannot stop, nor take a signal */
            give_back(c, t, CAP_IN_VFORK);
            continue;
        }
        reach = task_reach(c->taskdir, t->tid, c->signo, &filtered);
        slot_of(c, t)->via_mem_file = filtered;
        if (reach == REACH_YES)
            signal_slot(c, t);
        else
            give_back(c, t, reach_status(reach));
    }
out:
    free(batch);
}

/*
 * Why ptrace must not be used here, or NULL. The tracer inherits the
 * watcher's seccomp filter, and a filter may kill whoever calls ptrace,
 * with a core dump: before Linux 5.16 a core dump ends every task that
 * shares its memory, the whole process here. Filters cannot be read back,
 * so GMR_CAPTURE=auto leaves ptrace alone under one (ptrace insists).
 */
static const char *ptrace_barred(enum cfg_capture mode)
{
    if (mode == CAPTURE_AUTO && safe_copy_filtered())
        return "a seccomp filter is installed, and one that kills a caller of ptrace would take "
               "the process along (GMR_CAPTURE=ptrace insists)";
    return NULL;
}

/* Valgrind runs the program on a CPU of its own: ptrace would see
   valgrind's registers, not the program's. */
static const char *valgrind_bars(const struct maps *maps)
{
    size_t i;

    for (i = 0; i < maps->n; i++)
        if (strstr(maps->m[i].path, "/vgpreload_"))
            return "under valgrind, whose threads' registers only its signals show";
    return NULL;
}

/* Captures one newly listed thread, or says why not. */
static void enroll_one(struct capture *c, struct thread_rec *t, const struct map_set *set,
                       pid_t self, const struct capture_presets *p)
{
    enum capture_preset kind = PRESET_NONE;
    struct slot scratch;
    const struct slot *preset = preset_for(p, t->tid, &kind, &scratch);
    enum task_reach reach;
    int filtered = 1;

    if (read_stat(c->taskdir, t) < 0) {
        t->status = CAP_GONE;
        return;
    }
    if (t->tid == self) {
        t->status = CAP_SELF;
        return;
    }
    if (preset) {
        if (kind == PRESET_TRIGGER) /* back in its call, as a rule: its handler has returned */
            read_syscall(c->taskdir, t);
        take_preset(t, preset, kind);
        return;
    }
    if (c->ptrace && set && (!p || p->send)) {
        /* No signal: whether it blocks ours or waits for it does not
           matter (trace_enrolled looks if it gets one after all). */
        read_syscall(c->taskdir, t);
        t->traced = reserve_slot(c, t, set, filtered) != NULL;
        return;
    }
    reach = was_sigwaiter(t) ? REACH_SIGWAIT : task_reach(c->taskdir, t->tid, c->signo, &filtered);
    if (reach == REACH_SIGWAIT)
        note_sigwaiter(t);
    if (reach == REACH_PENDING && task_in_vfork(c->taskdir, t->tid)) {
        t->status = CAP_IN_VFORK; /* why ours is still pending there */
        return;
    }
    if (p && !p->send) /* a crash round: whoever could be is frozen already */
        t->status = reach == REACH_YES ? CAP_NOT_FROZEN : reach_status(reach);
    else if (reach != REACH_YES)
        t->status = reach_status(reach);
    else if (!set)
        t->status = CAP_NO_MEMORY;
    else {
        read_syscall(c->taskdir, t);
        send_to(c, t, set, filtered);
    }
}

/* Adds the threads in `tids` not yet known and captures them. Returns how
   many were new. */
static size_t enroll(struct capture *c, const pid_t *tids, size_t ntids, pid_t self, int late,
                     const struct capture_presets *p)
{
    struct map_set *set = NULL;
    size_t i, first = add_unknown(c, tids, ntids, late);

    if (c->n == first)
        return 0;
    if (!p || p->send)
        set = fresh_map_set(c);
    if (c->ptrace && (c->ptrace_why = valgrind_bars(&c->maps)))
        c->ptrace = 0;
    for (i = first; i < c->n; i++)
        enroll_one(c, &c->threads[i], set, self, p);
    if (c->ptrace)
        trace_enrolled(c, first);
    return c->n - first;
}

/* ---- waiting ---- */

static int answered(const struct thread_rec *t)
{
    return t->preset || (t->slot && atomic_load(&t->slot->state) == SLOT_DONE);
}

/* Threads sent the signal that have not answered (and are not settled). */
static uint32_t outstanding(const struct capture *c)
{
    uint32_t n = 0;
    size_t i;

    for (i = 0; i < c->n; i++)
        n += c->threads[i].status == CAP_NO_ANSWER && !answered(&c->threads[i]);
    return n;
}

/* Settles silent threads that cannot answer soon: exited, blocking us
   since, or waiting for a vfork child. An answer that comes later still
   counts (finish). */
static void settle_silent(struct capture *c)
{
    size_t i;

    for (i = 0; i < c->n; i++) {
        struct thread_rec *t = &c->threads[i];
        enum task_reach reach;
        int filtered;

        if (t->status != CAP_NO_ANSWER || answered(t))
            continue;
        reach = task_reach(c->taskdir, t->tid, c->signo, &filtered);
        if (reach == REACH_GONE || reach == REACH_BLOCKED)
            t->status = reach_status(reach);
        else if (task_in_vfork(c->taskdir, t->tid))
            t->status = CAP_IN_VFORK;
    }
}

/*
 * A thread that blocked the capture signal when we looked was not sent it
 * (it would keep it pending, and might take it with sigwaitinfo or a
 * signalfd). Many block signals only for a moment (PostgreSQL's processes
 * around their handlers): for the first BLOCKED_RETRY_US of the round each
 * look asks again, and sends the signal to those that take it now.
 */
static int retriable(const struct thread_rec *t)
{
    return t->status == CAP_BLOCKED && !t->slot;
}

static int any_retriable(const struct capture *c)
{
    size_t i;

    for (i = 0; i < c->n; i++)
        if (retriable(&c->threads[i]))
            return 1;
    return 0;
}

static void retry_blocked(struct capture *c)
{
    const struct map_set *set = c->nsets ? c->sets[c->nsets - 1] : NULL;
    size_t i;

    for (i = 0; set && i < c->n; i++) {
        struct thread_rec *t = &c->threads[i];
        enum task_reach reach;
        int filtered;

        if (!retriable(t))
            continue;
        reach = task_reach(c->taskdir, t->tid, c->signo, &filtered);
        if (reach == REACH_YES)
            send_to(c, t, set, filtered);
        else if (reach != REACH_BLOCKED)
            t->status = reach_status(reach);
        if (reach == REACH_SIGWAIT)
            note_sigwaiter(t);
    }
}

static void wait_answers(struct capture *c, long long start, long long deadline)
{
    struct round *r = c->round;
    long long next_look = ll_now_us() + STALL_US;
    uint32_t seen = 0;

    for (;;) {
        uint32_t done = atomic_load(&r->done), left = outstanding(c);
        long long now = ll_now_us(), until;
        int retry = now - start < BLOCKED_RETRY_US && any_retriable(c);
        struct timespec ts;

        if ((left == 0 && !retry) || now >= deadline || (handler_pending() & TRIGGER_CRASH))
            return; /* a crash: its own round, with the threads held, comes next */
        /* Only a hint for the handlers: wake us when this many are in. */
        atomic_store(&r->expected, done + left);
        if (now >= next_look) {
            if (retry)
                retry_blocked(c);
            if (done == seen || now - start > RECHECK_ANYWAY_US)
                settle_silent(c);
            seen = done;
            next_look = now + STALL_US;
            continue;
        }
        until = next_look < deadline ? next_look : deadline;
        ts.tv_sec = (until - now) / 1000000;
        ts.tv_nsec = (until - now) % 1000000 * 1000;
        handler_set_waits_on(&r->done); /* not a lock: see crash_handler.c */
        syscall(SYS_futex, &r->done, FUTEX_WAIT_PRIVATE, done, &ts, NULL, 0);
        handler_set_waits_on(NULL);
    }
}

/* Unpublishes the round and waits until no handler is still inside. */
static int drain(void)
{
    return handler_retire_round(DRAIN_MAX_MS);
}

static void finish(struct capture *c)
{
    size_t i;

    for (i = 0; i < c->n; i++) {
        struct thread_rec *t = &c->threads[i];
        int filtered;

        if (answered(t))
            t->status = CAP_OK;
        else if (t->status == CAP_NO_ANSWER &&
                 task_reach(c->taskdir, t->tid, c->signo, &filtered) == REACH_GONE)
            t->status = CAP_GONE;
        if (t->status != CAP_OK) {
            t->slot = NULL;
            if (t->status != CAP_GONE && t->status != CAP_SELF)
                read_whereabouts(c->taskdir, t);
        }
    }
}

/* Lists the threads without capturing them, each with `status`. */
static void list_only(struct capture *c, const pid_t *tids, size_t n, pid_t self,
                      enum capture_status status, const struct capture_presets *p)
{
    size_t i;

    for (i = 0; i < n; i++) {
        struct thread_rec *t = add_thread(c, tids[i]);
        enum capture_preset kind = PRESET_NONE;
        const struct slot *preset;
        struct slot scratch;

        if (!t)
            break;
        preset = preset_for(p, t->tid, &kind, &scratch);
        if (read_stat(c->taskdir, t) < 0)
            t->status = CAP_GONE;
        else if (t->tid == self)
            t->status = CAP_SELF;
        else if (preset)
            take_preset(t, preset, kind);
        else {
            t->status = status;
            read_whereabouts(c->taskdir, t);
        }
    }
}

/* A crash round: the threads that could be are frozen already (presets);
   the others are listed with the reason. */
static void list_crash_round(struct capture *c, const pid_t *tids, size_t ntids, pid_t self,
                             const struct capture_presets *p)
{
    size_t i;

    enroll(c, tids, ntids, self, 0, p);
    for (i = 0; i < c->n; i++)
        if (c->threads[i].status != CAP_OK && c->threads[i].status != CAP_GONE &&
            c->threads[i].status != CAP_SELF)
            read_whereabouts(c->taskdir, &c->threads[i]);
}

/* Could the tracer hold it? A thread the crash freeze did not reach. */
static int unfrozen(const struct thread_rec *t)
{
    return t->status == CAP_NOT_FROZEN || t->status == CAP_BLOCKED || t->status == CAP_SIGWAIT ||
           t->status == CAP_PENDING;
}

/*
 * A crash round: the threads the freeze could not reach (they block the
 * capture signal, or wait for it in sigwaitinfo) are captured by the
 * tracer, which holds them stopped as the frozen ones are held, until the
 * crashing thread lets go (capture_ptrace.h). Those it cannot take keep
 * the reason they were not frozen.
 */
static void hold_unfrozen(struct capture *c, struct ptrace_held *held, const char *barred)
{
    enum capture_status *was = calloc(c->n ? c->n : 1, sizeof(*was));
    /* an array of pointers */ /* NOLINTNEXTLINE(bugprone-sizeof-expression) */
    struct slot **batch = calloc(c->n ? c->n : 1, sizeof(*batch));
    struct ptrace_outcome out;
    struct map_set *set;
    size_t i, n = 0;

    for (i = 0; i < c->n; i++)
        n += unfrozen(&c->threads[i]);
    if (!n || !was || !batch || alloc_round(c, (uint32_t)n) < 0 || !(set = fresh_map_set(c)))
        goto out;
    c->ptrace_asked = 1;
    if ((c->ptrace_why = barred ? barred : valgrind_bars(&c->maps)))
        goto out;
    for (i = 0, n = 0; i < c->n; i++) {
        struct thread_rec *t = &c->threads[i];

        was[i] = t->status;
        if (unfrozen(t) && reserve_slot(c, t, set, 1))
            batch[n++] = slot_of(c, t);
    }
    ptrace_capture(handler_pid(), batch, n, c->timeout_ms, held, &out);
    c->ptraced = out.captured;
    c->ptrace_why = out.why;
    freeze_add_held((uint32_t)out.captured);
    for (i = 0; i < c->n; i++) {
        struct thread_rec *t = &c->threads[i];

        if (!t->slot || t->preset)
            continue;
        if (atomic_load(&t->slot->state) == SLOT_DONE)
            t->status = CAP_OK;
        else
            give_back(c, t, was[i]);
    }
out:
    free(was);
    free(batch);
}

/* Threads created while we waited: listed, so that none is missing. */
static void list_latecomers(struct capture *c)
{
    pid_t *tids;
    size_t ntids, i;

    if (procfs_tids(&tids, &ntids) < 0)
        return;
    for (i = add_unknown(c, tids, ntids, 1); i < c->n; i++) {
        struct thread_rec *t = &c->threads[i];

        t->status = read_stat(c->taskdir, t) < 0 ? CAP_GONE : CAP_NO_ROOM;
        if (t->status == CAP_NO_ROOM)
            read_whereabouts(c->taskdir, t);
    }
    free(tids);
}

static void run_round(struct capture *c, pid_t *tids, size_t ntids, pid_t self, long long start,
                      long timeout_ms, const struct capture_presets *p)
{
    size_t rounds;

    c->round->seq = ++round_seq;
    handler_publish_round(c->round);
    enroll(c, tids, ntids, self, 0, p);
    for (rounds = 0; rounds < RELIST_ROUNDS; rounds++) {
        pid_t *again;
        size_t nagain;
        int added;

        if (procfs_tids(&again, &nagain) < 0)
            break;
        added = enroll(c, again, nagain, self, 1, p) > 0;
        free(again);
        if (!added)
            break;
    }
    wait_answers(c, start, start + timeout_ms * 1000);
    if (drain() < 0) {
        /* A handler is still copying: leave the round and the maps it
           reads mapped for good rather than pull memory from under it. */
        c->round = NULL;
        c->copies = NULL;
        c->nsets = 0;
    }
    finish(c);
    list_latecomers(c);
}

void capture_run(struct capture *c, int signo, long timeout_ms, pid_t self,
                 const struct capture_presets *p, enum cfg_capture mode)
{
    long long start = ll_now_us();
    pid_t *tids = NULL;
    size_t ntids = 0;
    const char *barred = ptrace_barred(mode);

    memset(c, 0, sizeof(*c));
    c->signo = signo;
    c->ptrace_asked = mode != CAPTURE_SIGNAL && (!p || p->send);
    c->ptrace = c->ptrace_asked && !barred;
    if (c->ptrace_asked)
        c->ptrace_why = barred;
    c->timeout_ms = timeout_ms;
    c->taskdir = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (c->taskdir < 0 || procfs_tids(&tids, &ntids) < 0)
        goto out;
    if (p && !p->send) {
        list_crash_round(c, tids, ntids, self, p);
        if (p->held)
            hold_unfrozen(c, p->held, barred);
    } else if (signo <= 0)
        list_only(c, tids, ntids, self, CAP_NO_SIGNAL, p);
    else if (!handler_owns(signo, handler_capture))
        list_only(c, tids, ntids, self, CAP_NOT_OURS, p);
    else if (alloc_round(c, (uint32_t)(ntids * 2 + 64)) < 0)
        list_only(c, tids, ntids, self, CAP_NO_MEMORY, p);
    else
        run_round(c, tids, ntids, self, start, timeout_ms, p);
    if (!c->maps.n) /* not read for a round: the unwinder and symbolizer need it */
        maps_read(&c->maps);
out:
    free(tids);
    if (c->taskdir >= 0)
        close(c->taskdir);
    c->taskdir = -1;
    c->elapsed_us = (long)(ll_now_us() - start);
}

void capture_free(struct capture *c)
{
    size_t i;

    if (c->round)
        munmap(c->round, c->round_bytes);
    if (c->copies)
        munmap(c->copies, c->copies_bytes);
    for (i = 0; i < c->nsets; i++)
        free(c->sets[i]);
    maps_free(&c->maps);
    for (i = 0; i < c->n; i++)
        free(c->threads[i].kept);
    free(c->threads);
    memset(c, 0, sizeof(*c));
}

const char *capture_status_text(const struct thread_rec *t)
{
    switch (t->status) {
    case CAP_OK:
        return NULL;
    case CAP_SELF:
        return "libgmr's watcher thread, busy writing this report";
    case CAP_BLOCKED:
        return "not captured: the thread blocks the capture signal";
    case CAP_SIGWAIT:
        return "not captured: the thread waits for signals in sigwaitinfo or sigtimedwait, which "
               "would hand it the capture signal as its own";
    case CAP_PENDING:
        return "not captured: the capture signal sent for an earlier report is still pending "
               "there (the thread has not run a handler since)";
    case CAP_IN_VFORK:
        return "not captured: the thread waits in vfork for its child to exec or exit";
    case CAP_NOT_FROZEN:
        return "not captured: it did not stop in time to be held while the crash was reported";
    case CAP_GONE:
        return "not captured: the thread exited during the capture";
    case CAP_NO_ANSWER:
        return "not captured: no answer to the capture signal before the deadline";
    case CAP_SEND_FAILED:
        return t->err == EAGAIN ? "not captured: the signal queue is full (RLIMIT_SIGPENDING)"
                                : "not captured: the capture signal could not be sent";
    case CAP_NO_ROOM:
        return "not captured: created during the capture, after it had stopped looking for new "
               "threads";
    case CAP_NOT_OURS:
        return "not captured: the program installed its own handler for the capture "
               "signal (set GMR_CAPTURE_SIGNAL to a free one)";
    case CAP_NO_MEMORY:
        return "not captured: no memory for the capture";
    case CAP_NO_SIGNAL:
        return "not captured: no free real-time signal for capturing stacks";
    }
    return "not captured";
}
