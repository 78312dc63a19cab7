/*
 * pyread.h - what python.c (thread states and frames) and greenlet.c
 * (greenlets) share: where things lie in CPython's structures, checked
 * reads, and the walk of a chain of frames.
 *
 * Internal to those two files; the rest of libgmr sees python.h.
 */
#ifndef GMR_PYREAD_H
#define GMR_PYREAD_H

#include "base/maps.h"
#include "base/memread.h"

#include <stddef.h>
#include <stdint.h>

struct py_stacks;
struct py_thread;

/*
 * Where things are in the interpreter's structures: CPython 3.11's from
 * its headers (x86_64), or 3.13's from the _Py_DebugOffsets table the
 * interpreter keeps at the start of _PyRuntime for tools like this one.
 * An offset of 0 where 0 cannot be one means "not known for this version".
 */
struct layout {
    uintptr_t code_type, str_type, bytes_type; /* the type objects */
    uintptr_t frame_type;                      /* PyFrame_Type: greenlets hold frame objects */
    size_t rt_interp_head;                     /* _PyRuntimeState.interpreters.head */
    size_t rt_tstate_now;                      /* 3.11: who holds the GIL, or NULL; 0: none */
    size_t is_next, is_threads_head;
    size_t is_gil_locked, is_gil_holder; /* 3.13: the interpreter's own GIL; 0: none */
    size_t is_gc_lists[4];               /* 3.11: the collector's generations, permanent last */
    size_t is_gc_collecting;             /* 3.11: a collection runs (its objects are elsewhere) */
    size_t ts_next, ts_native_id;
    size_t ts_cframe;          /* 3.11: the _PyCFrame, which holds the current frame; 0: none */
    size_t ts_current_frame;   /* in the _PyCFrame (3.11) or the thread state (3.13) */
    size_t ts_datastack_chunk; /* 3.11: where the thread's frames are pushed; 0: not known */
    size_t fr_code, fr_previous, fr_instr, fr_owner, fr_size;
    long fr_is_entry; /* 3.11; -1: entry frames are owned by the C stack (3.12+) */
    int owner_cstack; /* 3.12+: the owner of those entry frames; -1: none */
    size_t fo_frame;  /* PyFrameObject.f_frame, the frame it stands for */
    size_t co_firstlineno, co_filename, co_name, co_qualname, co_linetable, co_code;
    long co_firsttraceable; /* -1: not known */
    size_t str_length, str_state, str_ascii_data, str_data;
    size_t bytes_size, bytes_data;
};

#define OB_TYPE 8 /* PyObject.ob_type, in every version */

static inline int py_rd(struct memreader *mr, uintptr_t addr, void *out, size_t len)
{
    return addr ? memreader_read(mr, addr, out, len) : -1;
}

static inline uintptr_t py_rd_ptr(struct memreader *mr, uintptr_t addr)
{
    uintptr_t v = 0;

    return py_rd(mr, addr, &v, sizeof(v)) == 0 ? v : 0;
}

static inline int py_is_a(struct memreader *mr, uintptr_t obj, uintptr_t type)
{
    return obj && type && py_rd_ptr(mr, obj + OB_TYPE) == type;
}

/* The chunks of memory a thread (or a greenlet) pushes its frames on
   (_PyStackChunk, 3.11). A frame the thread owns that lies outside them
   is another greenlet's: the first frame a greenlet ran links back to the
   frame that first switched to it. n == 0: not known, nothing is cut. */
#define PY_MAX_CHUNKS 64
struct py_chunks {
    uintptr_t lo[PY_MAX_CHUNKS], hi[PY_MAX_CHUNKS];
    size_t n;
};

void py_chunks_read(struct memreader *mr, uintptr_t chunk, struct py_chunks *out);
/* The frames from `frame` on (innermost first) into out->frames, with
   out->note where the walk stopped early. 1 if it stopped at a frame
   outside `own` (another greenlet's), 0 otherwise. */
int py_walk(struct memreader *mr, const struct layout *t, uintptr_t frame,
            const struct py_chunks *own, struct py_thread *out);
/* The mapping of greenlet's C module (_greenlet.*.so), or NULL. */
const struct mapping *greenlet_module(const struct maps *maps);
/* The greenlets of the interpreter at `interp`, into out->greenlets. */
void greenlets_read(struct memreader *mr, const struct maps *maps, const struct layout *t,
                    uintptr_t interp, struct py_stacks *out);

#endif
