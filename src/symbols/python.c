/*
 * python.c - CPython's thread states and frames, read from the outside
 * in: the interpreter is never asked anything (python.h).
 *
 * The way in is the interpreter image's dynamic symbols (the python3.X
 * executable, or libpython3.X.so in an embedding host such as uWSGI):
 * _PyRuntime, Py_Version and the type objects that let each structure be
 * checked for what it claims to be. From _PyRuntime: the interpreters,
 * each one's thread states (native_thread_id names the OS thread), each
 * one's chain of frames, each frame's code object (names, file, and the
 * location table that turns the last instruction into a line).
 *
 * The layouts are CPython 3.11's (Include/internal/pycore_runtime.h,
 * pycore_interp.h, cpython/pystate.h, pycore_frame.h, cpython/code.h,
 * cpython/unicodeobject.h, for x86_64); another version gets a note
 * naming it and no frames, never frames read with the wrong layout.
 * Every walk is bounded; a pointer that leads to something that is not
 * what it should be ends the walk with a note. greenlet.c, beside it,
 * finds the greenlets; pyread.h holds what the two share.
 */
#include "python.h"

#include "elf_image.h"
#include "base/lowlevel.h"
#include "pyread.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct layout cpython311 = {
    .rt_interp_head = 40,
    .rt_tstate_now = 576, /* .gilstate.tstate_current */
    .is_next = 0,
    .is_threads_head = 16,
    .is_gc_lists = {672, 696, 720, 752}, /* .gc.generations[0..2], .gc.permanent_generation */
    .is_gc_collecting = 848,
    .ts_next = 8,
    .ts_native_id = 160,
    .ts_cframe = 56,
    .ts_current_frame = 8,
    .ts_datastack_chunk = 296,
    .fr_code = 32,
    .fr_previous = 48,
    .fr_instr = 56, /* prev_instr */
    .fr_owner = 69,
    .fr_size = 70,
    .fr_is_entry = 68,
    .owner_cstack = -1,
    .fo_frame = 24,
    .co_firstlineno = 72,
    .co_filename = 112,
    .co_name = 120,
    .co_qualname = 128,
    .co_linetable = 136,
    .co_code = 184, /* co_code_adaptive */
    .co_firsttraceable = 168,
    .str_length = 16,
    .str_state = 32,
    .str_ascii_data = 48, /* sizeof(PyASCIIObject) */
    .str_data = 72,       /* sizeof(PyCompactUnicodeObject) */
    .bytes_size = 16,
    .bytes_data = 32,
};

#define OWNED_BY_THREAD    0
#define OWNED_BY_GENERATOR 1

#define MAX_INTERPRETERS 64
#define MAX_THREADS      4096
#define MAX_FRAMES       1024
#define MAX_LINETABLE    (1 << 20)
#define MAX_STR          65536

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');

    return slash ? slash + 1 : path;
}

/* python3.11, libpython3.11.so.1.0, python3.11d... */
static int interpreter_file(const char *path)
{
    const char *b = base_name(path);

    return !strncmp(b, "python3", 7) || !strncmp(b, "libpython3", 10);
}

/* ---- objects ---- */

static void utf8_put(char *out, size_t cap, size_t *at, uint32_t c)
{
    char u[4];
    size_t n, i;

    if (c < 0x80) {
        u[0] = (char)c;
        n = 1;
    } else if (c < 0x800) {
        u[0] = (char)(0xc0 | c >> 6);
        u[1] = (char)(0x80 | (c & 0x3f));
        n = 2;
    } else if (c < 0x10000) {
        u[0] = (char)(0xe0 | c >> 12);
        u[1] = (char)(0x80 | (c >> 6 & 0x3f));
        u[2] = (char)(0x80 | (c & 0x3f));
        n = 3;
    } else {
        u[0] = (char)(0xf0 | (c >> 18 & 0x07));
        u[1] = (char)(0x80 | (c >> 12 & 0x3f));
        u[2] = (char)(0x80 | (c >> 6 & 0x3f));
        u[3] = (char)(0x80 | (c & 0x3f));
        n = 4;
    }
    if (*at + n >= cap)
        return;
    for (i = 0; i < n; i++)
        out[(*at)++] = u[i];
}

