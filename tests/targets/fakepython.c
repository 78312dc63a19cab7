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
 * The offsets are CPython 3.11's on x86_64, as src/python.c reads them.
 */
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

static _Alignas(64) unsigned char interp[256], tstate[256], cframe[64];

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

static unsigned char *frame(unsigned char *code_object, int entry)
{
    unsigned char *f = calloc(1, 80);

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

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "good";
    size_t n = !strcmp(mode, "deep") ? 3000 : 3, i;
    unsigned char **frames = calloc(n, sizeof(*frames));

    if (!frames)
        return 1;
    for (i = 0; i < n; i++)
        frames[i] = frame(code((int)i, !strcmp(mode, "huge")), i + 1 == n);
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
    printf("ready %d\n", (int)getpid());
    fflush(stdout);
    for (;;)
        pause();
}
