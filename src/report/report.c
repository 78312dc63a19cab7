/*
 * report.c - run the pipeline once: capture, unwind, symbolize, render,
 * deliver. Everything taken here is given back before returning.
 */
#include "report.h"

#include "render/emit.h"
#include "signal/crash_handler.h"
#include "signal/handlers.h"
#include "sections/sections.h"
#include "sink.h"
#include "stacks.h"
#include "waits.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define TRIGGER_WAIT_MS 50 /* naps of 1 ms, so about that long at most */

static const section_fn sections[] = {
    section_header,           section_waits,         section_package,
    section_threads,          section_green_threads, section_processes,
    section_configuration,    section_environment,   section_shared_objects,
    section_file_descriptors, section_signals,       section_memory,
    section_resource_usage,
};

static const char *trigger_name(unsigned bits)
{
    if (bits & TRIGGER_CRASH)
        return "crash";
    if (bits & TRIGGER_SIGNAL)
        return "signal";
    if (bits & TRIGGER_FILE)
        return "file";
    if (bits & TRIGGER_TIMEOUT)
        return "timeout";
    if (bits & TRIGGER_API)
        return "api";
    if (bits & TRIGGER_REQUEST)
        return "request";
    return "unknown";
}

static void render(struct report *r, struct buf *out, int json)
{
    struct emitter e;
    size_t i;

    if (json)
        emit_init_json(&e, out);
    else
        emit_init_text(&e, out);
    e.ops->begin_report(&e);
    for (i = 0; i < sizeof(sections) / sizeof(sections[0]); i++)
        sections[i](&e, r);
    if (r->ctx->program_sections)
        r->ctx->program_sections(&e);
    e.ops->end_report(&e);
}

/*
 * The thread that took the trigger signal woke us from its handler; caught
 * before it returns, its stack would show libgmr's handler on top of the
 * host's frames. It leaves within microseconds: wait for that, bounded.
 */
static void let_trigger_handlers_return(void)
{
    struct timespec nap = {0, 1000 * 1000};
    int i;

    for (i = 0; i < TRIGGER_WAIT_MS && handler_in_trigger(); i++)
        nanosleep(&nap, NULL);
}

/* Trigger signals received before the previous report began (only the
   watcher writes reports). */
static unsigned triggers_before_last;

/* The trigger signal's thread captured itself (handlers.c): take its slot
   for this report if it is complete, the report answers a signal, and the
   slot was filled for a signal since the last report began (one whose
   handler overran the last report is stale: let go). */
static const struct slot *take_trigger_slot(unsigned bits)
{
    unsigned now, gen;
    struct slot *s = handler_trigger_slot(&gen, &now);
    int expect = SLOT_DONE, fresh = (int)(gen - triggers_before_last) > 0;

    triggers_before_last = now;
    if (!atomic_compare_exchange_strong(&s->state, &expect, SLOT_TAKEN))
        return NULL;
    return (bits & TRIGGER_SIGNAL) && fresh ? s : NULL;
}

/* Gives the slot back, and the pages its copy touched to the system. */
static void return_trigger_slot(void)
{
    struct slot *s = handler_trigger_slot(NULL, NULL);
    size_t page = (size_t)sysconf(_SC_PAGESIZE);

    if (atomic_load(&s->state) != SLOT_TAKEN)
        return;
    if (s->copy && s->copy_len)
        madvise(s->copy, (s->copy_len + page - 1) / page * page, MADV_DONTNEED);
    atomic_store(&s->state, SLOT_EMPTY);
}

static void presets_for(const struct report_ctx *ctx, unsigned bits, struct capture_presets *p)
{
    memset(p, 0, sizeof(*p));
    p->send = 1;
    if (bits & TRIGGER_CRASH) {
        uint32_t nfrozen;

        /* The crashing thread froze the others (crash_handler.c); those
           the signal could not reach, the tracer holds until it lets go. */
        p->crashed = &crash_record()->slot;
        p->frozen = freeze_records(&nfrozen);
        p->nfrozen = nfrozen;
        p->send = 0;
        if (ctx->cfg->capture != CAPTURE_SIGNAL)
            p->held = ctx->held;
    }
    p->trigger = take_trigger_slot(bits);
}

void report_write(const struct report_ctx *ctx, const struct report_request *req, char *written,
                  size_t len)
{
    struct capture_presets presets;
    struct report r;
    struct waits waits;
    struct buf out = {0};
    struct sink_target target;
    int delivered;

    memset(&r, 0, sizeof(r));
    memset(&waits, 0, sizeof(waits));
    r.ctx = ctx;
    r.cfg = ctx->cfg;
    r.req = req;
    r.trigger = req->bits;
    r.trigger_name = trigger_name(req->bits);
    r.crash = req->bits & TRIGGER_CRASH ? crash_record() : NULL;
    r.pid = getpid();
    r.when = time(NULL);
    handler_last_trigger(&r.trigger_tid, &r.trigger_sender);
    let_trigger_handlers_return();
    presets_for(ctx, req->bits, &presets);
    capture_run(&r.cap, ctx->capture_signal, ctx->cfg->capture_timeout_ms, ctx->self_tid, &presets,
                ctx->cfg->capture);
    r.mr = memreader_new();
    if (r.mr) {
        r.unwind = unwind_begin(&r.cap.maps, r.mr);
        python_read(r.mr, &r.cap.maps, &r.python); /* right after the capture, as close as may be */
    }
    if (ctx->sym) {
        symbolizer_refresh(ctx->sym, &r.cap.maps);
        r.sym = ctx->sym;
    }
    stacks_unwind(&r);
    r.waits = &waits;
    waits_read(&r, r.waits);
    stacks_symbolize(&r);
    /* gmr-report's own format; a report to the sink, the process's */
    render(&r, &out,
           req->reply && !req->reply->to_sink ? req->reply->json : ctx->cfg->format == FORMAT_JSON);
    if (req->reply && !req->reply->to_sink) {
        control_answer(req->reply, &out,
                       out.failed ? "out of memory while writing the report" : NULL);
        written[0] = '\0';
        goto out;
    }

    target.log_dir = ctx->cfg->log_dir;
    target.service = ctx->service;
    target.pid = r.pid;
    target.when = r.when;
    target.json = ctx->cfg->format == FORMAT_JSON;
    target.output = config_output(ctx->cfg);
    target.max_reports = ctx->cfg->max_reports;
    target.trigger = r.trigger_name;
    target.threads = r.cap.n;
    delivered = sink_write(&target, &out, written, len) == 0;
    if (req->reply)
        control_answer_written(req->reply,
                               written[0]                        ? written
                               : target.output == OUTPUT_JOURNAL ? "the journal"
                                                                 : "stderr",
                               delivered ? NULL : "the report could not be written");
out:
    buf_free(&out);
    symbolizer_shed(ctx->sym);
    stacks_free(&r);
    unwind_end(r.unwind);
    python_free(&r.python);
    waits_free(&waits);
    memreader_free(r.mr);
    capture_free(&r.cap);
    return_trigger_slot();
}