/* A str object as UTF-8 into out; -1 if it is not a compact str. */
static int read_str(struct memreader *mr, const struct layout *t, uintptr_t obj, char *out,
                    size_t cap)
{
    unsigned char raw[512];
    uint32_t state;
    int64_t length;
    size_t kind, n, i, at = 0;

    out[0] = '\0';
    if (!py_is_a(mr, obj, t->str_type) ||
        py_rd(mr, obj + t->str_length, &length, sizeof(length)) < 0 ||
        py_rd(mr, obj + t->str_state, &state, sizeof(state)) < 0 || length < 0)
        return -1;
    kind = state >> 2 & 7;
    if (!(state >> 5 & 1) || (kind != 1 && kind != 2 && kind != 4) || length > MAX_STR)
        return -1; /* not compact (names never are), or too long to be a name or a path */
    n = (size_t)length < sizeof(raw) / kind ? (size_t)length : sizeof(raw) / kind;
    if (py_rd(mr, obj + ((state >> 6 & 1) ? t->str_ascii_data : t->str_data), raw, n * kind) < 0)
        return -1;
    for (i = 0; i < n; i++) {
        uint32_t c = kind == 1 ? raw[i]
                     : kind == 2
                         ? (uint32_t)raw[2 * i] | (uint32_t)raw[2 * i + 1] << 8
                         : (uint32_t)raw[4 * i] | (uint32_t)raw[4 * i + 1] << 8 |
                               (uint32_t)raw[4 * i + 2] << 16 | (uint32_t)raw[4 * i + 3] << 24;
        if (!c)
            return -1; /* names and paths hold no NUL: this is not one */
        utf8_put(out, cap, &at, c > 0x10ffff ? 0xfffd : c);
    }
    out[at] = '\0';
    return 0;
}

/* ---- line numbers: 3.11's location table (Objects/locations.md) ---- */

struct cursor {
    const unsigned char *p, *end;
};

static unsigned varint(struct cursor *c)
{
    unsigned v = 0, shift = 0;
    unsigned char b;

    do {
        if (c->p >= c->end || shift > 28)
            return v;
        b = *c->p++;
        v |= (unsigned)(b & 63) << shift;
        shift += 6;
    } while (b & 64);
    return v;
}

static int signed_varint(struct cursor *c)
{
    unsigned v = varint(c);

    return (v & 1) ? -(int)(v >> 1) : (int)(v >> 1);
}

/* The line of the instruction at byte offset `addr`; -1 if none. */
static int line_of(const unsigned char *table, size_t len, int first_line, long addr)
{
    struct cursor c = {table, table + len};
    long start = 0;
    int line = first_line;

    if (addr < 0)
        return first_line;
    while (c.p < c.end) {
        unsigned char b = *c.p++;
        int code = b >> 3 & 15, here;
        long end = start + ((b & 7) + 1) * 2;

        if (!(b & 128))
            return -1; /* not at an entry's first byte: the table is not what we think */
        if (code == 14 || code == 13) { /* long form; no columns */
            line += signed_varint(&c);
            if (code == 14) {
                varint(&c);
                varint(&c);
                varint(&c);
            }
        } else if (code >= 10 && code <= 12) { /* one line, 0 to 2 on */
            line += code - 10;
            c.p += 2;
        } else if (code != 15) { /* the same line, a short column form */
            c.p += 1;
        }
        here = code == 15 ? -1 : line;
        if (addr < end)
            return here;
        start = end;
    }
    return -1;
}

static int read_line(struct memreader *mr, const struct layout *t, uintptr_t code,
                     uintptr_t prev_instr)
{
    uintptr_t table = py_rd_ptr(mr, code + t->co_linetable);
    int first = 0, line = -1;
    int64_t size;
    unsigned char *bytes;

    if (py_rd(mr, code + t->co_firstlineno, &first, sizeof(first)) < 0)
        return -1;
    if (!py_is_a(mr, table, t->bytes_type) ||
        py_rd(mr, table + t->bytes_size, &size, sizeof(size)) < 0 || size <= 0 ||
        size > MAX_LINETABLE)
        return -1;
    bytes = malloc((size_t)size);
    if (bytes && py_rd(mr, table + t->bytes_data, bytes, (size_t)size) == 0)
        line = line_of(bytes, (size_t)size, first, (long)(prev_instr - (code + t->co_code)));
    free(bytes);
    return line;
}

