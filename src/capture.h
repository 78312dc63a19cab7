/*
 * capture.h - snapshot every thread of the process (watcher side).
 *
 * capture_run lists /proc/self/task, sends each thread the capture signal
 * and waits, against one deadline, for their handlers (handlers.c) to
 * copy registers and stacks. Threads created meanwhile are picked up by
 * re-reading the task list. Every thread ends up in `threads` with a
 * status; those not captured carry what /proc could tell about them.
 */
#ifndef GMR_CAPTURE_H
#define GMR_CAPTURE_H

#include "handlers.h"
#include "maps.h"

#include <stddef.h>
#include <sys/types.h>

enum capture_status {
    CAP_OK,          /* registers and stack copied */
    CAP_SELF,        /* the watcher thread: it is writing the report */
    CAP_BLOCKED,     /* blocks the capture signal */
    CAP_GONE,        /* exited before it could answer */
    CAP_NO_ANSWER,   /* alive but silent until the deadline */
    CAP_SEND_FAILED, /* the signal could not be queued (err) */
    CAP_NO_ROOM,     /* appeared after the round was full */
    CAP_NOT_OURS,    /* the host took over the capture signal */
    CAP_NO_MEMORY,   /* no memory for the round */
    CAP_NO_SIGNAL,   /* no capture signal could be installed */
};

struct thread_rec {
    pid_t tid;
    enum capture_status status;
    int err;
    int late;                /* appeared while the round was running */
    int preset;              /* given, not captured: a thread stopped in its crash handler */
    const struct slot *slot; /* CAP_OK only */
    char name[64];
    char state[40];
    long utime_ms, stime_ms; /* CPU time used, before the capture */
    /* For threads not captured: /proc/self/task/TID/{syscall,wchan}. */
    char syscall[160];
    char wchan[64];
};

struct capture {
    struct thread_rec *threads;
    size_t n, cap;
    struct maps maps;        /* the newest map read during the round */
    struct map_set *sets[9]; /* the first list's, and one per re-list */
    size_t nsets;
    struct round *round;
    size_t round_bytes;
    unsigned char *copies;
    size_t copies_bytes, stack_cap;
    long elapsed_us;
    int signo;
    int taskdir; /* /proc/self/task, open during capture_run */
};

/* Captures every thread but `self`, and takes `preset` (if not NULL) for
   the thread preset->tid instead of signalling it. Always fills
   c->threads (on failure every thread has a status saying why). */
void capture_run(struct capture *c, int signo, long timeout_ms, pid_t self,
                 const struct slot *preset);
void capture_free(struct capture *c);
/* A sentence for a thread's status, for the report. */
const char *capture_status_text(const struct thread_rec *t);

#endif
