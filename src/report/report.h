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

#include "model.h"

#include <stddef.h>

/* Writes one report; `written` receives its path ("" for stderr). */
void report_write(const struct report_ctx *ctx, const struct report_request *req, char *written,
                  size_t len);

#endif