/* ---- frames and threads ---- */

#define FRAME_READ    1
#define FRAME_SKIPPED 0
#define FRAME_ENTRY   2 /* 3.12+: where a call of the evaluation loop began */
#define FRAME_BAD     (-1)
#define FRAME_FOREIGN (-2) /* another greenlet's: where this one began */
#define FRAME_MAX     128  /* bytes of a frame read: more than any version's fields */

static uintptr_t field(const unsigned char *f, size_t at)
{
    uintptr_t v;

    memcpy(&v, f + at, sizeof(v));
    return v;
}

/* Is a frame the thread owns on one of its own chunks? Yes if they are
   not known. */
static int pushed_on(const struct py_chunks *own, uintptr_t frame)
{
    size_t i;

    if (!own || !own->n)
        return 1;
    for (i = 0; i < own->n; i++)
        if (frame >= own->lo[i] && frame < own->hi[i])
            return 1;
    return 0;
}

/* One frame into out. */
static int read_frame(struct memreader *mr, const struct layout *t, uintptr_t frame,
                      const struct py_chunks *own, struct py_frame *out)
{
    unsigned char f[FRAME_MAX];
    uintptr_t code, instr;
    int first_traceable = 0;

    if (t->fr_size > sizeof(f) || py_rd(mr, frame, f, t->fr_size) < 0)
        return FRAME_BAD;
    if (t->owner_cstack >= 0 && f[t->fr_owner] == t->owner_cstack)
        return FRAME_ENTRY;
    if (f[t->fr_owner] == OWNED_BY_THREAD && !pushed_on(own, frame))
        return FRAME_FOREIGN;
    code = field(f, t->fr_code);
    instr = field(f, t->fr_instr);
    if (!py_is_a(mr, code, t->code_type))
        return FRAME_BAD;
    /* Pushed, but its first instruction not run (CPython skips these too). */
    if (t->co_firsttraceable >= 0 && f[t->fr_owner] != OWNED_BY_GENERATOR &&
        py_rd(mr, code + (uintptr_t)t->co_firsttraceable, &first_traceable,
              sizeof(first_traceable)) == 0 &&
        instr < code + t->co_code + (uintptr_t)first_traceable * 2)
        return FRAME_SKIPPED;
    if (read_str(mr, t, py_rd_ptr(mr, code + t->co_qualname), out->function,
                 sizeof(out->function)) < 0 &&
        read_str(mr, t, py_rd_ptr(mr, code + t->co_name), out->function, sizeof(out->function)) < 0)
        snprintf(out->function, sizeof(out->function), "?");
    if (read_str(mr, t, py_rd_ptr(mr, code + t->co_filename), out->file, sizeof(out->file)) < 0)
        snprintf(out->file, sizeof(out->file), "?");
    out->line = read_line(mr, t, code, instr);
    out->entry = t->fr_is_entry >= 0 && f[t->fr_is_entry] != 0;
    return FRAME_READ;
}

/* The nodes of a linked list walked so far: one seen again means the
   list loops (nothing of it is shown twice). Bounded by the walks' own
   limits. */
struct seen {
    uintptr_t *at;
    size_t n, cap;
};

/* 1 if node was seen before, or there is no room to remember it. */
static int seen_before(struct seen *s, uintptr_t node)
{
    size_t i;

    for (i = 0; i < s->n; i++)
        if (s->at[i] == node)
            return 1;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        uintptr_t *grown = realloc(s->at, cap * sizeof(*grown));

        if (!grown)
            return 1;
        s->at = grown;
        s->cap = cap;
    }
    s->at[s->n++] = node;
    return 0;
}

static struct py_frame *frame_room(struct py_thread *out, size_t *cap)
{
    struct py_frame *grown;

    if (out->n < *cap)
        return &out->frames[out->n];
    *cap = *cap ? *cap * 2 : 16;
    grown = realloc(out->frames, *cap * sizeof(*grown));
    if (!grown)
        return NULL;
    out->frames = grown;
    return &out->frames[out->n];
}

#define MAX_CHUNK (1UL << 30)

