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
 * what it should be ends the walk with a note.
 */
#include "python.h"

#include "lowlevel.h"

#include <elf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* CPython 3.11, x86_64 */
#define RT_INTERP_HEAD  40  /* _PyRuntimeState.interpreters.head */
#define RT_TSTATE_NOW   576 /* .gilstate.tstate_current: who holds the GIL, or NULL */
#define IS_NEXT         0   /* PyInterpreterState.next */
#define IS_THREADS_HEAD 16  /* .threads.head */
#define TS_NEXT         8   /* PyThreadState.next */
#define TS_CFRAME       56  /* .cframe */
#define TS_NATIVE_ID    160 /* .native_thread_id */
#define CF_CURRENT      8   /* _PyCFrame.current_frame */
#define FR_CODE         32  /* _PyInterpreterFrame.f_code */
#define FR_PREVIOUS     48  /* .previous */
#define FR_PREV_INSTR   56  /* .prev_instr */
#define FR_IS_ENTRY     68  /* .is_entry */
#define FR_OWNER        69  /* .owner */
#define FR_SIZE         70
#define OB_TYPE         8  /* PyObject.ob_type */
#define OB_SIZE         16 /* PyVarObject.ob_size, PyASCIIObject.length */
#define CO_FIRSTLINENO  72
#define CO_FILENAME     112
#define CO_NAME         120
#define CO_QUALNAME     128
#define CO_LINETABLE    136
#define CO_FIRSTTRACE   168 /* _co_firsttraceable */
#define CO_CODE         184 /* co_code_adaptive */
#define CO_SIZE         192
#define STR_STATE       32 /* PyASCIIObject.state */
#define STR_ASCII_DATA  48 /* sizeof(PyASCIIObject) */
#define STR_DATA        72 /* sizeof(PyCompactUnicodeObject) */
#define BYTES_DATA      32 /* PyBytesObject.ob_sval */

#define OWNED_BY_GENERATOR 1

#define MAX_INTERPRETERS 64
#define MAX_THREADS      4096
#define MAX_FRAMES       1024
#define MAX_LINETABLE    (1 << 20)
#define MAX_STR          65536
#define MAX_HASH_STEPS   (1 << 20)

struct image {
    struct memreader *mr;
    uintptr_t bias;
    uintptr_t symtab, strtab, gnu_hash;
};

struct types {
    uintptr_t code, unicode, bytes;
};

static int rd(struct memreader *mr, uintptr_t addr, void *out, size_t len)
{
    return addr ? memreader_read(mr, addr, out, len) : -1;
}

static uintptr_t rd_ptr(struct memreader *mr, uintptr_t addr)
{
    uintptr_t v = 0;

    return rd(mr, addr, &v, sizeof(v)) == 0 ? v : 0;
}

/* ---- the interpreter image's dynamic symbols ---- */

static uint32_t gnu_hash(const char *s)
{
    uint32_t h = 5381;

    while (*s)
        h = h * 33 + (unsigned char)*s++;
    return h;
}

/* A dynamic entry's address: ld.so has relocated most in place; one that
   is not is relative to the image. */
static uintptr_t dyn_addr(const struct image *img, uint64_t v)
{
    return v && v < img->bias ? img->bias + v : (uintptr_t)v;
}

static int image_open(struct memreader *mr, uintptr_t base, struct image *img)
{
    Elf64_Ehdr eh;
    Elf64_Phdr ph;
    uintptr_t dynamic = 0, lowest = UINTPTR_MAX;
    Elf64_Dyn d;
    int i;

    memset(img, 0, sizeof(*img));
    img->mr = mr;
    if (rd(mr, base, &eh, sizeof(eh)) < 0 || memcmp(eh.e_ident, ELFMAG, SELFMAG) ||
        eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_phentsize != sizeof(ph) || eh.e_phnum > 256)
        return -1;
    for (i = 0; i < eh.e_phnum; i++) {
        if (rd(mr, base + eh.e_phoff + (uintptr_t)i * sizeof(ph), &ph, sizeof(ph)) < 0)
            return -1;
        if (ph.p_type == PT_LOAD && ph.p_vaddr < lowest)
            lowest = ph.p_vaddr & ~(uintptr_t)0xfff;
        if (ph.p_type == PT_DYNAMIC)
            dynamic = ph.p_vaddr;
    }
    if (!dynamic || lowest == UINTPTR_MAX || lowest > base)
        return -1;
    img->bias = base - lowest;
    for (i = 0; i < 512; i++) {
        if (rd(mr, img->bias + dynamic + (uintptr_t)i * sizeof(d), &d, sizeof(d)) < 0 ||
            d.d_tag == DT_NULL)
            break;
        if (d.d_tag == DT_SYMTAB)
            img->symtab = dyn_addr(img, d.d_un.d_ptr);
        else if (d.d_tag == DT_STRTAB)
            img->strtab = dyn_addr(img, d.d_un.d_ptr);
        else if (d.d_tag == DT_GNU_HASH)
            img->gnu_hash = dyn_addr(img, d.d_un.d_ptr);
    }
    return img->symtab && img->strtab && img->gnu_hash ? 0 : -1;
}

