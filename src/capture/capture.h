/*
 * capture.h - snapshot every thread of the process (watcher side).
 *
 * capture_run lists /proc/self/task, sends each thread that can take it
 * the capture signal, and waits, against one deadline, for their handlers
 * (handlers.c) to copy registers and stacks. Threads created meanwhile are
 * picked up by re-reading the task list. Threads captured already (the
 * one that crashed, those frozen for a crash report, the one that took
 * the trigger signal) come in as presets and are not signalled. Every
 * thread ends up in `threads` with a status; those not captured carry
 * what /proc could tell about them.
 */
#ifndef GMR_CAPTURE_H
#define GMR_CAPTURE_H

#include "base/config.h"
#include "signal/freeze.h"
#include "signal/slot.h"
#include "base/maps.h"

#include <stddef.h>
#include <sys/types.h>

struct ptrace_held;

/* Room for one thread's stack copy. */
#define CAPTURE_STACK_MAX (512 * 1024)

enum capture_status {
    CAP_OK,          /* registers and stack copied */
    CAP_SELF,        /* the watcher thread: it is writing the report */
    CAP_BLOCKED,     /* blocks the capture signal */
    CAP_SIGWAIT,     /* waits for signals in sigwaitinfo: it would take ours as its own */
    CAP_PENDING,     /* an earlier capture signal is still pending there */
    CAP_IN_VFORK,    /* waits for a vfork child, and cannot take a signal until it execs */
    CAP_NOT_FROZEN,  /* a crash round: it could not be held (see the note) */
    CAP_GONE,        /* exited before it could answer */
    CAP_NO_ANSWER,   /* alive but silent until the deadline */
    CAP_SEND_FAILED, /* the signal could not be queued (err) */
    CAP_NO_ROOM,     /* appeared after the round was full */
    CAP_NOT_OURS,    /* the host took over the capture signal */
    CAP_NO_MEMORY,   /* no memory for the round */
    CAP_NO_SIGNAL,   /* no capture signal could be installed */
};

/* Threads captured before the round: not signalled. */
enum capture_preset {
    PRESET_NONE,
    PRESET_CRASHED, /* stopped in its crash handler; its stack is read in place */
    PRESET_FROZEN,  /* held for the crash report; its stack is read in place */
    PRESET_TRIGGER, /* captured itself when the trigger signal interrupted it */
};

struct capture_presets {
    const struct slot *crashed;
    const struct frozen *frozen; /* nfrozen records */
    size_t nfrozen;
    const struct slot *trigger;
    int send; /* 0: a crash round, everyone who can be captured is frozen already */
    /* A crash round with the ptrace backend: the threads the freeze did
       not reach are captured by the tracer, which holds them stopped
       (capture_ptrace.h); NULL: they are only listed. */
    struct ptrace_held *held;
};

struct thread_rec {
    pid_t tid;
    enum capture_status status;
    int err;
    int late; /* appeared while the round was running */
    enum capture_preset preset;
    const struct slot *slot; /* CAP_OK only */
    struct slot *kept;       /* a preset's slot, copied: a frozen thread's goes with it */
    char name[64];
    char state[40];
    long utime_ms, stime_ms;  /* CPU time used, before the capture */
    unsigned long long start; /* start time (ticks after boot): with tid, who it is */
    /* For threads not captured: /proc/self/task/TID/{syscall,wchan}. */
    char syscall[160];
    char wchan[64];
    int traced; /* enrolled for the ptrace backend */
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
    long timeout_ms;
    int ptrace;             /* threads go to the tracer (capture_ptrace.c) first */
    int ptrace_asked;       /* the configuration asked for it */
    size_t ptraced;         /* threads the tracer captured */
    const char *ptrace_why; /* why it captured none, or not all, or NULL */
};

/* Captures every thread but `self`, taking the presets' slots for their
   threads instead of signalling them. Always fills c->threads (on
   failure every thread has a status saying why). */
void capture_run(struct capture *c, int signo, long timeout_ms, pid_t self,
                 const struct capture_presets *presets, enum cfg_capture mode);
void capture_free(struct capture *c);
/* A sentence for a thread's status, for the report. */
const char *capture_status_text(const struct thread_rec *t);

#endif
