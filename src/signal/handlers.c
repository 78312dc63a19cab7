/*
 * handlers.c - SIGNAL CONTEXT. The trigger and capture handlers: every
 * function in this file runs inside a signal handler, in a thread of the
 * host that we interrupted (crash_handler.c has the fatal signals).
 *
 * Rules: async-signal-safe calls only (here: gettid, tgkill, futex,
 * sigaction, process_vm_readv or open/pread/close through safe_copy, and
 * write through log_raw), no malloc, no locks, no stdio, no libunwind,
 * errno preserved, bounded work: every wait has a deadline. Stacks are
 * copied by the kernel (safe_copy), never by dereferencing: a stack may
 * be unmapped, or shrink with brk, between the watcher's look at the map
 * and our copy, and a fault of ours would be taken for the host's crash.
 */
#include "handlers.h"

#include "arch/arch.h"
#include "base/startup.h"
#include "freeze.h"
#include "base/log.h"
#include "base/lowlevel.h"
#include "base/safecopy.h"
#include "sigchain.h"

#include <errno.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Set by the constructor, read by every handler: kept with the other
   variables a process's start writes (startup.h). */
static struct {
    pid_t pid;
    const char *service;
    int wake_signal;    /* sent to the watcher to end its wait: the capture signal */
    int trigger_signal; /* the trigger signal, once its handler is installed */
} conf GMR_STARTUP;

/* The thread that took the trigger signal captures itself in the handler
   (it is interrupted already; a capture signal would interrupt it twice). */
struct trigger_capture {
    struct slot slot;     /* slot.state: EMPTY, BUSY (handler), DONE, TAKEN (watcher) */
    _Atomic unsigned gen; /* the trigger it was filled for (hs.triggers) */
};

/* What the handlers and the watcher share. Signal handlers take no
   argument: it is this file's global. */
static struct {
    _Atomic(struct round *) round;
    _Atomic int active;       /* handlers between entry and exit */
    _Atomic int in_trigger;   /* trigger handlers between entry and exit */
    _Atomic unsigned pending; /* trigger_bits not yet taken by the watcher */
    _Atomic pid_t watcher_tid;
    _Atomic int watcher_state;
    _Atomic unsigned watcher_woken;   /* handlers run on the watcher thread */
    _Atomic(void *) watcher_waits_on; /* the futex of a capture round the watcher waits on */
    _Atomic uint32_t news;            /* futex word: bumped at each change waiters look for */
    _Atomic int leaving_signal;       /* the host is taking it: no wake-ups with it */
    _Atomic unsigned triggers;        /* trigger signals received, ever */
    _Atomic pid_t trigger_tid;        /* thread that received the last trigger */
    _Atomic pid_t trigger_sender;     /* si_pid of the last trigger signal */
    struct trigger_capture trigger;
} hs;

/* ---- set-up, and what the others may know ---- */

void handler_set_process(pid_t pid, const char *service)
{
    conf.pid = pid;
    conf.service = service;
}

pid_t handler_pid(void)
{
    return conf.pid;
}

const char *handler_service(void)
{
    return conf.service;
}

void handler_set_signals(int capture, int trigger)
{
    conf.wake_signal = capture;
    conf.trigger_signal = trigger;
}

int handler_capture_signal(void)
{
    return conf.wake_signal;
}

void handlers_after_fork(pid_t pid)
{
    conf.pid = pid;
    atomic_store(&hs.watcher_tid, 0);
    atomic_store(&hs.round, NULL);
    atomic_store(&hs.active, 0);
    atomic_store(&hs.in_trigger, 0);
    atomic_store(&hs.pending, 0);
    atomic_store(&hs.trigger_tid, 0);
    atomic_store(&hs.trigger_sender, 0);
    atomic_store(&hs.trigger.slot.state, SLOT_EMPTY);
}

void handler_set_watcher(pid_t tid)
{
    atomic_store(&hs.watcher_tid, tid);
}

pid_t handler_watcher(void)
{
    return atomic_load(&hs.watcher_tid);
}

void handler_set_watcher_state(enum watcher_state state)
{
    atomic_store(&hs.watcher_state, (int)state);
    /* Waiters care only for a watcher that is gone; a process's start
       (STARTING) pays no system call for them. */
    if (state != WATCHER_STARTING && state != WATCHER_READY)
        handler_announce();
}

_Atomic uint32_t *handler_news(void)
{
    return &hs.news;
}

void handler_announce(void)
{
    atomic_fetch_add(&hs.news, 1);
    ll_futex_wake(&hs.news, 0x7fffffff);
}

enum watcher_state handler_watcher_state(void)
{
    return (enum watcher_state)atomic_load(&hs.watcher_state);
}

unsigned handler_pending(void)
{
    return atomic_load(&hs.pending);
}

unsigned handler_take_pending(void)
{
    return atomic_exchange(&hs.pending, 0);
}

