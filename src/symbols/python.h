/*
 * python.h - the Python stacks of a process that runs CPython, its
 * threads' and its suspended greenlets', read from the interpreter's own
 * structures (python.c, greenlet.c).
 *
 * No Python code runs, no GIL is taken, nothing in the interpreter is
 * written: every read goes through memread (fault-free) and is checked
 * (types, bounds, cycles) before it is believed. What cannot be read
 * consistently is said in a note, never guessed.
 */
#ifndef GMR_PYTHON_H
#define GMR_PYTHON_H

#include "base/maps.h"
#include "base/memread.h"

#include <stddef.h>
#include <sys/types.h>

struct py_frame {
    char function[128]; /* the code object's qualified name */
    char file[256];
    int line;  /* -1 if the location table has none */
    int entry; /* the first frame a call of the evaluation loop ran */
};

struct py_thread {
    pid_t tid; /* native_thread_id; 0 for a greenlet */
    int holds_gil;
    size_t n;
    struct py_frame *frames; /* innermost first */
    const char *note;        /* why the stack is cut short, or NULL */
    int stale;               /* tid is no thread of this process */
    char stale_note[160];
    char name[64]; /* a greenlet's type (greenlet, GreenThread, ...) */
};

struct py_stacks {
    int found;           /* the process runs CPython */
    char version[16];    /* "3.11.7" */
    const char *problem; /* why no stacks were read (an unsupported version), or NULL */
    const char *note;    /* why some were not, or NULL */
    size_t n;
    struct py_thread *threads;
    long long read_us; /* what reading them took */
    /* greenlet, where its module is loaded: each suspended greenlet's
       Python stack, found through the garbage collector's lists */
    int greenlet; /* the module is loaded */
    size_t n_greenlets;
    struct py_thread *greenlets;
    size_t greenlets_elsewhere; /* running (their thread shows them), not started, or finished */
    size_t greenlets_unlisted;  /* past the cap, or not readable */
    const char *greenlet_note;  /* why they are not all listed, or NULL */
    long long gc_objects;       /* objects the walk of the collector's lists looked at */
};

/* Reads every Python thread's stack. Returns 0 with out->found 0 in a
   process without CPython. */
int python_read(struct memreader *mr, const struct maps *maps, struct py_stacks *out);
void python_free(struct py_stacks *st);
/* The Python thread that runs on this OS thread, or NULL. A forked
   child's one thread state still names its parent's thread (CPython 3.11
   does not renew native_thread_id after fork): the main thread, which
   is that thread in the child, gets it, with stale_note to say so. */
const struct py_thread *python_thread(const struct py_stacks *st, pid_t tid);
/* What was found of greenlets, in a line: "3 suspended (listed under
   Green Threads), 1 running, not started or finished", and the note. */
void python_greenlets_summary(const struct py_stacks *st, char *out, size_t cap);
/* Is `function` the evaluation loop, where a thread's Python frames run? */
int python_is_eval_frame(const char *function);

#endif