void py_chunks_read(struct memreader *mr, uintptr_t chunk, struct py_chunks *out)
{
    uintptr_t head[2]; /* _PyStackChunk.previous, .size */

    out->n = 0;
    for (; chunk; chunk = head[0]) {
        if (out->n == PY_MAX_CHUNKS || py_rd(mr, chunk, head, sizeof(head)) < 0 ||
            head[1] > MAX_CHUNK || chunk > UINTPTR_MAX - head[1]) {
            out->n = 0; /* not all known: cut nothing */
            return;
        }
        out->lo[out->n] = chunk;
        out->hi[out->n++] = chunk + head[1];
    }
}

int py_walk(struct memreader *mr, const struct layout *t, uintptr_t frame,
            const struct py_chunks *own, struct py_thread *out)
{
    struct seen walked = {NULL, 0, 0};
    size_t cap = 0;
    int foreign = 0;

    for (; frame; frame = py_rd_ptr(mr, frame + t->fr_previous)) {
        struct py_frame *room;
        int got;

        if (walked.n == MAX_FRAMES) {
            out->note = "its Python stack is deeper than 1024 frames; the rest are not shown";
            break;
        }
        if (seen_before(&walked, frame)) {
            out->note = "its Python frames loop back on themselves; the rest are not shown";
            break;
        }
        room = frame_room(out, &cap);
        if (!room) {
            out->note = "no memory for the rest of its Python frames";
            break;
        }
        got = read_frame(mr, t, frame, own, room);
        if (got == FRAME_ENTRY) {
            if (out->n)
                out->frames[out->n - 1].entry = 1;
            continue;
        }
        if (got == FRAME_FOREIGN) {
            foreign = 1; /* the caller says why, if it is worth saying */
            break;
        }
        if (got == FRAME_BAD) {
            out->note = "its Python frames could not be read past here (the thread ran on, "
                        "or the memory is not a frame)";
            break;
        }
        out->n += (size_t)got;
    }
    free(walked.at);
    return foreign;
}

static void read_thread(struct memreader *mr, const struct layout *t, uintptr_t tstate,
                        uintptr_t holder, int greenlet, struct py_thread *out)
{
    uintptr_t holds = t->ts_cframe ? py_rd_ptr(mr, tstate + t->ts_cframe) : tstate;
    uintptr_t frame = holds ? py_rd_ptr(mr, holds + t->ts_current_frame) : 0;
    struct py_chunks own;
    unsigned long native = 0;

    py_rd(mr, tstate + t->ts_native_id, &native, sizeof(native));
    out->tid = (pid_t)native;
    out->holds_gil = tstate == holder;
    own.n = 0;
    if (greenlet && t->ts_datastack_chunk)
        py_chunks_read(mr, py_rd_ptr(mr, tstate + t->ts_datastack_chunk), &own);
    if (py_walk(mr, t, frame, &own, out))
        out->note = "its Python frames are its running greenlet's; the greenlets it switched "
                    "from are listed under Green Threads";
}

static int add_thread(struct py_stacks *st, size_t *cap)
{
    struct py_thread *grown;

    if (st->n < *cap)
        return 0;
    *cap = *cap ? *cap * 2 : 16;
    grown = realloc(st->threads, *cap * sizeof(*grown));
    if (!grown)
        return -1;
    st->threads = grown;
    return 0;
}

static uintptr_t own_gil_holder(struct memreader *mr, const struct layout *t, uintptr_t interp)
{
    int locked = 0;

    if (py_rd(mr, interp + t->is_gil_locked, &locked, sizeof(locked)) < 0 || !locked)
        return 0;
    return py_rd_ptr(mr, interp + t->is_gil_holder);
}

