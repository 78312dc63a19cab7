/*
 * handlers.h - what the signal handlers and the watcher share.
 *
 * A capture *round* is a set of slots, one per thread. The watcher fills in
 * each slot's tid and memory, publishes the round, and sends every thread
 * the capture signal with (round sequence, slot index) as payload. Each
 * thread's handler copies its own registers and the live part of its stack
 * into its slot, marks it done and wakes the watcher. The watcher then
 * unwinds the copies at leisure while the threads run on.
 *
 * Handlers never free or allocate; the watcher frees a round only after it
 * has unpublished it and seen no handler still inside (hs_active == 0).
 */
#ifndef GMR_HANDLERS_H
#define GMR_HANDLERS_H

#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <errno.h>
#include <stdint.h>
#include <sys/types.h>
#include <ucontext.h>

#include "base/maps.h"

enum slot_state { SLOT_EMPTY, SLOT_SENT, SLOT_BUSY, SLOT_DONE, SLOT_TAKEN };

struct slot {
    _Atomic int state;
    pid_t tid;                  /* set by the watcher before SLOT_SENT */
    const struct map_set *maps; /* set by the watcher */
    unsigned char *copy;        /* copy_cap bytes reserved for the stack */
    size_t copy_cap;
    int via_mem_file; /* the thread is under seccomp: copy through /proc/self/mem */
    /* Written by the thread itself. */
    greg_t regs[NGREG];
    uintptr_t stack_lo; /* the copy holds [stack_lo, stack_lo + copy_len) */
    size_t copy_len;
    int copy_clipped; /* the stack went on past copy_cap */
    int copy_short;   /* the memory ended before the mapping did: unmapped since */
    int copy_errno;   /* nothing could be copied: why */
    int frozen;       /* no copy: the stack is read in place, the owner cannot run */
    long pause_ns;    /* time the thread spent in the capture handler */
};

/* A stack copy, in two halves shared by the capture handler and the ptrace
   tracer: how much of the stack at sp to copy (up to `end`, the end of its
   mapping, 0 if not known; at most copy_cap), then what the copy of n
   bytes (n <= 0: none, for errno err) leaves in the slot.
   Async-signal-safe. */
static inline size_t slot_copy_want(struct slot *s, uintptr_t sp, uintptr_t end)
{
    size_t want = s->copy_cap;

    if (end > sp && end - sp <= want)
        want = end - sp;
    else if (end > sp)
        s->copy_clipped = 1;
    return want;
}

static inline void slot_copy_done(struct slot *s, uintptr_t sp, uintptr_t end, size_t want, long n,
                                  int err)
{
    if (n <= 0) {
        s->copy_errno = n < 0 ? err : EFAULT;
        return;
    }
    s->stack_lo = sp;
    s->copy_len = (size_t)n & ~(size_t)7;
    if ((size_t)n < want && end > sp)
        s->copy_short = 1;
    if (!end && (size_t)n == want)
        s->copy_clipped = 1;
}

struct round {
    uint32_t seq;
    uint32_t cap;
    _Atomic uint32_t nslots;   /* slots published so far */
    _Atomic uint32_t done;     /* futex word: slots marked SLOT_DONE */
    _Atomic uint32_t expected; /* answers the watcher waits for */
    struct slot *slots;
};

/* Reasons the watcher was woken, as bits in hs_pending. */
enum trigger_bits {
    TRIGGER_SIGNAL = 1,
    TRIGGER_FILE = 2,
    TRIGGER_TIMEOUT = 4,
    TRIGGER_API = 8,
    TRIGGER_CRASH = 16,
    TRIGGER_REQUEST = 32, /* gmr-report, over the control channel (the watcher's own) */
    TRIGGER_QUIT = 64,    /* no report: the watcher ends, to start again (watcher_follow_begin) */
};

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

/*
 * While a crash is reported the other threads are frozen: each is sent the
 * capture signal with FREEZE_PAYLOAD and waits in its handler, every
 * signal blocked, until released (or until the process dies of the
 * crash). So no thread can end the process some other way meanwhile.
 * Each frozen thread writes its registers into one of `records` (static:
 * it stays readable whatever the thread does once let go), tid last.
 * Threads the signal cannot reach (they block it, or wait for it in
 * sigwaitinfo) are held by the watcher's tracer instead, with the ptrace
 * backend (capture_ptrace.h): stopped until `release`, as the frozen ones.
 */
