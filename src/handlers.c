/*
 * handlers.c - SIGNAL CONTEXT. Every function in this file runs inside a
 * signal handler, in a thread of the host that we interrupted.
 *
 * Rules: async-signal-safe calls only (here: gettid, tgkill, futex, and
 * write through log_raw), no malloc, no locks, no stdio, no libunwind,
 * errno preserved, bounded work. The stack copy is a plain word loop, not memcpy, so that
 * sanitizer builds do not check (or poison-trap on) the host's stack.
 */
#include "handlers.h"

#include "log.h"

#include <errno.h>
#include <linux/futex.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

struct handler_state hs;

static pid_t my_tid(void)
{
    return (pid_t)syscall(SYS_gettid);
}

void handler_wake_watcher(unsigned bits)
{
    pid_t w = atomic_load(&hs.watcher_tid);

    atomic_fetch_or(&hs.pending, bits);
    if (w > 0)
        syscall(SYS_tgkill, hs.pid, w, hs.wake_signal);
}

void handler_trigger(int sig, siginfo_t *si, void *uc)
{
    int saved = errno;

    (void)sig;
    (void)uc;
    atomic_store(&hs.trigger_tid, my_tid());
    atomic_store(&hs.trigger_sender, si ? si->si_pid : 0);
    if (hs.no_watcher)
        log_raw("this process forked while libgmr was starting and has no watcher; "
                "no report",
                NULL, NULL, NULL);
    else
        handler_wake_watcher(TRIGGER_SIGNAL);
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

static void fill_slot(struct round *r, uint64_t payload, const ucontext_t *uc)
{
    uint32_t seq = (uint32_t)(payload >> 32), idx = (uint32_t)payload;
    int expect = SLOT_SENT;
    struct slot *s;

    if (seq != r->seq || idx >= atomic_load(&r->nslots))
        return;
    s = &r->slots[idx];
    if (atomic_load(&s->state) != SLOT_SENT || s->tid != my_tid())
        return;
    if (!atomic_compare_exchange_strong(&s->state, &expect, SLOT_BUSY))
        return;
    copy_regs(s, uc);
    copy_stack(s);
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
