/*
 * signals.c - sigaction calls for the trigger and capture signals.
 *
 * Handlers run with SA_RESTART, so most interrupted system calls resume
 * by themselves, and SA_ONSTACK, so a thread with an alternate signal
 * stack keeps using it. The automatic capture signal is looked for from
 * SIGRTMAX-3 downwards: the lowest real-time signals are the ones
 * programs usually take, and valgrind keeps SIGRTMAX for itself.
 */
#include "signals.h"

#include "handlers.h"
#include "log.h"
#include "signames.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

static int is_default(int sig)
{
    struct sigaction old;

    return sigaction(sig, NULL, &old) == 0 && !(old.sa_flags & SA_SIGINFO) &&
           old.sa_handler == SIG_DFL;
}

static int install(int sig, void (*fn)(int, siginfo_t *, void *))
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = fn;
    sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    return sigaction(sig, &sa, NULL);
}

int signals_install_capture(int wanted, int avoid)
{
    char name[32];
    int sig;

    if (wanted) {
        if (!is_default(wanted)) {
            log_msg("GMR_CAPTURE_SIGNAL=%s is already in use by the program; stacks cannot be "
                    "captured",
                    signal_name(wanted, name, sizeof(name)));
            return -1;
        }
        return install(wanted, handler_capture) == 0 ? wanted : -1;
    }
    for (sig = SIGRTMAX - 3; sig >= SIGRTMIN; sig--)
        if (sig != avoid && is_default(sig))
            return install(sig, handler_capture) == 0 ? sig : -1;
    log_msg("no free real-time signal for capturing stacks; stacks cannot be captured");
    return -1;
}

int signals_install_trigger(int sig)
{
    char name[32];

    if (!is_default(sig)) {
        log_msg("SIG%s already has a handler or is ignored; the signal trigger is off "
                "(set GMR_SIGNAL or use GMR_TRIGGER_FILE)",
                signal_name(sig, name, sizeof(name)));
        return -1;
    }
    return install(sig, handler_trigger);
}

static const int fatal[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};

/* A crash handler runs with every fatal signal blocked: a second fault
   while it works is then forced through with the default action, which
   ends the process instead of re-entering us. */
static int install_crash(int sig)
{
    struct sigaction sa;
    size_t i;

    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = handler_crash;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    for (i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
        sigaddset(&sa.sa_mask, fatal[i]);
    return sigaction(sig, &sa, NULL);
}

void signals_install_crash(void)
{
    size_t i;

    for (i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
        if (is_default(fatal[i]))
            install_crash(fatal[i]);
}

void signals_after_fork(void)
{
    hs.pid = getpid();
    atomic_store(&hs.watcher_tid, 0);
    atomic_store(&hs.round, NULL);
    atomic_store(&hs.active, 0);
    atomic_store(&hs.in_trigger, 0);
    atomic_store(&hs.pending, 0);
    atomic_store(&hs.trigger_tid, 0);
    atomic_store(&hs.trigger_sender, 0);
    hs.no_watcher = 0;
    atomic_store(&hs.crash.tid, 0);
    atomic_store(&hs.crash.phase, CRASH_NONE);
}