static void read_threads(struct memreader *mr, const struct maps *maps, const struct layout *t,
                         uintptr_t runtime, struct py_stacks *st)
{
    uintptr_t interp = py_rd_ptr(mr, runtime + t->rt_interp_head);
    uintptr_t holder = t->rt_tstate_now ? py_rd_ptr(mr, runtime + t->rt_tstate_now) : 0;
    struct seen interps = {NULL, 0, 0}, tstates = {NULL, 0, 0};
    size_t cap = 0;

    if (!interp)
        st->note = "it has no interpreter (not started yet, or finalized)";
    for (; interp && !st->note; interp = py_rd_ptr(mr, interp + t->is_next)) {
        uintptr_t tstate, head;

        if (interps.n == MAX_INTERPRETERS || seen_before(&interps, interp)) {
            st->note = "its list of interpreters loops or is too long; the rest are not read";
            break;
        }
        if (py_rd(mr, interp + t->is_threads_head, &head, sizeof(head)) < 0) {
            st->note = "an interpreter's state could not be read";
            break;
        }
        if (t->is_gil_locked) /* 3.13: the interpreter's own GIL; locked, its last holder */
            holder = own_gil_holder(mr, t, interp);
        for (tstate = head; tstate && !st->note; tstate = py_rd_ptr(mr, tstate + t->ts_next)) {
            if (tstates.n == MAX_THREADS || seen_before(&tstates, tstate))
                st->note = "a list of thread states loops or is too long; the rest are not read";
            else if (add_thread(st, &cap) < 0)
                st->note = "no memory for the rest of the Python threads";
            else {
                memset(&st->threads[st->n], 0, sizeof(st->threads[0]));
                read_thread(mr, t, tstate, holder, st->greenlet, &st->threads[st->n++]);
            }
        }
        if (st->greenlet)
            greenlets_read(mr, maps, t, interp, st);
    }
    free(interps.at);
    free(tstates.at);
}

/* The image of the interpreter among the mappings, with its symbols. */
static int find_interpreter(struct memreader *mr, const struct maps *maps, struct elf_dynsym *img,
                            uintptr_t *runtime)
{
    size_t i;

    for (i = 0; i < maps->n; i++) {
        const struct mapping *m = &maps->m[i];

        if (m->offset || !m->inode || !interpreter_file(m->path) ||
            elf_dynsym_open(mr, m->start, img))
            continue;
        *runtime = elf_dynsym_lookup(img, "_PyRuntime");
        if (*runtime)
            return 0;
    }
    return -1;
}

static void find_stale(struct py_stacks *st)
{
    char path[64];
    size_t i;

    for (i = 0; i < st->n; i++) {
        struct py_thread *t = &st->threads[i];

        snprintf(path, sizeof(path), "/proc/self/task/%d", (int)t->tid);
        t->stale = access(path, F_OK) != 0;
        if (t->stale)
            snprintf(t->stale_note, sizeof(t->stale_note),
                     "its Python thread state names thread %d, which is not one of this "
                     "process's (the thread that forked it, in the parent)",
                     (int)t->tid);
    }
}

/*
 * CPython 3.13's _Py_DebugOffsets (Include/internal/pycore_runtime.h), at
 * the start of _PyRuntime: a cookie, the version, then the offsets, as
 * 64-bit words in this order. Another version's table is laid out
 * otherwise: only 3.13's is read, and only if every offset lies inside the
 * size the table gives for its structure.
 */
enum {
    D_VERSION = 0,
    D_FREE_THREADED = 1,
    D_RT_SIZE = 2,
    D_RT_INTERP_HEAD = 4,
    D_IS_SIZE = 5,
    D_IS_NEXT = 7,
    D_IS_THREADS_HEAD = 8,
    D_IS_GIL_LOCKED = 16,
    D_IS_GIL_HOLDER = 17,
    D_TS_SIZE = 18,
    D_TS_NEXT = 20,
    D_TS_CURRENT_FRAME = 22,
    D_TS_NATIVE_ID = 24,
    D_FR_SIZE = 27,
    D_FR_PREVIOUS = 28,
    D_FR_EXECUTABLE = 29,
    D_FR_INSTR = 30,
    D_FR_OWNER = 32,
    D_CO_SIZE = 33,
    D_CO_FILENAME = 34,
    D_CO_NAME = 35,
    D_CO_QUALNAME = 36,
    D_CO_LINETABLE = 37,
    D_CO_FIRSTLINENO = 38,
    D_CO_CODE = 42,
    D_BYTES_SIZE = 63,
    D_BYTES_OB_SIZE = 64,
    D_BYTES_SVAL = 65,
    D_STR_SIZE = 66,
    D_STR_STATE = 67,
    D_STR_LENGTH = 68,
    D_STR_ASCII_SIZE = 69,
    D_WORDS = 72
};

