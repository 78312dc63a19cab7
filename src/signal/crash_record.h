/*
 * crash_record.h - SIGNAL CONTEXT. What a crash is: the record the first
 * crashing thread fills in (crash_handler.c owns it), that the watcher's
 * report and the crashing thread's own fallback report read.
 */
#ifndef GMR_CRASH_RECORD_H
#define GMR_CRASH_RECORD_H

#include "slot.h"

#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

/* A crash being reported: phase is a futex word the crashing thread waits
   on while the watcher writes the report. */
enum crash_phase {
    CRASH_NONE,
    CRASH_REPORTING,
    CRASH_DONE,
    CRASH_WATCHER_FAILED,
    CRASH_WATCHER_STUCK, /* not a phase the watcher sets: the crashing thread's verdict */
};

struct crash_info {
    _Atomic pid_t tid; /* the first thread to crash; 0 if none */
    _Atomic int phase;
    int signo, code;
    uintptr_t addr;
    pid_t sender;     /* si_pid for signals sent by a process */
    struct slot slot; /* its registers; its stack is read in place */
};

#endif