/* The run-time address of a defined dynamic symbol, or 0. */
static uintptr_t image_symbol(const struct image *img, const char *name)
{
    uint32_t head[4], h = gnu_hash(name), sym, chain, steps;
    uintptr_t buckets, chains;
    size_t len = strlen(name);
    char found[64];
    Elf64_Sym s;

    if (len >= sizeof(found) || rd(img->mr, img->gnu_hash, head, sizeof(head)) < 0 || !head[0])
        return 0;
    buckets = img->gnu_hash + sizeof(head) + (uintptr_t)head[2] * 8;
    chains = buckets + (uintptr_t)head[0] * 4;
    if (rd(img->mr, buckets + (uintptr_t)(h % head[0]) * 4, &sym, sizeof(sym)) < 0 || sym < head[1])
        return 0;
    for (steps = 0; steps < MAX_HASH_STEPS; steps++, sym++) {
        if (rd(img->mr, chains + (uintptr_t)(sym - head[1]) * 4, &chain, sizeof(chain)) < 0)
            return 0;
        if ((chain | 1) == (h | 1) &&
            rd(img->mr, img->symtab + (uintptr_t)sym * sizeof(s), &s, sizeof(s)) == 0 &&
            s.st_shndx != SHN_UNDEF && rd(img->mr, img->strtab + s.st_name, found, len + 1) == 0 &&
            !memcmp(found, name, len + 1))
            return s.st_value ? img->bias + s.st_value : 0;
        if (chain & 1)
            return 0;
    }
    return 0;
}

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