#define DEBUG_COOKIE    "xdebugpy"
#define OWNED_BY_CSTACK 3
#define MAX_STRUCT      (1 << 20)

static int inside(const uint64_t *d, int size, int at, size_t width)
{
    return d[size] > 0 && d[size] < MAX_STRUCT && d[at] + width <= d[size];
}

static int debug_offsets(struct memreader *mr, uintptr_t runtime, struct layout *l)
{
    char cookie[8];
    uint64_t d[D_WORDS];

    if (py_rd(mr, runtime, cookie, sizeof(cookie)) < 0 || memcmp(cookie, DEBUG_COOKIE, 8) ||
        py_rd(mr, runtime + 8, d, sizeof(d)) < 0 || (d[D_VERSION] >> 16) != 0x030d ||
        d[D_FREE_THREADED])
        return -1;
    if (!inside(d, D_RT_SIZE, D_RT_INTERP_HEAD, 8) || !inside(d, D_IS_SIZE, D_IS_NEXT, 8) ||
        !inside(d, D_IS_SIZE, D_IS_THREADS_HEAD, 8) || !inside(d, D_IS_SIZE, D_IS_GIL_LOCKED, 4) ||
        !inside(d, D_IS_SIZE, D_IS_GIL_HOLDER, 8) || !inside(d, D_TS_SIZE, D_TS_NEXT, 8) ||
        !inside(d, D_TS_SIZE, D_TS_CURRENT_FRAME, 8) || !inside(d, D_TS_SIZE, D_TS_NATIVE_ID, 8) ||
        d[D_FR_SIZE] > FRAME_MAX || !inside(d, D_FR_SIZE, D_FR_PREVIOUS, 8) ||
        !inside(d, D_FR_SIZE, D_FR_EXECUTABLE, 8) || !inside(d, D_FR_SIZE, D_FR_INSTR, 8) ||
        !inside(d, D_FR_SIZE, D_FR_OWNER, 1) || !inside(d, D_CO_SIZE, D_CO_FILENAME, 8) ||
        !inside(d, D_CO_SIZE, D_CO_NAME, 8) || !inside(d, D_CO_SIZE, D_CO_QUALNAME, 8) ||
        !inside(d, D_CO_SIZE, D_CO_LINETABLE, 8) || !inside(d, D_CO_SIZE, D_CO_FIRSTLINENO, 4) ||
        !inside(d, D_CO_SIZE, D_CO_CODE, 0) || !inside(d, D_BYTES_SIZE, D_BYTES_OB_SIZE, 8) ||
        !inside(d, D_BYTES_SIZE, D_BYTES_SVAL, 0) || !inside(d, D_STR_SIZE, D_STR_STATE, 4) ||
        !inside(d, D_STR_SIZE, D_STR_LENGTH, 8) || d[D_STR_ASCII_SIZE] > d[D_STR_SIZE])
        return -1;
    memset(l, 0, sizeof(*l)); /* no cframe, no tstate_current: 3.11's alone */
    l->rt_interp_head = d[D_RT_INTERP_HEAD];
    l->is_next = d[D_IS_NEXT];
    l->is_threads_head = d[D_IS_THREADS_HEAD];
    l->is_gil_locked = d[D_IS_GIL_LOCKED];
    l->is_gil_holder = d[D_IS_GIL_HOLDER];
    l->ts_next = d[D_TS_NEXT];
    l->ts_current_frame = d[D_TS_CURRENT_FRAME];
    l->ts_native_id = d[D_TS_NATIVE_ID];
    l->fr_size = d[D_FR_SIZE];
    l->fr_previous = d[D_FR_PREVIOUS];
    l->fr_code = d[D_FR_EXECUTABLE];
    l->fr_instr = d[D_FR_INSTR];
    l->fr_owner = d[D_FR_OWNER];
    l->fr_is_entry = -1;
    l->owner_cstack = OWNED_BY_CSTACK;
    l->co_filename = d[D_CO_FILENAME];
    l->co_name = d[D_CO_NAME];
    l->co_qualname = d[D_CO_QUALNAME];
    l->co_linetable = d[D_CO_LINETABLE];
    l->co_firstlineno = d[D_CO_FIRSTLINENO];
    l->co_code = d[D_CO_CODE];
    l->co_firsttraceable = -1;
    l->str_length = d[D_STR_LENGTH];
    l->str_state = d[D_STR_STATE];
    l->str_ascii_data = d[D_STR_ASCII_SIZE];
    l->str_data = d[D_STR_ASCII_SIZE] + 16; /* PyCompactUnicodeObject: + utf8_length, utf8 */
    l->bytes_size = d[D_BYTES_OB_SIZE];
    l->bytes_data = d[D_BYTES_SVAL];
    return 0;
}

