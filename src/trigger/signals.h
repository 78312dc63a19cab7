/*
 * signals.h - which signals libgmr takes at start-up, and what it says
 * when it cannot, or when the host takes one over later (sigchain.h is
 * the mechanism).
 *
 * We only take a signal whose disposition is still the default when we
 * look. A host that installs its own handler for the trigger or capture
 * signal later takes it over: the host wins, once, with a gmr: line. A
 * host's handler for a fatal signal runs in front of ours instead.
 */
#ifndef GMR_SIGNALS_H
#define GMR_SIGNALS_H

/* Picks and installs the capture signal (`wanted`, or a free one if 0).
   Returns the signal, or -1 with a gmr: line. */
int signals_install_capture(int wanted, int avoid);
/* Installs the trigger handler on sig if the host has not claimed it.
   Returns 0, or -1 with a gmr: line unless `quiet` (another trigger, the
   trigger file, is set up: the line would be noise). */
int signals_install_trigger(int sig, int quiet);
/* Installs the crash handler on SEGV, BUS, FPE, ILL and ABRT, where the
   disposition is still the default. */
void signals_install_crash(void);
/* In a forked child: the handlers' shared state starts empty again. */
void signals_after_fork(void);

#endif
