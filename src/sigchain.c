/*
 * sigchain.c - SIGNAL CONTEXT (partly). Host views of the signals libgmr
 * took, and the kernel dispositions behind them (see sigchain.h).
 *
 * sigchain_sigaction runs wherever the host calls sigaction(), a signal
 * handler included; sigchain_view and sigchain_reset_view run in
 * handler_crash. So: no malloc, no locks that a handler could wait on, no
 * stdio. A writer blocks every signal in its thread, takes a spin flag
 * (held for a few instructions) and bumps the view's sequence counter
 * around the change; a reader retries while the counter is odd or moved.
 *
 * For a fatal signal whose view is a handler, the kernel gets our handler
 * with the host's flags (SA_ONSTACK, SA_RESTART, SA_NODEFER) and mask, so
 * the host's handler runs on the stack and with the mask it asked for,
 * and a signal it expects to interrupt a system call does so as it would.
 * SA_RESETHAND is emulated in the view: ours stays in the kernel.
 */
#include "sigchain.h"

#include "log.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>

#define NSIGS      65 /* 1 ..  SIGRTMAX (64) */
#define HOST_FLAGS (SA_ONSTACK | SA_RESTART | SA_NODEFER)

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

static _Atomic(sigaction_fn) next_sigaction;
static struct chain chains[NSIGS];
static atomic_flag writing = ATOMIC_FLAG_INIT;

void sigchain_init(void)
{
    if (!atomic_load(&next_sigaction))
        atomic_store(&next_sigaction, (sigaction_fn)dlsym(RTLD_NEXT, "sigaction"));
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
    return sig > 0 && sig < NSIGS ? &chains[sig] : NULL;
}

static int is_handler(const struct sigaction *sa)
{
    return (sa->sa_flags & SA_SIGINFO) || (sa->sa_handler != SIG_DFL && sa->sa_handler != SIG_IGN);
}

static int is_handler_or_ignored(const struct sigaction *sa)
{
    return is_handler(sa) || sa->sa_handler == SIG_IGN;
}

static void lock_writers(sigset_t *saved)
{
    sigset_t all;

    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, saved);
    while (atomic_flag_test_and_set_explicit(&writing, memory_order_acquire))
        sched_yield();
}

static void unlock_writers(const sigset_t *saved)
{
    atomic_flag_clear_explicit(&writing, memory_order_release);
    pthread_sigmask(SIG_SETMASK, saved, NULL);
}

/* Under the writers' flag only. */
static void write_view(struct chain *c, const struct sigaction *act)
{
    atomic_fetch_add_explicit(&c->view.seq, 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    c->view.act = *act;
    atomic_thread_fence(memory_order_release);
    atomic_fetch_add_explicit(&c->view.seq, 1, memory_order_relaxed);
}

static void read_view(struct chain *c, struct sigaction *out)
{
    unsigned before, spins = 0;

    for (;;) {
        before = atomic_load_explicit(&c->view.seq, memory_order_acquire);
        if (!(before & 1)) {
            memcpy(out, &c->view.act, sizeof(*out));
            atomic_thread_fence(memory_order_acquire);
            if (atomic_load_explicit(&c->view.seq, memory_order_relaxed) == before)
                return;
        }
        if (++spins % 64 == 0)
            sched_yield();
    }
}

static void default_action(struct sigaction *sa)
{
    memset(sa, 0, sizeof(*sa));
    sa->sa_handler = SIG_DFL;
    sigemptyset(&sa->sa_mask);
}

/* What the kernel should hold for a fatal signal whose view is `view`. */
static void kernel_action(const struct chain *c, const struct sigaction *view,
                          struct sigaction *out)
{
    *out = c->ours;
    if (!is_handler(view))
        return;
    out->sa_flags = SA_SIGINFO | (view->sa_flags & HOST_FLAGS);
    out->sa_mask = view->sa_mask;
}

int sigchain_take(int sig, enum sigchain_role role, sigchain_fn fn, const sigset_t *mask,
                  const char *takeover_note, void (*leaving)(int sig))
{
    struct chain *c = chain_of(sig);
    struct sigaction dfl;

    if (!c || !sigchain_is_default(sig))
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

int sigchain_sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    struct chain *c = chain_of(sig);
    struct sigaction prev, want, kernel;
    sigset_t saved;
    int role, ret = 0;

    if (!c || atomic_load(&c->role) == ROLE_NONE)
        return sys_sigaction(sig, act, old);
    if (act) { /* copied before the flag is taken: a bad pointer faults here */
        want = *act;
        act = &want;
    }
    if (act && is_handler_or_ignored(act) && atomic_load(&c->role) != ROLE_CRASH && c->leaving)
        c->leaving(sig);
    lock_writers(&saved);
    role = atomic_load(&c->role);
    if (role == ROLE_NONE) { /* given up meanwhile */
        unlock_writers(&saved);
        return sys_sigaction(sig, act, old);
    }
    prev = c->view.act;
    if (act && role == ROLE_CRASH) {
        write_view(c, act);
        kernel_action(c, act, &kernel);
        ret = sys_sigaction(sig, &kernel, NULL);
    } else if (act && is_handler_or_ignored(act)) {
        ret = give_up(c, sig, act);
    }
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
    struct sigaction dfl;
    sigset_t saved;

    if (!c)
        return;
    default_action(&dfl);
    lock_writers(&saved);
    write_view(c, &dfl);
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
