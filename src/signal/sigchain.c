/*
 * sigchain.c - SIGNAL CONTEXT (partly). Host views of the signals libgmr
 * took, and the kernel dispositions behind them (see sigchain.h).
 *
 * sigchain_sigaction runs wherever the host calls sigaction(), a signal
 * handler included; sigchain_view and sigchain_reset_view run in
 * handler_crash. So: no malloc, no stdio, nothing a handler could wait on
 * for long. Writers take a lock word holding their tid, with every signal
 * blocked in their thread (so no handler of the same thread can want it),
 * for a few instructions; a waiter naps on the futex rather than spin (the
 * holder may need its CPU), and takes the lock over from a holder that no
 * longer exists (a child forked without our fork handlers). Around the
 * change each writer makes the view's sequence counter odd; a reader
 * retries while it is odd or has moved.
 *
 * A view holds what the kernel would hold had the host's call gone
 * through: glibc's restorer added, SIGKILL and SIGSTOP out of the mask, so
 * the old value the host reads back is the one it would read without us.
 *
 * For a fatal signal whose view is a handler, the kernel gets our handler
 * with the host's flags (SA_ONSTACK, SA_RESTART, SA_NODEFER) and mask, so
 * the host's handler runs on the stack and with the mask it asked for,
 * and a signal it expects to interrupt a system call does so as it would.
 * A view of SIG_IGN is SIG_IGN in the kernel too (a signal sent then is
 * discarded without interrupting anything, and exec passes it on).
 * SA_RESETHAND is emulated in the view: ours stays in the kernel.
 *
 * A child that shares our memory without having run our fork handlers
 * (vfork, clone) has a disposition table of its own: its calls go straight
 * to the kernel, and leave the parent's views alone.
 */
#include "sigchain.h"

#include "base/log.h"
#include "base/lowlevel.h"
#include "base/startup.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>

#define NSIGS         65 /* 1 .. SIGRTMAX (64) */
#define MAX_TAKEN     8  /* the fatal five, the trigger and the capture signal */
#define HOST_FLAGS    (SA_ONSTACK | SA_RESTART | SA_NODEFER)
#define READ_PATIENCE 4096 /* reader retries before it looks whether the writer still exists */

#ifndef SA_RESTORER
#define SA_RESTORER 0x04000000
#endif

typedef int (*sigaction_fn)(int, const struct sigaction *, struct sigaction *);

struct view {
    _Atomic unsigned seq; /* odd while a writer changes act */
    struct sigaction act; /* the host's disposition as it believes it */
};

struct chain {
    _Atomic int role;
    _Atomic int taken_over;
    struct sigaction ours;     /* our kernel action while the view is not a handler */
    const char *takeover_note; /* said once when the host takes the signal */
    void (*leaving)(int sig);  /* called before the host takes it */
    struct view view;
};

/* Only the signals we take have a chain, side by side: a process's start
   writes one page of them, not one per signal number it takes. */
static GMR_STARTUP _Atomic(sigaction_fn) next_sigaction;
static GMR_STARTUP _Atomic unsigned char slot_of[NSIGS]; /* chains[slot - 1]; 0: none */
static GMR_STARTUP _Atomic int slots_used;
static GMR_STARTUP struct chain chains[MAX_TAKEN];
static _Atomic pid_t writer;               /* the tid holding the writers' lock, 0 if none */
static GMR_STARTUP _Atomic pid_t owner;    /* the process the views belong to */
static GMR_STARTUP void (*restorer)(void); /* glibc's, as its sigaction gives the kernel */
static sigset_t fork_saved;                /* the forking thread's mask while it holds the lock */

void sigchain_init(void)
{
    if (!atomic_load(&next_sigaction))
        atomic_store(&next_sigaction, (sigaction_fn)dlsym(RTLD_NEXT, "sigaction"));
    atomic_store(&owner, getpid());
}

int sys_sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    sigaction_fn fn = atomic_load(&next_sigaction);

    if (!fn) {
        /* Before our constructor: another library's constructor. dlsym
           is safe there; sigchain_init resolves it before any handler
           of ours exists. */
        sigchain_init();
        fn = atomic_load(&next_sigaction);
    }
    if (!fn) {
        errno = ENOSYS;
        return -1;
    }
    return fn(sig, act, old);
}

int sigchain_is_default(int sig)
{
    struct sigaction sa;

    return sys_sigaction(sig, NULL, &sa) == 0 && !(sa.sa_flags & SA_SIGINFO) &&
           sa.sa_handler == SIG_DFL;
}

