/*
 * watcher.h - libgmr's own thread, "gmr-watcher".
 *
 * It blocks every signal, sleeps until a trigger arrives (a signal handler
 * wakes it, or a timeout passes), and writes reports. All heavy work -
 * loading libunwind and elfutils, reading symbols - happens here, never
 * in the host's threads.
 */
#ifndef GMR_WATCHER_H
#define GMR_WATCHER_H

#include "base/config.h"

/* Starts the watcher. cfg and service must outlive it. 0 or -1. */
int watcher_start(const struct gmr_config *cfg, const char *service, int capture_signal);
/* In the child of fork(): a new watcher for the new process. */
void watcher_after_fork(void);
/* Around a change of the process's credentials (setuid() and kin): the
   watcher ends if its capabilities differ from the caller's (returns 1),
   and starts again, from the caller, after it. */
int watcher_follow_begin(void);
void watcher_follow_end(int stopped);
/* The watcher thread's function; preload/threads.c knows it by it (the
   watcher makes its own alternate signal stack, when it starts serving). */
void *watcher_main(void *arg);

#endif
