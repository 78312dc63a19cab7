/*
 * crash_fallback.h - SIGNAL CONTEXT. The report a crashing thread writes
 * by itself when libgmr's watcher cannot write the full one.
 */
#ifndef GMR_CRASH_FALLBACK_H
#define GMR_CRASH_FALLBACK_H

#include "crash_record.h"

#include <sys/types.h>
#include <ucontext.h>

/* Writes crash c of process pid (signal, registers, a scan of the stack)
   to stderr, saying `why` the full report is missing. */
void crash_fallback_report(const struct crash_info *c, pid_t pid, const char *service,
                           const char *why);

#endif
