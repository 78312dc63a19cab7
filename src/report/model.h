/*
 * model.h - what a report is made of: the data each stage adds, in order
 * (capture, unwinding, Python stacks, the Waits analysis), and that the
 * sections then read and render. report.c builds it; nothing here runs a
 * stage, so a section cannot drive the pipeline, only render its data.
 */
#ifndef GMR_MODEL_H
#define GMR_MODEL_H

#include "base/config.h"
#include "render/emit.h"
#include "base/memread.h"
#include "capture/capture.h"
#include "signal/trigger_bits.h"
#include "symbols/python.h"
#include "symbols/symbolize.h"
#include "symbols/unwind.h"
#include "trigger/control.h"

#include <gmr.h>
#include <sys/types.h>
#include <time.h>

struct crash_info;
struct waits;

/* The executable's Debian package: looked up once per process. */
struct package_cache {
    int state; /* 0: not looked up, 1: found, -1: no package owns it */
    char name[128];
    char version[128];
};

/* A coroutine as listed, with its strings copied. */
struct green_thread {
    struct gmr_green_thread g; /* g.name and g.state point at the arrays below */
    char name[64];
    char state[128];
};

/* What a report needs that outlives it: owned by the watcher. */
struct report_ctx {
    const struct gmr_config *cfg;
    const char *service;
    int capture_signal;     /* -1 if none could be installed */
    pid_t self_tid;         /* the watcher */
    struct symbolizer *sym; /* NULL if elfutils is missing */
    struct package_cache *package;
    int trigger_fd;           /* the trigger file's inotify descriptor, or -1 */
    struct ptrace_held *held; /* the watcher's: tracers holding threads for a crash */
    /* The program's own parts (gmr.h), handed in by the watcher: the
       sections it registered, written at the end, each under its banner;
       and its coroutine lister (-1: none registered; *out is malloc'd). */
    void (*program_sections)(struct emitter *e);
    long (*list_green)(struct green_thread **out);
};

/* Why a report is written. */
struct report_request {
    unsigned bits;                 /* trigger_bits */
    char reason[256];              /* gmr_report's, for TRIGGER_API */
    unsigned api_calls;            /* gmr_report calls this report answers */
    pid_t api_caller;              /* the thread of the newest of them */
    struct control_request *reply; /* TRIGGER_REQUEST: the report goes back to this client */
};

/* A stack, unwound and symbolized once, before anything reads it
   (stacks.c). */
struct unwound {
    struct unwind_frame *frames;    /* res.n of them */
    const struct sym_result **syms; /* per frame, what it is; NULL (all or one): not known */
    struct unwind_result res;
    int no_unwinder; /* libunwind is missing: frames[0] is the interrupted pc alone */
};

struct report {
    const struct report_ctx *ctx;
    const struct gmr_config *cfg;
    const struct report_request *req;
    unsigned trigger;               /* req->bits */
    const struct crash_info *crash; /* TRIGGER_CRASH: the crash (signal/crash_record.h) */
    const char *trigger_name;       /* its first trigger's name: "signal", "file", ... */
    pid_t pid, trigger_tid, trigger_sender;
    time_t when;
    struct capture cap;
    struct memreader *mr;
    struct unwind_session *unwind; /* NULL if libunwind is missing */
    struct unwound *unwound;       /* per cap.threads[i]; NULL, or frames NULL: not unwound */
    struct py_stacks python;       /* found 0: no CPython in the process */
    struct green_thread *green;    /* the program's coroutines, as its lister gave them */
    long n_green;                  /* -1: no lister registered */
    struct unwound *green_unwound; /* per green[i]; frames NULL: not unwound */
    struct waits *waits;           /* what each thread waits for, and the deadlocks (waits.h) */
    struct symbolizer *sym;        /* NULL if elfutils is missing */
};

/* Thread t's unwound stack, or NULL. */
static inline const struct unwound *report_unwound(const struct report *r,
                                                   const struct thread_rec *t)
{
    const struct unwound *u;

    if (!r->unwound || t < r->cap.threads || t >= r->cap.threads + r->cap.n)
        return NULL;
    u = &r->unwound[t - r->cap.threads];
    return u->frames ? u : NULL;
}

#endif
