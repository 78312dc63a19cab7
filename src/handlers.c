/*
 * handlers.c - SIGNAL CONTEXT. Every function in this file runs inside a
 * signal handler, in a thread of the host that we interrupted.
 *
 * Rules: async-signal-safe calls only (here: gettid, tgkill, futex,
 * sigaction, and write through log_raw), no malloc, no locks, no stdio, no
 * libunwind, errno preserved, bounded work: every wait has a deadline. The
 * stack copy is a plain word loop, not memcpy, so that sanitizer builds do
 * not check (or poison-trap on) the host's stack.
 */
#include "handlers.h"

#include "api.h"
#include "crash_fallback.h"
#include "log.h"
#include "signames.h"

#include <errno.h>
#include <linux/futex.h>
#include <string.h>
#include <time.h>
#include <sys/syscall.h>
#include <unistd.h>

struct handler_state hs;

static pid_t my_tid(void)
{
    return (pid_t)syscall(SYS_gettid);
}

int handler_owns(int sig, void (*fn)(int, siginfo_t *, void *))
{
    struct sigaction sa;

    return sig > 0 && sigaction(sig, NULL, &sa) == 0 && (sa.sa_flags & SA_SIGINFO) &&
           sa.sa_sigaction == fn;
}

/*
 * The watcher sleeps with the capture and trigger signals open (while they
 * are ours). A signal whose handler the host has since taken must not be
 * sent: the host's handler would run on our thread for a signal it never
 * sent. So the capture signal wakes the watcher while it is ours, else the
 * trigger signal (handler_trigger knows a wake-up from a trigger).
 */
void handler_wake_watcher(unsigned bits)
{
    pid_t w = atomic_load(&hs.watcher_tid);

    atomic_fetch_or(&hs.pending, bits);
    if (w <= 0)
        return;
    if (handler_owns(hs.wake_signal, handler_capture))
        syscall(SYS_tgkill, hs.pid, w, hs.wake_signal);
    else if (handler_owns(hs.trigger_signal, handler_trigger))
        syscall(SYS_tgkill, hs.pid, w, hs.trigger_signal);
}

/* Our own tgkill to the watcher, sent only to end its wait. */
static int is_wake_up(const siginfo_t *si)
{
    return si && si->si_code == SI_TKILL && si->si_pid == hs.pid &&
           my_tid() == atomic_load(&hs.watcher_tid);
}

void handler_trigger(int sig, siginfo_t *si, void *uc)
{
    int saved = errno;

    (void)sig;
    (void)uc;
    if (is_wake_up(si)) {
        errno = saved;
        return;
    }
    atomic_fetch_add(&hs.in_trigger, 1); /* before the wake-up: see report.c */
    atomic_store(&hs.trigger_tid, my_tid());
    atomic_store(&hs.trigger_sender, si ? si->si_pid : 0);
    if (hs.no_watcher)
        log_raw("this process has no working libgmr watcher (it could not start, it forked "
                "while libgmr was starting, or the watcher crashed); no report",
                NULL, NULL, NULL);
    else
        handler_wake_watcher(TRIGGER_SIGNAL);
    atomic_fetch_sub(&hs.in_trigger, 1);
    errno = saved;
}

/* End of the readable mapping that holds sp, or 0 if none is known. */
static uintptr_t stack_end(const struct map_set *m, uintptr_t sp)
{
    size_t lo = 0, hi = m->n;

    if (sp >= m->grow_lo && sp < m->grow_hi)
        return m->grow_hi;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sp < m->r[mid].start)
            hi = mid;
        else if (sp >= m->r[mid].end)
            lo = mid + 1;
        else
            return m->r[mid].end;
    }
    return 0;
}

__attribute__((no_sanitize("address", "undefined"))) static void
copy_words(uint64_t *dst, const volatile uint64_t *src, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        dst[i] = src[i];
}

static void copy_regs(struct slot *s, const ucontext_t *uc)
{
    size_t i;

    for (i = 0; i < NGREG; i++)
        s->regs[i] = uc->uc_mcontext.gregs[i];
}

static void copy_stack(struct slot *s)
{
    uintptr_t sp = (uintptr_t)s->regs[REG_RSP] & ~(uintptr_t)7;
    uintptr_t end = stack_end(s->maps, sp);
    size_t len;

    if (!end) {
        s->stack_unknown = 1;
        return;
    }
    len = end - sp;
    if (len > s->copy_cap) {
        len = s->copy_cap;
        s->copy_clipped = 1;
    }
    copy_words((uint64_t *)s->copy, (const volatile uint64_t *)sp, len / 8);
    s->stack_lo = sp;
    s->copy_len = len & ~(size_t)7;
}

