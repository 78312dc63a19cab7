/*
 * slot.h - SIGNAL CONTEXT. Where one thread's registers and stack copy
 * go: a capture handler (handlers.c) or the ptrace tracer fills a slot,
 * the watcher reads it once it is SLOT_DONE.
 *
 * A capture *round* is a set of slots, one per thread. The watcher fills in
 * each slot's tid and memory, publishes the round, and sends every thread
 * the capture signal with (round sequence, slot index) as payload. Each
 * thread's handler copies its own registers and the live part of its stack
 * into its slot, marks it done and wakes the watcher. The watcher then
 * unwinds the copies at leisure while the threads run on.
 */
#ifndef GMR_SLOT_H
#define GMR_SLOT_H

#include "base/maps.h"

#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <ucontext.h>

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

#endif
