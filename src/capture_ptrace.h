/*
 * capture_ptrace.h - the ptrace capture backend: threads captured by a
 * tracer task of libgmr's own, without a signal (capture_ptrace.c).
 *
 * The watcher fills each slot's tid, maps, copy and copy_cap as for a
 * signal round; the tracer fills the rest and marks the slot SLOT_DONE.
 * A slot left SLOT_SENT was not captured: the caller falls back to a
 * signal for it.
 */
#ifndef GMR_CAPTURE_PTRACE_H
#define GMR_CAPTURE_PTRACE_H

#include "handlers.h"

#include <stddef.h>

struct ptrace_outcome {
    size_t captured;
    int err;         /* why the tracer could trace no thread (errno), or 0 */
    const char *why; /* the same in words, or NULL */
};

/* Captures the threads of slots[0..n) one at a time, each stopped for
   microseconds. pid: this process. Waits at most timeout_ms in all. */
void ptrace_capture(pid_t pid, struct slot **slots, size_t n, long timeout_ms,
                    struct ptrace_outcome *out);

#endif