static struct chain *chain_of(int sig)
{
    int slot = sig > 0 && sig < NSIGS ? atomic_load(&slot_of[sig]) : 0;

    return slot ? &chains[slot - 1] : NULL;
}

/* A signal's chain, made on first use (only the constructor takes
   signals, before the host runs). */
static struct chain *new_chain(int sig)
{
    int slot;

    if (sig <= 0 || sig >= NSIGS)
        return NULL;
    if (chain_of(sig))
        return chain_of(sig);
    slot = atomic_fetch_add(&slots_used, 1);
    if (slot >= MAX_TAKEN)
        return NULL;
    atomic_store(&slot_of[sig], (unsigned char)(slot + 1));
    return &chains[slot];
}

static int is_handler(const struct sigaction *sa)
{
    return (sa->sa_flags & SA_SIGINFO) || (sa->sa_handler != SIG_DFL && sa->sa_handler != SIG_IGN);
}

static int is_ignored(const struct sigaction *sa)
{
    return !(sa->sa_flags & SA_SIGINFO) && sa->sa_handler == SIG_IGN;
}

static int exists(pid_t tid)
{
    return syscall(SYS_tgkill, getpid(), tid, 0) == 0 || errno != ESRCH;
}

static void lock_writers(sigset_t *saved)
{
    pid_t me = ll_gettid(), held = 0;
    sigset_t all;
    int saved_errno = errno;

    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, saved);
    while (!atomic_compare_exchange_weak(&writer, &held, me)) {
        if (held && !exists(held))
            atomic_compare_exchange_strong(&writer, &held, 0); /* its holder is gone */
        else if (held)
            ll_futex_wait(&writer, (uint32_t)held, 1);
        held = 0;
    }
    errno = saved_errno;
}

static void unlock_writers(const sigset_t *saved)
{
    atomic_store(&writer, 0);
    ll_futex_wake(&writer, 1);
    pthread_sigmask(SIG_SETMASK, saved, NULL);
}

/* Under the writers' lock only. Odd first, whatever a writer that died
   half-way left, then even again. */
static void write_view(struct chain *c, const struct sigaction *act)
{
    unsigned odd = atomic_load_explicit(&c->view.seq, memory_order_relaxed) | 1;

    atomic_store_explicit(&c->view.seq, odd, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    c->view.act = *act;
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&c->view.seq, odd + 1, memory_order_relaxed);
}

static void read_view(struct chain *c, struct sigaction *out)
{
    unsigned before, tries = 0;

    for (;;) {
        before = atomic_load_explicit(&c->view.seq, memory_order_acquire);
        if (!(before & 1)) {
            memcpy(out, &c->view.act, sizeof(*out));
            atomic_thread_fence(memory_order_acquire);
            if (atomic_load_explicit(&c->view.seq, memory_order_relaxed) == before)
                return;
        }
        if (++tries % 64 == 0)
            sched_yield();
        if (tries >= READ_PATIENCE && !exists(atomic_load(&writer))) {
            memcpy(out, &c->view.act, sizeof(*out)); /* its writer is gone */
            return;
        }
    }
}

static void default_action(struct sigaction *sa)
{
    memset(sa, 0, sizeof(*sa));
    sa->sa_handler = SIG_DFL;
    sigemptyset(&sa->sa_mask);
}

/* What the kernel would hold after the host's call (see the top). */
static void as_stored(const struct sigaction *act, struct sigaction *out)
{
    *out = *act;
    if (restorer && !(out->sa_flags & SA_RESTORER)) {
        out->sa_flags |= SA_RESTORER;
        out->sa_restorer = restorer;
    }
    sigdelset(&out->sa_mask, SIGKILL);
    sigdelset(&out->sa_mask, SIGSTOP);
}

/* What the kernel should hold for a fatal signal whose view is `view`. */
static void kernel_action(const struct chain *c, const struct sigaction *view,
                          struct sigaction *out)
{
    if (is_ignored(view)) {
        *out = *view;
        return;
    }
    *out = c->ours;
    if (!is_handler(view))
        return;
    out->sa_flags = SA_SIGINFO | (view->sa_flags & HOST_FLAGS);
    out->sa_mask = view->sa_mask;
}

/* glibc's restorer, as its sigaction passed it for our own action. */
static void learn_restorer(int sig)
{
    struct sigaction k;

    if (!restorer && sys_sigaction(sig, NULL, &k) == 0 && (k.sa_flags & SA_RESTORER))
        restorer = k.sa_restorer;
}

