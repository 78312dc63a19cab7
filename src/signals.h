/*
 * signals.h - installing libgmr's signal handlers, and never stealing one.
 *
 * We only take a signal whose disposition is still the default when we
 * look. A host that installs its own handler later simply replaces ours:
 * the host wins, and the capture code notices (capture.c).
 */
#ifndef GMR_SIGNALS_H
#define GMR_SIGNALS_H

/* Picks and installs the capture signal (`wanted`, or a free one if 0).
   Returns the signal, or -1 with a gmr: line. */
int signals_install_capture(int wanted, int avoid);
/* Installs the trigger handler on sig if the host has not claimed it.
   Returns 0, or -1 with a gmr: line. */
int signals_install_trigger(int sig);
/* Installs the crash handler on SEGV, BUS, FPE, ILL and ABRT, where the
   disposition is still the default. */
void signals_install_crash(void);
/* In a forked child: the handlers' shared state starts empty again. */
void signals_after_fork(void);

#endif