void handler_post(unsigned bits)
{
    atomic_fetch_or(&hs.pending, bits);
}

void handler_unpost(unsigned bits)
{
    atomic_fetch_and(&hs.pending, ~bits);
}

void handler_set_waits_on(void *word)
{
    atomic_store(&hs.watcher_waits_on, word);
}

void *handler_waits_on(void)
{
    return atomic_load(&hs.watcher_waits_on);
}

void handler_publish_round(struct round *r)
{
    atomic_store(&hs.round, r);
}

int handler_retire_round(long max_ms)
{
    long long give_up = ll_now_ms() + max_ms;
    struct timespec nap = {0, 50 * 1000};

    atomic_store(&hs.round, NULL);
    while (atomic_load(&hs.active) > 0) {
        if (ll_now_ms() > give_up)
            return -1;
        nanosleep(&nap, NULL);
    }
    return 0;
}

int handler_in_trigger(void)
{
    return atomic_load(&hs.in_trigger) > 0;
}

void handler_last_trigger(pid_t *tid, pid_t *sender)
{
    *tid = atomic_load(&hs.trigger_tid);
    *sender = atomic_load(&hs.trigger_sender);
}

struct slot *handler_trigger_slot(unsigned *gen, unsigned *triggers)
{
    /* The count first: a trigger that fills the slot after it was read
       is then taken as fresh (report.c), not as stale. */
    if (triggers)
        *triggers = atomic_load(&hs.triggers);
    if (gen)
        *gen = atomic_load(&hs.trigger.gen);
    return &hs.trigger.slot;
}

/* ---- the signals ---- */

int handler_owns(int sig, void (*fn)(int, siginfo_t *, void *))
{
    struct sigaction sa;

    return sig > 0 && sys_sigaction(sig, NULL, &sa) == 0 && (sa.sa_flags & SA_SIGINFO) &&
           sa.sa_sigaction == fn;
}

const char *handler_no_watcher_reason(void)
{
    switch (atomic_load(&hs.watcher_state)) {
    case WATCHER_NOT_STARTED:
        return "libgmr had not started its watcher thread yet";
    case WATCHER_NO_THREAD:
        return "libgmr's watcher thread could not be started";
    case WATCHER_FORKED:
        return "this process was forked while libgmr was loading its libraries, and has no "
               "watcher";
    case WATCHER_CRASHED:
        return "libgmr's watcher thread crashed earlier; this process writes no more reports";
    }
    return NULL;
}

/*
 * The watcher sleeps with one signal open, the wake-up signal (watcher.c).
 * A signal whose handler the host has since taken must not be sent: the
 * host's handler would run on our thread for a signal it never sent. So
 * the capture signal wakes the watcher while it is ours, else the trigger
 * signal (handler_trigger knows a wake-up from a trigger).
 */
int handler_wake_signal(void)
{
    int leaving = atomic_load(&hs.leaving_signal);

    if (conf.wake_signal != leaving && handler_owns(conf.wake_signal, handler_capture))
        return conf.wake_signal;
    if (conf.trigger_signal != leaving && handler_owns(conf.trigger_signal, handler_trigger))
        return conf.trigger_signal;
    return 0;
}

void handler_wake_watcher(unsigned bits)
{
    pid_t w = atomic_load(&hs.watcher_tid);
    int sig;

    atomic_fetch_or(&hs.pending, bits);
    if (atomic_load(&hs.watcher_state) == WATCHER_CRASHED)
        return; /* its thread is gone; its tid may be a host thread's by now */
    if (w <= 0)
        return; /* still starting: it looks at hs.pending before it first sleeps */
    sig = handler_wake_signal();
    if (sig)
        syscall(SYS_tgkill, conf.pid, w, sig);
}

/*
 * The host takes sig. If the watcher sleeps with it open, wake it with it
 * one last time, while it is still ours, and wait (bounded) until that
 * has run: the watcher then sleeps with the other signal open. Waking it
 * later would run the host's handler on our thread.
 */
void handler_leaving(int sig)
{
    pid_t w = atomic_load(&hs.watcher_tid);
    struct timespec nap = {0, 1000 * 1000};
    unsigned seen;
    int i;

    if (w <= 0 || sig != handler_wake_signal() || handler_no_watcher_reason()) {
        atomic_store(&hs.leaving_signal, sig);
        return;
    }
    seen = atomic_load(&hs.watcher_woken);
    atomic_store(&hs.leaving_signal, sig);
    syscall(SYS_tgkill, conf.pid, w, sig);
    for (i = 0; i < 100 && atomic_load(&hs.watcher_woken) == seen; i++)
        nanosleep(&nap, NULL);
}

/* Our own tgkill to the watcher, sent only to end its wait. */
static int is_wake_up(const siginfo_t *si)
{
    return si && si->si_code == SI_TKILL && si->si_pid == conf.pid &&
           ll_gettid() == atomic_load(&hs.watcher_tid);
}

