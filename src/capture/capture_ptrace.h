/*
 * capture_ptrace.h - the ptrace capture backend: threads captured by a
 * tracer task of libgmr's own, without a signal (capture_ptrace.c).
 *
 * The watcher fills each slot's tid, maps, copy and copy_cap as for a
 * signal round; the tracer fills the rest and marks the slot SLOT_DONE.
 * A slot left SLOT_SENT was not captured: the caller falls back to a
 * signal for it.
 *
 * For a crash, the tracer can hold the threads it captured, stopped,
 * until the crash is reported (as freeze.h's signal freeze does): it lets
 * them go when a word is set, or after hold_ms, and ends; the watcher
 * reaps it with ptrace_let_go. If the process dies meanwhile, the tracer
 * dies with it (its parent-death signal).
 */
#ifndef GMR_CAPTURE_PTRACE_H
#define GMR_CAPTURE_PTRACE_H

#include "signal/slot.h"

#include <stddef.h>

struct ptrace_outcome {
    size_t captured;
    int err;         /* why the tracer could trace no thread (errno), or 0 */
    const char *why; /* the same in words, or NULL */
};

#define PTRACE_HELD_MAX 8

/* Tracers holding threads, set up by the watcher: release and hold_ms
   first, the rest ptrace_capture's. */
struct ptrace_held {
    _Atomic int *release; /* a private futex word: set (and woken) to let go */
    long hold_ms;         /* let go after this long anyway */
    size_t n;
    struct {
        pid_t pid;
        void *mem;
        size_t len;
    } tracer[PTRACE_HELD_MAX];
};

/* Captures the threads of slots[0..n) one at a time, each stopped for
   microseconds. pid: this process. Waits at most timeout_ms in all. With
   `held` (and room in it), the threads captured stay stopped: see above. */
void ptrace_capture(pid_t pid, struct slot **slots, size_t n, long timeout_ms,
                    struct ptrace_held *held, struct ptrace_outcome *out);
/* Waits for the holding tracers to let go and end (at most hold_ms and a
   margin, then kills them, which lets go too), and forgets them. */
void ptrace_let_go(struct ptrace_held *held);

#endif
