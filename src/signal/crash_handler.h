/*
 * crash_handler.h - SIGNAL CONTEXT. libgmr's handler for the fatal
 * signals (crash_handler.c), and the crash record it keeps: the watcher
 * writes the report while the crashing thread waits, then says so here.
 */
#ifndef GMR_CRASH_HANDLER_H
#define GMR_CRASH_HANDLER_H

#include "crash_record.h"

#include <signal.h>
#include <sys/types.h>

void handler_crash(int sig, siginfo_t *si, void *uc);
/* The watcher, after writing a crash report (a crash_phase). */
void crash_reported(int phase);
/* The crash being reported, or the last one; its fields are set once
   crash_thread() is non-zero. */
const struct crash_info *crash_record(void);
/* The first thread to crash, 0 if none is being reported. */
pid_t crash_thread(void);
/* How long a crashing thread waits for the watcher's report (set by the
   constructor: the capture timeout, and time to write). */
void crash_set_wait_ms(int ms);
int crash_wait_ms(void);
/* In a forked child: no crash is being reported. */
void crash_after_fork(void);

#endif