static int is_a(struct memreader *mr, uintptr_t obj, uintptr_t type)
{
    return obj && type && rd_ptr(mr, obj + OB_TYPE) == type;
}

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
static int read_str(struct memreader *mr, const struct types *t, uintptr_t obj, char *out,
                    size_t cap)
{
    unsigned char raw[512];
    uint32_t state;
    int64_t length;
    size_t kind, n, i, at = 0;

    out[0] = '\0';
    if (!is_a(mr, obj, t->unicode) || rd(mr, obj + OB_SIZE, &length, sizeof(length)) < 0 ||
        rd(mr, obj + STR_STATE, &state, sizeof(state)) < 0 || length < 0)
        return -1;
    kind = state >> 2 & 7;
    if (!(state >> 5 & 1) || (kind != 1 && kind != 2 && kind != 4) || length > MAX_STR)
        return -1; /* not compact (names never are), or too long to be a name or a path */
    n = (size_t)length < sizeof(raw) / kind ? (size_t)length : sizeof(raw) / kind;
    if (rd(mr, obj + ((state >> 6 & 1) ? STR_ASCII_DATA : STR_DATA), raw, n * kind) < 0)
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

static int read_line(struct memreader *mr, const struct types *t, uintptr_t code,
                     uintptr_t prev_instr)
{
    uintptr_t table = rd_ptr(mr, code + CO_LINETABLE);
    int first = 0, line = -1;
    int64_t size;
    unsigned char *bytes;

    if (rd(mr, code + CO_FIRSTLINENO, &first, sizeof(first)) < 0)
        return -1;
    if (!is_a(mr, table, t->bytes) || rd(mr, table + OB_SIZE, &size, sizeof(size)) < 0 ||
        size <= 0 || size > MAX_LINETABLE)
        return -1;
    bytes = malloc((size_t)size);
    if (bytes && rd(mr, table + BYTES_DATA, bytes, (size_t)size) == 0)
        line = line_of(bytes, (size_t)size, first, (long)(prev_instr - (code + CO_CODE)));
    free(bytes);
    return line;
}

/* ---- frames and threads ---- */

/* One frame. 1: read; 0: not begun yet (skip it); -1: not a frame. */
static int read_frame(struct memreader *mr, const struct types *t, uintptr_t frame,
                      struct py_frame *out)
{
    unsigned char f[FR_SIZE];
    uintptr_t code, prev_instr;
    int first_traceable = 0;

    if (rd(mr, frame, f, sizeof(f)) < 0)
        return -1;
    memcpy(&code, f + FR_CODE, sizeof(code));
    memcpy(&prev_instr, f + FR_PREV_INSTR, sizeof(prev_instr));
    if (!is_a(mr, code, t->code) ||
        rd(mr, code + CO_FIRSTTRACE, &first_traceable, sizeof(first_traceable)) < 0)
        return -1;
    /* Pushed, but its first instruction not run (CPython skips these too). */
    if (f[FR_OWNER] != OWNED_BY_GENERATOR &&
        prev_instr < code + CO_CODE + (uintptr_t)first_traceable * 2)
        return 0;
    if (read_str(mr, t, rd_ptr(mr, code + CO_QUALNAME), out->function, sizeof(out->function)) < 0 &&
        read_str(mr, t, rd_ptr(mr, code + CO_NAME), out->function, sizeof(out->function)) < 0)
        snprintf(out->function, sizeof(out->function), "?");
    if (read_str(mr, t, rd_ptr(mr, code + CO_FILENAME), out->file, sizeof(out->file)) < 0)
        snprintf(out->file, sizeof(out->file), "?");
    out->line = read_line(mr, t, code, prev_instr);
    out->entry = f[FR_IS_ENTRY] != 0;
    return 1;
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

static void read_thread(struct memreader *mr, const struct types *t, uintptr_t tstate,
                        uintptr_t holder, struct py_thread *out)
{
    uintptr_t cframe = rd_ptr(mr, tstate + TS_CFRAME), frame;
    struct seen walked = {NULL, 0, 0};
    unsigned long native = 0;
    size_t cap = 0;

    rd(mr, tstate + TS_NATIVE_ID, &native, sizeof(native));
    out->tid = (pid_t)native;
    out->holds_gil = tstate == holder;
    for (frame = cframe ? rd_ptr(mr, cframe + CF_CURRENT) : 0; frame;
         frame = rd_ptr(mr, frame + FR_PREVIOUS)) {
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
        got = read_frame(mr, t, frame, room);
        if (got < 0) {
            out->note = "its Python frames could not be read past here (the thread ran on, "
                        "or the memory is not a frame)";
            break;
        }
        out->n += (size_t)got;
    }
    free(walked.at);
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

static void read_threads(struct memreader *mr, const struct types *t, uintptr_t runtime,
                         struct py_stacks *st)
{
    uintptr_t interp = rd_ptr(mr, runtime + RT_INTERP_HEAD);
    uintptr_t holder = rd_ptr(mr, runtime + RT_TSTATE_NOW);
    struct seen interps = {NULL, 0, 0}, tstates = {NULL, 0, 0};
    size_t cap = 0;

    if (!interp)
        st->note = "it has no interpreter (not started yet, or finalized)";
    for (; interp && !st->note; interp = rd_ptr(mr, interp + IS_NEXT)) {
        uintptr_t tstate, head;

        if (interps.n == MAX_INTERPRETERS || seen_before(&interps, interp)) {
            st->note = "its list of interpreters loops or is too long; the rest are not read";
            break;
        }
        if (rd(mr, interp + IS_THREADS_HEAD, &head, sizeof(head)) < 0) {
            st->note = "an interpreter's state could not be read";
            break;
        }
        for (tstate = head; tstate && !st->note; tstate = rd_ptr(mr, tstate + TS_NEXT)) {
            if (tstates.n == MAX_THREADS || seen_before(&tstates, tstate))
                st->note = "a list of thread states loops or is too long; the rest are not read";
            else if (add_thread(st, &cap) < 0)
                st->note = "no memory for the rest of the Python threads";
            else {
                memset(&st->threads[st->n], 0, sizeof(st->threads[0]));
                read_thread(mr, t, tstate, holder, &st->threads[st->n++]);
            }
        }
    }
    free(interps.at);
    free(tstates.at);
}

/* The image of the interpreter among the mappings, with its symbols. */
static int find_interpreter(struct memreader *mr, const struct maps *maps, struct image *img,
                            uintptr_t *runtime)
{
    size_t i;

    for (i = 0; i < maps->n; i++) {
        const struct mapping *m = &maps->m[i];

        if (m->offset || !m->inode || !interpreter_file(m->path) || image_open(mr, m->start, img))
            continue;
        *runtime = image_symbol(img, "_PyRuntime");
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

static int greenlet_loaded(const struct maps *maps)
{
    size_t i;

    for (i = 0; i < maps->n; i++)
        if (!strncmp(base_name(maps->m[i].path), "_greenlet.", 10))
            return 1;
    return 0;
}

static int read_all(struct memreader *mr, const struct maps *maps, struct py_stacks *out)
{
    struct image img;
    struct types t;
    uintptr_t runtime = 0, version_at;
    uint32_t v = 0;

    if (find_interpreter(mr, maps, &img, &runtime) < 0)
        return 0;
    out->found = 1;
    out->greenlet = greenlet_loaded(maps);
    version_at = image_symbol(&img, "Py_Version");
    if (!version_at || rd(mr, version_at, &v, sizeof(v)) < 0) {
        out->problem = "this CPython is older than 3.11 (it has no Py_Version); libgmr reads "
                       "the frames of 3.11 only";
        return 0;
    }
    snprintf(out->version, sizeof(out->version), "%u.%u.%u", v >> 24, v >> 16 & 0xff,
             v >> 8 & 0xff);
    if ((v >> 16) != 0x030b) {
        out->problem = "libgmr reads the frames of CPython 3.11 only";
        return 0;
    }
    t.code = image_symbol(&img, "PyCode_Type");
    t.unicode = image_symbol(&img, "PyUnicode_Type");
    t.bytes = image_symbol(&img, "PyBytes_Type");
    if (!t.code || !t.unicode || !t.bytes) {
        out->problem = "the interpreter does not export its type objects; its frames cannot "
                       "be checked, so none are shown";
        return 0;
    }
    read_threads(mr, &t, runtime, out);
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