#define FREEZE_PAYLOAD 0xf5eeULL /* round payloads have a non-zero sequence in the top half */
#define FREEZE_RECORDS 4096

struct frozen {
    _Atomic pid_t tid; /* 0 until regs are written */
    greg_t regs[NGREG];
};

struct freeze {
    _Atomic uint32_t count; /* futex word: threads frozen so far */
    _Atomic int on;         /* a freeze is being set up or held */
    _Atomic int release;    /* futex word: set to let the frozen threads go */
    _Atomic uint32_t held;  /* threads held by the watcher's tracer instead */
    struct frozen records[FREEZE_RECORDS];
};

/* Where the watcher is; the crash path and the trigger handler tell the
   truth from it. */
enum watcher_state {
    WATCHER_NOT_STARTED, /* libgmr's constructor has not started it (yet) */
    WATCHER_STARTING,    /* its thread runs, loading libunwind and elfutils */
    WATCHER_READY,
    WATCHER_NO_THREAD, /* pthread_create failed */
    WATCHER_FORKED,    /* forked while the parent's watcher was loading its libraries */
    WATCHER_CRASHED,   /* it faulted; no more reports in this process */
};

/* The thread that took the trigger signal captures itself in the handler
   (it is interrupted already; a capture signal would interrupt it twice). */
struct trigger_capture {
    struct slot slot;     /* slot.state: EMPTY, BUSY (handler), DONE, TAKEN (watcher) */
    _Atomic unsigned gen; /* the trigger it was filled for (handler_state.triggers) */
};

/* The state handlers need. Signal handlers take no argument: it is global. */
struct handler_state {
    _Atomic(struct round *) round;
    _Atomic int active;       /* handlers between entry and exit */
    _Atomic int in_trigger;   /* trigger handlers between entry and exit */
    _Atomic unsigned pending; /* trigger_bits not yet taken by the watcher */
    _Atomic pid_t watcher_tid;
    _Atomic int watcher_state;
    _Atomic unsigned watcher_woken;   /* handlers run on the watcher thread */
    _Atomic(void *) watcher_waits_on; /* the futex of a capture round the watcher waits on */
    _Atomic int leaving_signal;       /* the host is taking it: no wake-ups with it */
    _Atomic unsigned triggers;        /* trigger signals received, ever */
    _Atomic pid_t trigger_tid;        /* thread that received the last trigger */
    _Atomic pid_t trigger_sender;     /* si_pid of the last trigger signal */
    pid_t pid;
    int wake_signal;    /* sent to the watcher to end its wait: the capture signal */
    int trigger_signal; /* the trigger signal, once its handler is installed */
    int crash_wait_ms;  /* how long a crashing thread waits for the watcher */
    const char *service;
    struct crash_info crash;
    struct freeze freeze;
    struct trigger_capture trigger;
};

extern struct handler_state hs;

void handler_capture(int sig, siginfo_t *si, void *uc);
void handler_trigger(int sig, siginfo_t *si, void *uc);
void handler_crash(int sig, siginfo_t *si, void *uc);
/* The watcher, after writing a crash report. */
void handler_crash_reported(int phase);
/* Is fn still sig's handler in the kernel (the host may have taken the
   signal since)? Async-signal-safe. */
int handler_owns(int sig, void (*fn)(int, siginfo_t *, void *));
/* Asks the watcher to run (async-signal-safe; any thread). */
void handler_wake_watcher(unsigned bits);
/* The signal that wakes the watcher now: the capture signal while it is
   ours, else the trigger signal while it is ours, else 0. */
int handler_wake_signal(void);
/* The host is about to take sig (sigchain's `leaving` hook). */
void handler_leaving(int sig);
/* Why this process writes no report, or NULL if its watcher works or is
   starting. Async-signal-safe (a static string). */
const char *handler_no_watcher_reason(void);

#endif
