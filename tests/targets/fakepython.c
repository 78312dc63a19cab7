/*
 * fakepython.c - a process that looks like CPython 3.11 to libgmr, with
 * the interpreter's structures made by hand, broken on purpose: libgmr
 * must read what is sound, say where it stopped, and never fault or run
 * away (tests/integration/test_python.py). Run as a copy named python3*:
 * libgmr looks for the interpreter's image by name.
 *
 *   fakepython MODE     prints "ready <pid>", then sleeps until killed
 *
 *   good        the main thread runs three Python frames, f0 (innermost),
 *               f1, f2, on lines 10, 20, 30 of fake.py
 *   loop        f0's caller is f1, and f1's is f0
 *   badcode     f1's code object is a str
 *   wild        the interpreter list starts at an unmapped address
 *   deep        3000 frames
 *   threadloop  the thread list comes back to its first thread
 *   version     Py_Version says 3.12.0
 *   huge        the location table and the names claim sizes of 2^40
 *
 *   fakepython MODE GREENLET_SO   the same, with greenlet's module loaded
 *                                 (build/targets/_greenlet.fake.so)
 *
 *   greenlets   on the collector's youngest list: a bytes object, a
 *               greenlet suspended in f0, f1, f2, and a greenlet of a
 *               subclass (FakeGreenThread) not started; the main thread
 *               pushed f0 and f1 on its own chunk, f2 is another's
 *   gcloop      that list loops back to its first object, not its head
 *   badgreenlet one greenlet's state does not point back at it, the
 *               other's top frame is a str
 *
 * The offsets are CPython 3.11's on x86_64, as src/symbols/python.c reads them,
 * and greenlet 2.0's, as src/symbols/greenlet.c does.
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default"), used))

EXPORT _Alignas(64) unsigned char _PyRuntime[1024];
EXPORT uint32_t Py_Version = 0x030b00f0;
EXPORT _Alignas(64) unsigned char PyCode_Type[512];
EXPORT _Alignas(64) unsigned char PyUnicode_Type[512];
EXPORT _Alignas(64) unsigned char PyBytes_Type[512];
EXPORT _Alignas(64) unsigned char PyFrame_Type[512];

static _Alignas(64) unsigned char interp[1024], tstate[512], cframe[64], subtype[512];
static unsigned char *chunk; /* the main thread's frames, in greenlet modes */

static void put(void *base, size_t at, uint64_t v)
{
    memcpy((unsigned char *)base + at, &v, sizeof(v));
}

static void put32(void *base, size_t at, uint32_t v)
{
    memcpy((unsigned char *)base + at, &v, sizeof(v));
}

static unsigned char *object(void *type, size_t size)
{
    unsigned char *o = calloc(1, size);

    if (!o)
        exit(1);
    put(o, 0, 1);               /* ob_refcnt */
    put(o, 8, (uintptr_t)type); /* ob_type */
    return o;
}

/* A compact ASCII str. */
static unsigned char *str(const char *s, uint64_t claimed)
{
    size_t n = strlen(s);
    unsigned char *o = object(PyUnicode_Type, 48 + n + 1);

    put(o, 16, claimed ? claimed : n);
    put32(o, 32, 1u << 2 | 1u << 5 | 1u << 6 | 1u << 7); /* kind 1, compact, ascii, ready */
    memcpy(o + 48, s, n + 1);
    return o;
}

/* One entry: 8 code units on the code's first line (no columns). */
static unsigned char *linetable(uint64_t claimed)
{
    unsigned char *o = object(PyBytes_Type, 32 + 2);

    put(o, 16, claimed ? claimed : 2);
    o[32] = 0x80 | 13 << 3 | 7;
    o[33] = 0;
    return o;
}

static unsigned char *code(int i, int huge)
{
    unsigned char *o = object(PyCode_Type, 256);
    char name[16];

    snprintf(name, sizeof(name), "f%d", i);
    put32(o, 72, (uint32_t)(10 * (i + 1))); /* co_firstlineno */
    put(o, 112, (uintptr_t)str("fake.py", 0));
    put(o, 120, (uintptr_t)str(name, huge ? 1ull << 40 : 0));
    put(o, 128, (uintptr_t)str(name, huge ? 1ull << 40 : 0));
    put(o, 136, (uintptr_t)linetable(huge ? 1ull << 40 : 0));
    put32(o, 168, 0); /* _co_firsttraceable */
    return o;
}

static unsigned char *frame(unsigned char *code_object, int entry, int i)
{
    unsigned char *f = chunk && i < 2 ? chunk + 64 + 96 * i : calloc(1, 80);

    if (!f)
        exit(1);
    put(f, 32, (uintptr_t)code_object);
    put(f, 56, (uintptr_t)code_object + 184 + 2); /* prev_instr: the second unit */
    f[68] = (unsigned char)entry;
    f[69] = 0; /* owned by the thread */
    return f;
}

