/*
 * unwind.h - turn a captured slot (registers + stack copy) into return
 * addresses, with libunwind's remote interface.
 *
 * The address space is created once and reused, so libunwind's cache of
 * parsed unwind rules survives between threads and reports; its cache is
 * flushed at the start of every report because libraries may have been
 * loaded or unloaded since.
 */
#ifndef GMR_UNWIND_H
#define GMR_UNWIND_H

#include "signal/slot.h"
#include "base/maps.h"
#include "base/memread.h"

#include <stddef.h>
#include <stdint.h>

struct unwind_frame {
    uintptr_t pc;
    int exact;  /* pc is the interrupted instruction, not a return address */
    int signal; /* the signal trampoline: a handler below, the interrupted code above */
};

enum unwind_end {
    UNWIND_END_OK,    /* reached the outermost frame */
    UNWIND_END_LIMIT, /* more frames than the limit; `omitted` counts them */
    UNWIND_END_ERROR, /* libunwind could not go on */
    UNWIND_END_LOOP,  /* no progress from one frame to the next */
};

struct unwind_result {
    size_t n;       /* frames stored */
    size_t omitted; /* frames past the limit, counted not stored */
    enum unwind_end end;
    int error;          /* libunwind's code for UNWIND_END_ERROR */
    int live_from;      /* first frame found through live (not copied) stack memory, or -1 */
    int no_info_at;     /* first frame whose code has no unwind information, or -1 */
    uintptr_t bad_addr; /* UNWIND_END_ERROR: the last address that could not be read, or 0 */
};

/* Frames counted past the limit stop here, in case the stack loops. */
#define UNWIND_HARD_LIMIT 100000

struct unwind_session;

/* Per report: the loaded ELF images and a memory reader. NULL on failure. */
struct unwind_session *unwind_begin(const struct maps *maps, struct memreader *mr);
void unwind_end(struct unwind_session *s);
/* In a forked child: forget the parent's address space. */
void unwind_after_fork(void);
/* Unwinds one captured slot into frames[0..max). */
void unwind_slot(struct unwind_session *s, const struct slot *slot, struct unwind_frame *frames,
                 size_t max, struct unwind_result *res);

#endif
