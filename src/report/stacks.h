/*
 * stacks.h - the stacks stage of a report: every captured thread's stack
 * and every coroutine's, unwound once and each address symbolized once,
 * before the Waits analysis and the sections read them (model.h's struct
 * unwound). The sections only render what this stage found.
 */
#ifndef GMR_STACKS_H
#define GMR_STACKS_H

#include "model.h"

/* Unwinds every captured thread's stack (r->unwound). */
void stacks_unwind(struct report *r);
/* Symbolizes their frames; then asks the program's lister for its
   coroutines, and unwinds and symbolizes theirs (r->green...). */
void stacks_symbolize(struct report *r);
void stacks_free(struct report *r);
/* A suspended coroutine's saved registers as a slot: its stack is read in
   place, where it lies. */
void stacks_green_slot(struct slot *s, const struct gmr_green_thread *g);

#endif
