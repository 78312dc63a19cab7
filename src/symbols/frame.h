/*
 * frame.h - what one symbolized address is: the frames it stands for
 * (several where calls were inlined), each with its kind, function,
 * module and source line. The symbolizer's answer and the cache's
 * contents (symcache.h), both of which only hold it.
 */
#ifndef GMR_FRAME_H
#define GMR_FRAME_H

#include <stddef.h>
#include <stdint.h>

/* What kind of code a frame is in (JSON threads[].frames[].kind). */
enum frame_kind {
    FRAME_NATIVE, /* an ELF module's code */
    FRAME_JIT,    /* anonymous executable memory: code a runtime generated */
    FRAME_VDSO,   /* the kernel's vDSO */
    FRAME_SIGNAL, /* the trampoline between a signal handler and the code it interrupted */
};

/* One frame as printed; an inlined call expands one address to several. */
struct sym_frame {
    enum frame_kind kind;
    const char *function; /* NULL if unknown; demangled */
    const char *raw;      /* the symbol as in the binary, if demangling changed it */
    uintptr_t offset;     /* pc - function start; valid if has_offset */
    int has_offset;
    int inlined;        /* an inlined call inside the next frame */
    const char *module; /* path, NULL if the address is in no module */
    uintptr_t module_offset;
    const char *file; /* NULL if no line information */
    int line;
};

struct sym_result {
    size_t n;
    struct sym_frame *frames;
};

#endif
