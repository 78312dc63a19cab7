/*
 * report.h - one Guru Meditation Report, from trigger to sink.
 *
 * report_write runs on the watcher thread: capture every thread, open an
 * unwinding session and the symbolizer, let each section emit its part
 * through the configured renderer, hand the result to the sink, and give
 * back everything it took.
 */
#ifndef GMR_REPORT_H
#define GMR_REPORT_H

#include "capture/capture.h"
#include "symbols/python.h"
#include "base/config.h"
#include "trigger/control.h"
#include "base/memread.h"
#include "symbols/symbolize.h"
#include "symbols/unwind.h"
#include "waits.h"

#include <sys/types.h>
#include <time.h>

/* The executable's Debian package: looked up once per process. */
struct package_cache {
    int state; /* 0: not looked up, 1: found, -1: no package owns it */
    char name[128];
    char version[128];
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
};

/* Why a report is written. */
struct report_request {
    unsigned bits;                 /* trigger_bits */
    char reason[256];              /* gmr_report's, for TRIGGER_API */
    unsigned api_calls;            /* gmr_report calls this report answers */
    pid_t api_caller;              /* the thread of the newest of them */
    struct control_request *reply; /* TRIGGER_REQUEST: the report goes back to this client */
};

/* A captured thread's stack, unwound once, before anything reads it. */
struct unwound {
    struct unwind_frame *frames; /* res.n of them */
    struct unwind_result res;
};

struct report {
    const struct report_ctx *ctx;
    const struct gmr_config *cfg;
    const struct report_request *req;
    unsigned trigger; /* req->bits */
    pid_t pid, trigger_tid, trigger_sender;
    time_t when;
    struct capture cap;
    struct memreader *mr;
    struct unwind_session *unwind; /* NULL if libunwind is missing */
    struct unwound *unwound;       /* per cap.threads[i]; NULL, or frames NULL: not unwound */
    struct py_stacks python;       /* found 0: no CPython in the process */
    struct waits waits;            /* what each thread waits for, and the deadlocks */
    struct symbolizer *sym;        /* NULL if elfutils is missing */
};

/* Thread t's unwound stack, or NULL. */
const struct unwound *report_unwound(const struct report *r, const struct thread_rec *t);

/* Writes one report; `written` receives its path ("" for stderr). */
void report_write(const struct report_ctx *ctx, const struct report_request *req, char *written,
                  size_t len);

/* The name of the first trigger in `bits`: "signal", "file", ... */
const char *report_trigger_name(unsigned bits);

#endif