/* The layout for this interpreter's version, or NULL with out->problem. */
static int pick_layout(struct memreader *mr, uintptr_t runtime, uint32_t v, struct layout *l,
                       struct py_stacks *out)
{
    if ((v >> 16) == 0x030b) {
        *l = cpython311;
        return 0;
    }
    if ((v >> 16) == 0x030d && debug_offsets(mr, runtime, l) == 0)
        return 0;
    out->problem = (v >> 16) == 0x030d
                       ? "its _Py_DebugOffsets table is not one libgmr can read (a free-threaded "
                         "build, or damaged); no Python frames"
                       : "libgmr reads the frames of CPython 3.11 and 3.13 only";
    return -1;
}

static int read_all(struct memreader *mr, const struct maps *maps, struct py_stacks *out)
{
    struct elf_dynsym img;
    struct layout t;
    uintptr_t runtime = 0, version_at;
    uint32_t v = 0;

    if (find_interpreter(mr, maps, &img, &runtime) < 0)
        return 0;
    out->found = 1;
    out->greenlet = greenlet_module(maps) != NULL;
    version_at = elf_dynsym_lookup(&img, "Py_Version");
    if (!version_at || py_rd(mr, version_at, &v, sizeof(v)) < 0) {
        out->problem = "this CPython is older than 3.11 (it has no Py_Version); libgmr reads "
                       "the frames of 3.11 and 3.13 only";
        return 0;
    }
    snprintf(out->version, sizeof(out->version), "%u.%u.%u", v >> 24, v >> 16 & 0xff,
             v >> 8 & 0xff);
    if (pick_layout(mr, runtime, v, &t, out) < 0)
        return 0;
    t.code_type = elf_dynsym_lookup(&img, "PyCode_Type");
    t.str_type = elf_dynsym_lookup(&img, "PyUnicode_Type");
    t.bytes_type = elf_dynsym_lookup(&img, "PyBytes_Type");
    t.frame_type = elf_dynsym_lookup(&img, "PyFrame_Type");
    if (!t.code_type || !t.str_type || !t.bytes_type) {
        out->problem = "the interpreter does not export its type objects; its frames cannot "
                       "be checked, so none are shown";
        return 0;
    }
    read_threads(mr, maps, &t, runtime, out);
    find_stale(out);
    return 0;
}

int python_read(struct memreader *mr, const struct maps *maps, struct py_stacks *out)
{
    long long start = ll_now_us();
    int ret;

    memset(out, 0, sizeof(*out));
    ret = read_all(mr, maps, out);
    out->read_us = ll_now_us() - start;
    return ret;
}

void python_free(struct py_stacks *st)
{
    size_t i;

    for (i = 0; i < st->n; i++)
        free(st->threads[i].frames);
    free(st->threads);
    for (i = 0; i < st->n_greenlets; i++)
        free(st->greenlets[i].frames);
    free(st->greenlets);
    memset(st, 0, sizeof(*st));
}

const struct py_thread *python_thread(const struct py_stacks *st, pid_t tid)
{
    const struct py_thread *stale = NULL;
    size_t i, n_stale = 0;

    for (i = 0; st && i < st->n; i++) {
        if (st->threads[i].tid == tid && !st->threads[i].stale)
            return &st->threads[i];
        if (st->threads[i].stale) {
            stale = &st->threads[i];
            n_stale++;
        }
    }
    /* After fork CPython keeps the forking thread's state only: one. */
    return tid == getpid() && n_stale == 1 && st->n == 1 ? stale : NULL;
}

int python_is_eval_frame(const char *function)
{
    return function && !strcmp(function, "_PyEval_EvalFrameDefault");
}
