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

#include "signal/crash_handler.h"
#include "signal/freeze.h"
#include "signal/handlers.h"
#include "base/log.h"
#include "signal/sigchain.h"
#include "base/signames.h"
#include "base/startup.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static GMR_STARTUP char trigger_note[160], capture_note[160];

/* note = a + SIG<name of sig> + b, cut to fit; without stdio, whose pages
   a process that never prints would pay for at its start. */
static void make_note(char *note, size_t len, const char *a, int sig, const char *b)
{
    char name[32];
    size_t at = strlen(a) < len ? strlen(a) : len - 1;

    memcpy(note, a, at);
    note[at] = '\0';
    signal_name(sig, name, sizeof(name));
    strncat(note, "SIG", len - 1 - strlen(note));
    strncat(note, name, len - 1 - strlen(note));
    strncat(note, b, len - 1 - strlen(note));
}

/*
 * The trigger and capture handlers run with every other signal blocked:
 * they are short and bounded, and a host signal that arrived meanwhile is
 * then delivered after ours returns, on the host's own stack, not on top
 * of our frame on the alternate stack (where a deep host handler would
 * overflow it, or longjmp out of our frame).
 */
static void handler_mask(sigset_t *mask)
{
    sigfillset(mask);
}

static int take_capture(int sig)
{
    sigset_t all;

    handler_mask(&all);
    make_note(capture_note, sizeof(capture_note), "the program installed its own handler for ", sig,
              ", libgmr's capture signal; stacks are no longer captured (set "
              "GMR_CAPTURE_SIGNAL to a free one)");
    return sigchain_take(sig, ROLE_CAPTURE, handler_capture, &all, capture_note, handler_leaving);
}

int signals_install_capture(int wanted, int avoid)
{
    char name[32];
    int sig;

    if (wanted) {
        if (take_capture(wanted) == 0)
            return wanted;
        log_msg("GMR_CAPTURE_SIGNAL=%s is already in use by the program; stacks cannot be "
                "captured",
                signal_name(wanted, name, sizeof(name)));
        return -1;
    }
    for (sig = SIGRTMAX - 3; sig >= SIGRTMIN; sig--)
        if (sig != avoid && take_capture(sig) == 0)
            return sig;
    log_msg("no free real-time signal for capturing stacks; stacks cannot be captured");
    return -1;
}

int signals_install_trigger(int sig, int quiet)
{
    char name[32];
    sigset_t all;

    handler_mask(&all);
    make_note(trigger_note, sizeof(trigger_note), "the program installed its own handler for ", sig,
              "; the signal trigger is off (use gmr-report or GMR_TRIGGER_FILE)");
    if (sigchain_take(sig, ROLE_TRIGGER, handler_trigger, &all, quiet ? NULL : trigger_note,
                      handler_leaving) == 0)
        return 0;
    if (!quiet)
        log_msg("SIG%s already has a handler or is ignored; the signal trigger is off "
                "(set GMR_SIGNAL, or use gmr-report or GMR_TRIGGER_FILE)",
                signal_name(sig, name, sizeof(name)));
    return -1;
}

static const int fatal[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};

/* A crash handler runs with every fatal signal blocked (while the host
   has no handler of its own there): a second fault while it works is
   then forced through with the default action, which ends the process
   instead of re-entering us. */
void signals_install_crash(void)
{
    sigset_t mask;
    size_t i;

    sigemptyset(&mask);
    for (i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
        sigaddset(&mask, fatal[i]);
    for (i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
        sigchain_take(fatal[i], ROLE_CRASH, handler_crash, &mask, NULL, NULL);
}

void signals_after_fork(void)
{
    handlers_after_fork(getpid());
    crash_after_fork();
    freeze_after_fork();
}