static long elapsed_ns(const struct timespec *since)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long)(now.tv_sec - since->tv_sec) * 1000000000L + (now.tv_nsec - since->tv_nsec);
}

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
    if (atomic_load(&s->state) != SLOT_SENT || s->tid != my_tid())
        return;
    if (!atomic_compare_exchange_strong(&s->state, &expect, SLOT_BUSY))
        return;
    copy_regs(s, uc);
    copy_stack(s);
    s->pause_ns = elapsed_ns(&start);
    atomic_store(&s->state, SLOT_DONE);
    /* Only the last expected answer wakes the watcher: a thousand
       wake-ups would only steal the CPU the other handlers need. */
    if (atomic_fetch_add(&r->done, 1) + 1 >= atomic_load(&r->expected))
        syscall(SYS_futex, &r->done, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

void handler_capture(int sig, siginfo_t *si, void *uc)
{
    int saved = errno;
    struct round *r;

    (void)sig;
    atomic_fetch_add(&hs.active, 1);
    r = atomic_load(&hs.round);
    /* Only our own queued signals carry a payload; wake-ups (tgkill) and
       signals from other processes fall through and do nothing. */
    if (r && si && si->si_code == SI_QUEUE && si->si_pid == hs.pid)
        fill_slot(r, (uint64_t)(uintptr_t)si->si_value.sival_ptr, uc);
    atomic_fetch_sub(&hs.active, 1);
    errno = saved;
}

/* ---- crashes ---- */

static void futex_wait_ms(_Atomic int *word, int seen, long ms)
{
    struct timespec ts = {ms / 1000, ms % 1000 * 1000000};

    syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, seen, &ts, NULL, 0);
}

static long long monotonic_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits while phase is CRASH_REPORTING, at most ms; returns the phase. */
static int wait_report(long ms)
{
    long long until = monotonic_ms() + ms;
    int phase;

    while ((phase = atomic_load(&hs.crash.phase)) == CRASH_REPORTING) {
        long long left = until - monotonic_ms();
        if (left <= 0)
            break;
        futex_wait_ms(&hs.crash.phase, CRASH_REPORTING, left);
    }
    return phase;
}

/*
 * Lets the signal take its course as if we had never been there: the
 * default action back, and the signal again. A fault raised by the CPU
 * comes back by itself when the instruction re-runs (with the same
 * address, for the core dump); one sent by kill() or raise() we re-send,
 * and it is delivered as soon as the handler returns.
 */
static void die_as_before(int sig, const siginfo_t *si)
{
    struct sigaction dfl;

    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    sigaction(sig, &dfl, NULL);
    if (!si || si->si_code <= 0)
        syscall(SYS_tgkill, hs.pid, my_tid(), sig);
}

void handler_crash_reported(int phase)
{
    atomic_store(&hs.crash.phase, phase);
    syscall(SYS_futex, &hs.crash.phase, FUTEX_WAKE_PRIVATE, 0x7fffffff, NULL, NULL, 0);
}

static void record(int sig, const siginfo_t *si, const ucontext_t *uc)
{
    struct slot *s = &hs.crash.slot;

    hs.crash.signo = sig;
    hs.crash.code = si ? si->si_code : SI_USER;
    hs.crash.addr = si ? (uintptr_t)si->si_addr : 0;
    hs.crash.sender = si && si->si_code <= 0 ? si->si_pid : 0;
    s->tid = my_tid();
    s->frozen = 1;
    copy_regs(s, uc);
}

/* Parks the calling thread for good: the handler cannot return into the
   instruction that faulted, and the thread must not end the process. */
static void park_forever(void)
{
    for (;;)
        pause();
}

/*
 * libgmr's own thread faulted. During a crash report: the crashing thread
 * is told to write its fallback report and end the process. A fault of
 * ours at any other time must not end the host: the watcher stops for
 * good, and the process runs on without reports. A fatal signal sent to
 * the process that happened to land here ends it, as it would have.
 */
static void watcher_crashed(int sig, const siginfo_t *si)
{
    if (atomic_load(&hs.crash.tid)) {
        handler_crash_reported(CRASH_WATCHER_FAILED);
        park_forever();
    }
    if (!si || si->si_code <= 0) {
        die_as_before(sig, si);
        return;
    }
    hs.no_watcher = 1;
    api_watcher_failed();
    log_raw("libgmr's watcher thread crashed (SIG", signal_fatal_name(sig),
            "); this process writes no more reports. Please report this to libgmr.", NULL);
    park_forever();
}

void handler_crash(int sig, siginfo_t *si, void *uc)
{
    int saved = errno, phase = CRASH_WATCHER_FAILED;
    pid_t me = my_tid(), first = 0;

    if (me == atomic_load(&hs.watcher_tid)) {
        watcher_crashed(sig, si);
        errno = saved;
        return;
    }
    if (!atomic_compare_exchange_strong(&hs.crash.tid, &first, me)) {
        /* Another thread is reporting its crash: let it finish, then die
           of our own signal (whichever comes first ends the process). */
        wait_report(hs.crash_wait_ms + 1000);
        die_as_before(sig, si);
        errno = saved;
        return;
    }
    record(sig, si, uc);
    if (atomic_load(&hs.watcher_tid) > 0 && !hs.no_watcher) {
        atomic_store(&hs.crash.phase, CRASH_REPORTING);
        handler_wake_watcher(TRIGGER_CRASH);
        phase = wait_report(hs.crash_wait_ms);
    }
    if (phase == CRASH_REPORTING)
        crash_fallback_report("libgmr's watcher did not answer in time");
    else if (phase == CRASH_WATCHER_FAILED)
        crash_fallback_report("libgmr's watcher crashed while writing the report");
    else if (phase != CRASH_DONE)
        crash_fallback_report("this process has no working libgmr watcher");
    die_as_before(sig, si);
    errno = saved;
}
