/*
 * greenlet.c - the greenlets of a CPython 3.11 process: each suspended
 * one's Python stack, read without the GIL (python.h).
 *
 * Greenlets are in no list of the interpreter's, nor of greenlet's own.
 * Like oslo.reports (gc.get_objects()), this finds them on the garbage
 * collector's lists: each generation is a doubly linked ring of every
 * object it tracks, with a PyGC_Head (next, prev) just before the object.
 * The thread that holds the GIL relinks those rings as it allocates and
 * frees, and libgmr never takes the GIL (a hung process may hold it for
 * ever), so the walk checks itself as it goes: each node must link back
 * to the one before it, or the ring changed under the walk and its rest
 * is not trusted (a note says so); the walk is bounded; an object is a
 * greenlet only if its type, or one of its bases, is PyGreenlet_Type.
 *
 * A greenlet object (PyGreenlet, greenlet.h) points to its C++ state
 * (greenlet 2.0's greenlet::Greenlet, greenlet_greenlet.hpp, x86_64):
 * after the vtable pointer come ExceptionState, SwitchingArgs, StackState
 * and PythonState, whose _top_frame is the frame object of a suspended
 * greenlet's innermost frame and whose datastack_chunk is where its
 * frames were pushed; then UserGreenlet's (or MainGreenlet's) _self,
 * which must point back at the object: that checks the layout before
 * anything else in it is believed. A running greenlet has no _top_frame
 * (its thread's stack is its stack, in Threads); one not started or
 * finished has none either.
 */
#include "pyread.h"
#include "python.h"

#include "elf_image.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GC_HEAD      16 /* PyGC_Head: _gc_next, _gc_prev */
#define GC_PREV_MASK (~(uintptr_t)3)
#define GC_NEXT_MASK (~(uintptr_t)1) /* set on unreachable objects during a collection */
#define TP_NAME      24              /* PyTypeObject.tp_name */
#define TP_BASE      256
#define GR_PIMPL     32 /* PyGreenlet.pimpl */
#define G_TOP_FRAME  96 /* greenlet::Greenlet.python_state._top_frame */
#define G_DATASTACK  136
#define G_SELF       160 /* UserGreenlet._self, MainGreenlet._self */

#define MAX_GC_OBJECTS (1L << 21)
#define MAX_GREENLETS  1024
#define MAX_BASES      32
#define MEMO           64

/* Types already judged: most objects are of a few types. */
struct memo {
    uintptr_t type[MEMO];
    unsigned char yes[MEMO];
};

struct hunt {
    struct memreader *mr;
    uintptr_t greenlet_type;
    struct memo memo;
    uintptr_t *found; /* greenlet objects */
    size_t n, cap;
    long objects;
    int changed, too_long, no_room;
};

const struct mapping *greenlet_module(const struct maps *maps)
{
    size_t i;

    for (i = 0; i < maps->n; i++)
        if (!maps->m[i].offset && strstr(maps->m[i].path, "/_greenlet."))
            return &maps->m[i];
    return NULL;
}

static int greenlet_type(struct hunt *h, uintptr_t type)
{
    size_t slot = (type >> 4) % MEMO;
    uintptr_t t = type;
    int i, yes = 0;

    if (h->memo.type[slot] == type)
        return h->memo.yes[slot];
    for (i = 0; t && i < MAX_BASES && !yes; i++, t = py_rd_ptr(h->mr, t + TP_BASE))
        yes = t == h->greenlet_type;
    h->memo.type[slot] = type;
    h->memo.yes[slot] = (unsigned char)yes;
    return yes;
}

static void keep(struct hunt *h, uintptr_t obj)
{
    uintptr_t *grown;

    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;

        grown = realloc(h->found, cap * sizeof(*grown));
        if (!grown) {
            h->no_room = 1;
            return;
        }
        h->found = grown;
        h->cap = cap;
    }
    h->found[h->n++] = obj;
}

/* One generation's ring, from its head back to it. */
static void walk_ring(struct hunt *h, uintptr_t head)
{
    uintptr_t node[4]; /* _gc_next, _gc_prev, then the object: ob_refcnt, ob_type */
    uintptr_t prev = head, at;

    if (py_rd(h->mr, head, node, GC_HEAD) < 0) {
        h->changed = 1;
        return;
    }
    for (at = node[0] & GC_NEXT_MASK; at != head; at = node[0] & GC_NEXT_MASK) {
        if (h->objects == MAX_GC_OBJECTS) {
            h->too_long = 1;
            return;
        }
        if (py_rd(h->mr, at, node, sizeof(node)) < 0 || (node[1] & GC_PREV_MASK) != prev) {
            h->changed = 1;
            return;
        }
        h->objects++;
        if (greenlet_type(h, node[3]))
            keep(h, at + GC_HEAD);
        prev = at;
    }
}

static int by_address(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;

    return (x > y) - (x < y);
}

/* Sorted, each once: an object promoted between generations mid-walk is
   met twice. */
static void unique(struct hunt *h)
{
    size_t i, n = 0;

    if (h->n < 2)
        return; /* and qsort is not to be given NULL */
    qsort(h->found, h->n, sizeof(*h->found), by_address);
    for (i = 0; i < h->n; i++)
        if (!n || h->found[n - 1] != h->found[i])
            h->found[n++] = h->found[i];
    h->n = n;
}

