/*
 * sigaction.c - LD_PRELOAD glue: libgmr's sigaction(), signal() and the
 * older calls that set a disposition, so that the host sees and sets its
 * own view of the signals libgmr took (src/signal/sigchain.h says why and how).
 *
 * For every other signal each call goes to the next definition in the
 * search order (libc's), untouched. For ours, the older calls are written
 * in terms of sigaction with the semantics glibc gives them: signal() and
 * bsd_signal() are BSD (SA_RESTART, the signal blocked in its handler),
 * sysv_signal() is one-shot (SA_RESETHAND | SA_NODEFER).
 *
 * These run in the host's threads, possibly in its signal handlers:
 * async-signal-safe calls only once the next definitions are resolved
 * (they are, by the constructor, before any handler of ours exists).
 */
#include "preload.h"

#include "signal/sigchain.h"

#include <dlfcn.h>
#include <errno.h>
#include <gmr.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>

/* Exported by glibc, not declared by its headers in our mode. */
int __sigaction(int sig, const struct sigaction *act, struct sigaction *old);
sighandler_t bsd_signal(int sig, sighandler_t fn);

typedef sighandler_t (*signal_fn)(int, sighandler_t);
typedef int (*int_fn)(int);
typedef int (*siginterrupt_fn)(int, int);

PRELOAD_NEXT(signal_fn, signal)
PRELOAD_NEXT(signal_fn, sysv_signal)
PRELOAD_NEXT(signal_fn, sigset)
PRELOAD_NEXT(int_fn, sigignore)
PRELOAD_NEXT(siginterrupt_fn, siginterrupt)

/* Our signals siginterrupt() was asked to let interrupt system calls:
   signal() then leaves SA_RESTART out, as glibc's does. */
static sigset_t interrupting;

static int ours(int sig)
{
    return sigchain_role_of(sig) != ROLE_NONE;
}

/* signal(), sysv_signal() and sigset() for one of our signals; only
   signal() blocks the signal in its own handler (glibc's choices). */
static sighandler_t set_handler(int sig, sighandler_t fn, int flags, int block_self)
{
    struct sigaction sa, old;

    if (fn == SIG_ERR) {
        errno = EINVAL;
        return SIG_ERR;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = fn;
    sa.sa_flags = flags;
    sigemptyset(&sa.sa_mask);
    if (block_self)
        sigaddset(&sa.sa_mask, sig);
    if (sigchain_sigaction(sig, &sa, &old) < 0)
        return SIG_ERR;
    return (old.sa_flags & SA_SIGINFO) ? (sighandler_t)(void *)old.sa_sigaction : old.sa_handler;
}

GMR_API int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    return sigchain_sigaction(sig, act, old);
}

GMR_API int __sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    return sigchain_sigaction(sig, act, old);
}

GMR_API sighandler_t signal(int sig, sighandler_t fn)
{
    signal_fn next = next_fn_signal();

    if (!ours(sig) && next)
        return next(sig, fn);
    return set_handler(sig, fn, sigismember(&interrupting, sig) == 1 ? 0 : SA_RESTART, 1);
}

GMR_API sighandler_t bsd_signal(int sig, sighandler_t fn)
{
    return signal(sig, fn);
}

GMR_API sighandler_t ssignal(int sig, sighandler_t fn)
{
    return signal(sig, fn);
}

GMR_API sighandler_t sysv_signal(int sig, sighandler_t fn)
{
    signal_fn next = next_fn_sysv_signal();

    if (!ours(sig) && next)
        return next(sig, fn);
    return set_handler(sig, fn, SA_RESETHAND | SA_NODEFER, 0);
}

GMR_API sighandler_t __sysv_signal(int sig, sighandler_t fn)
{
    return sysv_signal(sig, fn);
}

/* System V: SIG_HOLD blocks the signal; anything else sets the
   disposition and unblocks it. Returns SIG_HOLD if it was blocked. */
GMR_API sighandler_t sigset(int sig, sighandler_t fn)
{
    signal_fn next = next_fn_sigset();
    sigset_t one, was;
    sighandler_t prev;
    struct sigaction old;

    if (!ours(sig) && next)
        return next(sig, fn);
    sigemptyset(&one);
    sigaddset(&one, sig);
    if (pthread_sigmask(SIG_BLOCK, NULL, &was) != 0)
        return SIG_ERR;
    if (fn == SIG_HOLD) {
        if (sigchain_sigaction(sig, NULL, &old) < 0)
            return SIG_ERR;
        pthread_sigmask(SIG_BLOCK, &one, NULL);
        return sigismember(&was, sig) ? SIG_HOLD : old.sa_handler;
    }
    prev = set_handler(sig, fn, 0, 0);
    if (prev == SIG_ERR)
        return SIG_ERR;
    pthread_sigmask(SIG_UNBLOCK, &one, NULL);
    return sigismember(&was, sig) ? SIG_HOLD : prev;
}

GMR_API int sigignore(int sig)
{
    int_fn next = next_fn_sigignore();

    if (!ours(sig) && next)
        return next(sig);
    return set_handler(sig, SIG_IGN, 0, 0) == SIG_ERR ? -1 : 0;
}

GMR_API int siginterrupt(int sig, int interrupt)
{
    siginterrupt_fn next = next_fn_siginterrupt();
    struct sigaction sa;

    if (!ours(sig) && next)
        return next(sig, interrupt);
    if (sigchain_sigaction(sig, NULL, &sa) < 0)
        return -1;
    if (interrupt) {
        sigaddset(&interrupting, sig);
        sa.sa_flags &= ~SA_RESTART;
    } else {
        sigdelset(&interrupting, sig);
        sa.sa_flags |= SA_RESTART;
    }
    return sigchain_sigaction(sig, &sa, NULL);
}

void preload_resolve_signal_calls(void)
{
    sigchain_init();
    next_fn_signal();
    next_fn_sysv_signal();
    next_fn_sigset();
    next_fn_sigignore();
    next_fn_siginterrupt();
}
