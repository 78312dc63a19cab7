/*
 * sigchain.h - SIGNAL CONTEXT (partly, see sigchain.c). The signal
 * dispositions the host sees, and libgmr's handlers in front of them.
 *
 * libgmr takes a few signals at start-up, and only where the disposition
 * is still the default: the fatal ones (crash reports), the trigger signal
 * and the capture signal. The host must not notice. It reads and installs
 * its handlers through sigaction(), signal() and friends, which libgmr
 * interposes (preload/sigaction.c), as the JVM's libjsig does:
 *
 *  - a fatal signal stays libgmr's in the kernel; what the host installs is
 *    kept as its *view*, and handler_crash runs it first (with the host's
 *    flags and mask). libgmr reports only when the signal is fatal in the
 *    host's own view;
 *  - the trigger and capture signals are given up the moment the host
 *    installs a handler or SIG_IGN for them: the host wins. SIG_DFL keeps
 *    ours, so a daemon that resets every signal at start keeps libgmr;
 *  - asked for the current disposition, the host gets its own view: what
 *    it would see without libgmr.
 *
 * Signals libgmr never took pass straight through. Everything here is
 * async-signal-safe (sigaction may be called from a handler): views are
 * guarded by a sequence counter, writers by a lock word taken with every
 * signal blocked.
 */
#ifndef GMR_SIGCHAIN_H
#define GMR_SIGCHAIN_H

#include <signal.h>

enum sigchain_role { ROLE_NONE, ROLE_CRASH, ROLE_TRIGGER, ROLE_CAPTURE };

typedef void (*sigchain_fn)(int, siginfo_t *, void *);

/* Finds the next sigaction in the symbol search order (libc's, or another
   interposer's). Called by the constructor before anything else here. */
void sigchain_init(void);

/* The real sigaction: the kernel's dispositions, not the host's view. */
int sys_sigaction(int sig, const struct sigaction *act, struct sigaction *old);

/* Is sig's disposition SIG_DFL in the kernel? */
int sigchain_is_default(int sig);

/*
 * Installs fn for sig, if the disposition is still the default. `mask` is
 * blocked while fn runs. If the host later takes a trigger or capture
 * signal, `leaving` (if not NULL) is called first, in the host's thread,
 * while the signal is still ours, and `takeover_note` (a static string, or
 * NULL) is written once on stderr. Returns 0, or -1 if the signal is not
 * free.
 */
int sigchain_take(int sig, enum sigchain_role role, sigchain_fn fn, const sigset_t *mask,
                  const char *takeover_note, void (*leaving)(int sig));

/* The host's sigaction(), interposed. */
int sigchain_sigaction(int sig, const struct sigaction *act, struct sigaction *old);

/* Which role sig plays for libgmr now (ROLE_NONE once the host took it). */
enum sigchain_role sigchain_role_of(int sig);

/* Did the host take sig (a trigger or capture signal) after start-up? */
int sigchain_taken_over(int sig);

/* Signal context: the host's view of sig's disposition. */
void sigchain_view(int sig, struct sigaction *out);

/* Signal context: the host's view becomes SIG_DFL (SA_RESETHAND). */
void sigchain_reset_view(int sig);

/* Signal context: gives sig back to the kernel's default for good, as
   the process is about to die of it. */
void sigchain_release(int sig);

/* fork() handlers: no fork while a view is half-written, and the child's
   views are its own. */
void sigchain_fork_prepare(void);
void sigchain_fork_parent(void);
void sigchain_fork_child(void);

#endif
