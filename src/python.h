/*
 * python.h - the Python stacks of a process that runs CPython, read from
 * the interpreter's own structures.
 *
 * No Python code runs, no GIL is taken, nothing in the interpreter is
 * written: every read goes through memread (fault-free) and is checked
 * (types, bounds, cycles) before it is believed. What cannot be read
 * consistently is said in a note, never guessed.
 */
#ifndef GMR_PYTHON_H
#define GMR_PYTHON_H

#include "maps.h"
#include "memread.h"

#include <stddef.h>
#include <sys/types.h>

struct py_frame {
    char function[128]; /* the code object's qualified name */
    char file[256];
    int line;  /* -1 if the location table has none */
    int entry; /* the first frame a call of the evaluation loop ran */
};

struct py_thread {
    pid_t tid; /* native_thread_id */
    int holds_gil;
    size_t n;
    struct py_frame *frames; /* innermost first */
    const char *note;        /* why the stack is cut short, or NULL */
    int stale;               /* tid is no thread of this process */
    char stale_note[160];
};

struct py_stacks {
    int found;           /* the process runs CPython */
    char version[16];    /* "3.11.7" */
    const char *problem; /* why no stacks were read (an unsupported version), or NULL */
    const char *note;    /* why some were not, or NULL */
    size_t n;
    struct py_thread *threads;
    long long read_us; /* what reading them took */
    int greenlet;      /* the greenlet module is loaded (not read: GREENLETS_UNREAD) */
};

/* Why greenlets are not listed. They are in no list of the interpreter's:
   oslo.reports finds them with gc.get_objects(), a walk of the garbage
   collector's lists that the running interpreter relinks at every
   allocation and free, safe only under the GIL, which libgmr never takes
   (a hung process may hold it for ever). */
#define GREENLETS_UNREAD                                                                           \
    "greenlet is loaded, but its greenlets are not listed: they are found only through the "       \
    "garbage collector's lists, which the interpreter changes under any reader that does not "     \
    "hold the GIL, and libgmr never takes it"

/* Reads every Python thread's stack. Returns 0 with out->found 0 in a
   process without CPython. */
int python_read(struct memreader *mr, const struct maps *maps, struct py_stacks *out);
void python_free(struct py_stacks *st);
/* The Python thread that runs on this OS thread, or NULL. A forked
   child's one thread state still names its parent's thread (CPython 3.11
   does not renew native_thread_id after fork): the main thread, which
   is that thread in the child, gets it, with stale_note to say so. */
const struct py_thread *python_thread(const struct py_stacks *st, pid_t tid);
/* Is `function` the evaluation loop, where a thread's Python frames run? */
int python_is_eval_frame(const char *function);

#endif