static void chain(unsigned char **frames, size_t n)
{
    size_t i;

    for (i = 0; i + 1 < n; i++)
        put(frames[i], 48, (uintptr_t)frames[i + 1]);
}

/* A tracked object: its PyGC_Head, then the object, of `size` bytes. */
static unsigned char *tracked(void *type, size_t size)
{
    unsigned char *o = calloc(1, 16 + size);

    if (!o)
        exit(1);
    put(o + 16, 0, 1);
    put(o + 16, 8, (uintptr_t)type);
    return o + 16;
}

/* Links objects into the ring whose head is at `head`. */
static void ring(unsigned char *head, unsigned char **objects, size_t n)
{
    unsigned char *prev = head;
    size_t i;

    for (i = 0; i < n; i++) {
        put(prev, 0, (uintptr_t)(objects[i] - 16));
        put(objects[i] - 16, 8, (uintptr_t)prev);
        prev = objects[i] - 16;
    }
    put(prev, 0, (uintptr_t)head);
    put(head, 8, (uintptr_t)prev);
}

/* A greenlet object and its greenlet::Greenlet state. */
static unsigned char *greenlet(void *type, unsigned char *top_frame)
{
    unsigned char *g = tracked(type, 40), *state = calloc(1, 176), *fo = NULL;

    if (!state)
        exit(1);
    if (top_frame) {
        fo = object(PyFrame_Type, 64);
        put(fo, 24, (uintptr_t)top_frame); /* f_frame */
    }
    put(g, 32, (uintptr_t)state);  /* pimpl */
    put(state, 96, (uintptr_t)fo); /* python_state._top_frame */
    put(state, 160, (uintptr_t)g); /* _self */
    return g;
}

static unsigned char *state_of(unsigned char *greenlet_object)
{
    uintptr_t state;

    memcpy(&state, greenlet_object + 32, sizeof(state));
    return (unsigned char *)state;
}

/* The collector's lists, for the greenlet modes. */
static void collector(const char *mode, unsigned char *greenlet_type, unsigned char **frames)
{
    unsigned char *objects[3];
    size_t i, heads[4] = {672, 696, 720, 752};

    for (i = 0; i < 4; i++)
        ring(interp + heads[i], NULL, 0);
    put(greenlet_type, 24, (uintptr_t) "greenlet.greenlet"); /* tp_name */
    put(subtype, 24, (uintptr_t) "FakeGreenThread");
    put(subtype, 256, (uintptr_t)greenlet_type); /* tp_base */
    objects[0] = tracked(PyBytes_Type, 40);
    objects[1] = greenlet(greenlet_type, frames[0]);
    objects[2] = greenlet(subtype, NULL);
    if (!strcmp(mode, "badgreenlet")) {
        put(state_of(objects[1]), 160, 0x1234);
        put(state_of(objects[2]), 96, (uintptr_t)str("not a frame", 0));
    }
    ring(interp + heads[0], objects, 3);
    if (!strcmp(mode, "gcloop"))
        put(objects[2] - 16, 0, (uintptr_t)(objects[0] - 16));
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "good";
    size_t n = !strcmp(mode, "deep") ? 3000 : 3, i;
    unsigned char **frames = calloc(n, sizeof(*frames)), *greenlet_type = NULL;

    if (!frames)
        return 1;
    if (argc > 2) {
        void *module = dlopen(argv[2], RTLD_NOW);

        greenlet_type = module ? dlsym(module, "PyGreenlet_Type") : NULL;
        chunk = calloc(1, 4096);
        if (!greenlet_type || !chunk)
            return 1;
        put(chunk, 8, 4096); /* _PyStackChunk.size */
        put(tstate, 296, (uintptr_t)chunk);
    }
    for (i = 0; i < n; i++)
        frames[i] = frame(code((int)i, !strcmp(mode, "huge")), i + 1 == n, (int)i);
    chain(frames, n);
    if (!strcmp(mode, "loop"))
        put(frames[1], 48, (uintptr_t)frames[0]);
    if (!strcmp(mode, "badcode"))
        put(frames[1], 32, (uintptr_t)str("not a code object", 0));
    if (!strcmp(mode, "version"))
        Py_Version = 0x030c00f0;
    put(cframe, 8, (uintptr_t)frames[0]);
    put(tstate, 56, (uintptr_t)cframe);
    put(tstate, 160, (uint64_t)syscall(SYS_gettid));
    put(tstate, 8, !strcmp(mode, "threadloop") ? (uintptr_t)tstate : 0);
    put(interp, 16, (uintptr_t)tstate);
    put(_PyRuntime, 40, !strcmp(mode, "wild") ? 0x10 : (uintptr_t)interp);
    put(_PyRuntime, 576, (uintptr_t)tstate); /* it holds the GIL */
    if (greenlet_type)
        collector(mode, greenlet_type, frames);
    printf("ready %d\n", (int)getpid());
    fflush(stdout);
    for (;;)
        pause();
}