int sigchain_take(int sig, enum sigchain_role role, sigchain_fn fn, const sigset_t *mask,
                  const char *takeover_note, void (*leaving)(int sig))
{
    struct chain *c;
    struct sigaction dfl;

    if (!sigchain_is_default(sig) || !(c = new_chain(sig)))
        return -1;
    memset(&c->ours, 0, sizeof(c->ours));
    c->ours.sa_sigaction = fn;
    c->ours.sa_flags = SA_SIGINFO | SA_ONSTACK | (role == ROLE_CRASH ? 0 : SA_RESTART);
    c->ours.sa_mask = *mask;
    c->takeover_note = takeover_note;
    c->leaving = leaving;
    default_action(&dfl);
    write_view(c, &dfl);
    if (sys_sigaction(sig, &c->ours, NULL) < 0)
        return -1;
    learn_restorer(sig);
    atomic_store(&c->role, role);
    return 0;
}

/* The host installs SIG_IGN or a handler for our trigger or capture
   signal: it is the host's from now on. */
static int give_up(struct chain *c, int sig, const struct sigaction *act)
{
    int ret;

    atomic_store(&c->role, ROLE_NONE);
    ret = sys_sigaction(sig, act, NULL);
    if (!atomic_exchange(&c->taken_over, 1) && c->takeover_note)
        log_raw(c->takeover_note, NULL, NULL, NULL);
    return ret;
}

/* Under the writers' lock: the host sets `act` for one of our signals. */
static int host_sets(struct chain *c, int sig, int role, const struct sigaction *act)
{
    struct sigaction view, kernel;

    if (role != ROLE_CRASH && (is_handler(act) || is_ignored(act)))
        return give_up(c, sig, act);
    as_stored(act, &view);
    write_view(c, &view);
    if (role != ROLE_CRASH)
        return 0; /* SIG_DFL on the trigger or capture signal: ours stays */
    kernel_action(c, &view, &kernel);
    return sys_sigaction(sig, &kernel, NULL);
}

int sigchain_sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    struct chain *c = chain_of(sig);
    struct sigaction prev, want;
    sigset_t saved;
    int role, ret = 0;

    if (!c || atomic_load(&c->role) == ROLE_NONE || getpid() != atomic_load(&owner))
        return sys_sigaction(sig, act, old);
    if (act) { /* copied before the lock is taken: a bad pointer faults here */
        want = *act;
        act = &want;
    }
    if (act && (is_handler(act) || is_ignored(act)) && atomic_load(&c->role) != ROLE_CRASH &&
        c->leaving)
        c->leaving(sig);
    lock_writers(&saved);
    role = atomic_load(&c->role);
    if (role == ROLE_NONE) { /* given up meanwhile */
        unlock_writers(&saved);
        return sys_sigaction(sig, act, old);
    }
    prev = c->view.act;
    if (act)
        ret = host_sets(c, sig, role, act);
    unlock_writers(&saved);
    if (ret == 0 && old)
        *old = prev;
    return ret;
}

enum sigchain_role sigchain_role_of(int sig)
{
    struct chain *c = chain_of(sig);

    return c ? (enum sigchain_role)atomic_load(&c->role) : ROLE_NONE;
}

int sigchain_taken_over(int sig)
{
    struct chain *c = chain_of(sig);

    return c && atomic_load(&c->taken_over);
}

void sigchain_view(int sig, struct sigaction *out)
{
    struct chain *c = chain_of(sig);

    if (c)
        read_view(c, out);
    else
        default_action(out);
}

void sigchain_reset_view(int sig)
{
    struct chain *c = chain_of(sig);
    struct sigaction dfl, view;
    sigset_t saved;

    if (!c)
        return;
    default_action(&dfl);
    as_stored(&dfl, &view);
    lock_writers(&saved);
    write_view(c, &view);
    sys_sigaction(sig, &c->ours, NULL);
    unlock_writers(&saved);
}

void sigchain_release(int sig)
{
    struct chain *c = chain_of(sig);
    struct sigaction dfl;
    sigset_t saved;

    default_action(&dfl);
    if (!c) {
        sys_sigaction(sig, &dfl, NULL);
        return;
    }
    lock_writers(&saved);
    atomic_store(&c->role, ROLE_NONE);
    write_view(c, &dfl);
    sys_sigaction(sig, &dfl, NULL);
    unlock_writers(&saved);
}

void sigchain_fork_prepare(void)
{
    lock_writers(&fork_saved);
}

void sigchain_fork_parent(void)
{
    unlock_writers(&fork_saved);
}

void sigchain_fork_child(void)
{
    atomic_store(&owner, getpid());
    unlock_writers(&fork_saved);
}