static long elapsed_ns(const struct timespec *since)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long)(now.tv_sec - since->tv_sec) * 1000000000L + (now.tv_nsec - since->tv_nsec);
}

/* Copies the live part of the stack: from sp up to `end` (the end of its
   mapping as the watcher last saw it; 0 if unknown), at most copy_cap. */
static void copy_stack(struct slot *s, uintptr_t end)
{
    uintptr_t sp = arch_sp(s->regs) & ~(uintptr_t)7;
    size_t want = slot_copy_want(s, sp, end);
    ssize_t n = safe_copy(s->copy, sp, want, s->via_mem_file);

    slot_copy_done(s, sp, end, want, (long)n, errno);
}

/* ---- the trigger signal ---- */

/* The thread that took the trigger captures itself here, so that the
   capture round need not interrupt it a second time. */
static void capture_self(const ucontext_t *uc, unsigned gen)
{
    struct slot *s = &hs.trigger.slot;
    int expect = SLOT_EMPTY;

    if (!s->copy || !uc || !atomic_compare_exchange_strong(&s->state, &expect, SLOT_BUSY))
        return;
    atomic_store(&hs.trigger.gen, gen);
    s->tid = ll_gettid();
    s->via_mem_file = safe_copy_filtered();
    s->copy_clipped = s->copy_short = s->copy_errno = 0;
    s->copy_len = 0;
    arch_regs_from_ucontext(s->regs, uc);
    copy_stack(s, 0);
    atomic_store(&s->state, SLOT_DONE);
}

void handler_trigger(int sig, siginfo_t *si, void *uc)
{
    int saved = errno;
    const char *missing;

    (void)sig;
    if (is_wake_up(si)) {
        atomic_fetch_add(&hs.watcher_woken, 1);
        errno = saved;
        return;
    }
    atomic_fetch_add(&hs.in_trigger, 1); /* before the wake-up: see report.c */
    atomic_store(&hs.trigger_tid, ll_gettid());
    atomic_store(&hs.trigger_sender, si ? si->si_pid : 0);
    missing = handler_no_watcher_reason();
    if (missing) {
        log_raw("no report: ", missing, NULL, NULL);
    } else {
        unsigned gen = atomic_fetch_add(&hs.triggers, 1) + 1;

        if (ll_gettid() != atomic_load(&hs.watcher_tid))
            capture_self(uc, gen);
        handler_wake_watcher(TRIGGER_SIGNAL);
    }
    atomic_fetch_sub(&hs.in_trigger, 1);
    errno = saved;
}

/* ---- the capture signal ---- */

static void fill_slot(struct round *r, uint64_t payload, const ucontext_t *uc)
{
    uint32_t seq = (uint32_t)(payload >> 32), idx = (uint32_t)payload;
    int expect = SLOT_SENT;
    struct timespec start;
    struct slot *s;

    clock_gettime(CLOCK_MONOTONIC, &start);
    if (seq != r->seq || idx >= atomic_load(&r->nslots))
        return;
    s = &r->slots[idx];
    if (atomic_load(&s->state) != SLOT_SENT || s->tid != ll_gettid())
        return;
    if (!atomic_compare_exchange_strong(&s->state, &expect, SLOT_BUSY))
        return;
    arch_regs_from_ucontext(s->regs, uc);
    copy_stack(s, map_set_stack_end(s->maps, arch_sp(s->regs) & ~(uintptr_t)7));
    s->pause_ns = elapsed_ns(&start);
    atomic_store(&s->state, SLOT_DONE);
    /* Only the last expected answer wakes the watcher: a thousand
       wake-ups would only steal the CPU the other handlers need. The
       watcher counts answers per thread itself; this is only a hint. */
    if (atomic_fetch_add(&r->done, 1) + 1 >= atomic_load(&r->expected))
        ll_futex_wake(&r->done, 1);
}

void handler_capture(int sig, siginfo_t *si, void *uc)
{
    int saved = errno;
    uint64_t payload = 0;
    struct round *r;
    int ours;

    (void)sig;
    /* Only our own queued signals carry a payload; wake-ups (tgkill) and
       signals from other processes fall through and do nothing. */
    ours = si && si->si_code == SI_QUEUE && si->si_pid == conf.pid;
    if (ours)
        payload = (uint64_t)(uintptr_t)si->si_value.sival_ptr;
    atomic_fetch_add(&hs.active, 1);
    r = atomic_load(&hs.round);
    if (r && ours && payload >> 32)
        fill_slot(r, payload, uc);
    atomic_fetch_sub(&hs.active, 1);
    if (!ours && ll_gettid() == atomic_load(&hs.watcher_tid))
        atomic_fetch_add(&hs.watcher_woken, 1);
    if (ours && payload == FREEZE_PAYLOAD)
        freeze_self(uc);
    errno = saved;
}