/* The type's tp_name, a C string. */
static void type_name(struct memreader *mr, uintptr_t obj, char *out, size_t cap)
{
    uintptr_t name = py_rd_ptr(mr, py_rd_ptr(mr, obj + OB_TYPE) + TP_NAME);
    size_t i;

    for (i = 0; i + 1 < cap; i++)
        if (py_rd(mr, name + i, &out[i], 1) < 0 || !out[i])
            break;
    out[i] = '\0';
    if (!out[0])
        snprintf(out, cap, "greenlet");
}

enum { LISTED, ELSEWHERE, UNREADABLE };

/* The first reason given is kept: it is the one that explains the rest. */
static void say(struct py_stacks *st, const char *why)
{
    if (!st->greenlet_note)
        st->greenlet_note = why;
}

static int read_greenlet(struct memreader *mr, const struct layout *t, uintptr_t obj,
                         struct py_thread *out)
{
    uintptr_t pimpl = py_rd_ptr(mr, obj + GR_PIMPL), top;
    struct py_chunks own;

    if (py_rd_ptr(mr, pimpl + G_SELF) != obj)
        return UNREADABLE; /* freed meanwhile, or not greenlet 2.0's layout */
    top = py_rd_ptr(mr, pimpl + G_TOP_FRAME);
    if (!top)
        return ELSEWHERE;
    if (!py_is_a(mr, top, t->frame_type))
        return UNREADABLE;
    memset(out, 0, sizeof(*out));
    type_name(mr, obj, out->name, sizeof(out->name));
    py_chunks_read(mr, py_rd_ptr(mr, pimpl + G_DATASTACK), &own);
    py_walk(mr, t, py_rd_ptr(mr, top + t->fo_frame), &own, out);
    return LISTED;
}

static void read_found(struct memreader *mr, const struct layout *t, const struct hunt *h,
                       struct py_stacks *st)
{
    size_t i, unreadable = 0, room = MAX_GREENLETS - st->n_greenlets;
    struct py_thread *list;

    if (!h->n)
        return;
    list = realloc(st->greenlets, (st->n_greenlets + (h->n < room ? h->n : room)) * sizeof(*list));
    if (!list) {
        say(st, "no memory to list the greenlets");
        st->greenlets_unlisted += h->n;
        return;
    }
    st->greenlets = list;
    for (i = 0; i < h->n; i++) {
        if (!room) {
            st->greenlets_unlisted += h->n - i;
            say(st, "there are more than 1024 greenlets; the rest are not listed");
            break;
        }
        switch (read_greenlet(mr, t, h->found[i], &list[st->n_greenlets])) {
        case LISTED:
            st->n_greenlets++;
            room--;
            break;
        case ELSEWHERE:
            st->greenlets_elsewhere++;
            break;
        default:
            unreadable++;
        }
    }
    st->greenlets_unlisted += unreadable;
    if (unreadable && unreadable == h->n)
        say(st, "no greenlet's state is laid out as greenlet 2.0's (another greenlet "
                "version?): their stacks are not shown");
    else if (unreadable)
        say(st, "some greenlets could not be read (freed while the report ran)");
}

static void hunt_notes(const struct layout *t, const struct hunt *h, uintptr_t interp,
                       struct py_stacks *st)
{
    int collecting = 0;

    if (h->too_long)
        say(st, "the garbage collector's lists hold more than 2097152 objects; greenlets "
                "past those are not listed");
    if (h->changed)
        say(st, "the garbage collector's lists changed while they were read (the thread "
                "holding the GIL ran on); some greenlets may be missing");
    if (h->no_room)
        say(st, "no memory to remember every greenlet; some are not listed");
    py_rd(h->mr, interp + t->is_gc_collecting, &collecting, sizeof(collecting));
    if (collecting)
        say(st, "a garbage collection was running: greenlets it had set aside are not listed");
}

void greenlets_read(struct memreader *mr, const struct maps *maps, const struct layout *t,
                    uintptr_t interp, struct py_stacks *st)
{
    const struct mapping *module = greenlet_module(maps);
    struct elf_dynsym ds;
    struct hunt h;
    size_t i;

    if (!t->is_gc_lists[0] || !t->frame_type) {
        say(st, "greenlets are listed for CPython 3.11 only: this interpreter's garbage "
                "collector is laid out otherwise");
        return;
    }
    memset(&h, 0, sizeof(h));
    h.mr = mr;
    if (!module || elf_dynsym_open(mr, module->start, &ds) < 0 ||
        !(h.greenlet_type = elf_dynsym_lookup(&ds, "PyGreenlet_Type"))) {
        say(st, "greenlet's module does not export PyGreenlet_Type; greenlets cannot be told "
                "from other objects");
        return;
    }
    for (i = sizeof(t->is_gc_lists) / sizeof(t->is_gc_lists[0]); i-- > 0 && !h.too_long;)
        walk_ring(&h, interp + t->is_gc_lists[i]); /* the oldest first */
    st->gc_objects += h.objects;
    unique(&h);
    read_found(mr, t, &h, st);
    hunt_notes(t, &h, interp, st);
    free(h.found);
}

void python_greenlets_summary(const struct py_stacks *st, char *out, size_t cap)
{
    int n = snprintf(out, cap,
                     "%zu suspended (listed under Green Threads), %zu running, "
                     "not started or finished",
                     st->n_greenlets, st->greenlets_elsewhere);

    if (st->greenlets_unlisted && n >= 0 && (size_t)n < cap)
        n += snprintf(out + n, cap - (size_t)n, ", %zu not listed", st->greenlets_unlisted);
    if (st->greenlet_note && n >= 0 && (size_t)n < cap)
        snprintf(out + n, cap - (size_t)n, ": %s", st->greenlet_note);
}
