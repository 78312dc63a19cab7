/*
 * api.h - the inside of the public API (include/gmr.h): what the watcher
 * and the sections need from the program's registrations and requests.
 */
#ifndef GMR_API_INTERNAL_H
#define GMR_API_INTERNAL_H

#include "render/emit.h"
#include "report/model.h"

#include <gmr.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The watcher, taking TRIGGER_API: which requests this report answers,
   and the latest reason given. */
uint32_t api_take_requests(char *reason, size_t len, unsigned *count, pid_t *caller);
/* The watcher, after the report: wakes gmr_report callers up to `ticket`. */
void api_requests_served(uint32_t ticket);

/* Writes the program's sections, each under its own banner. */
void api_emit_sections(struct emitter *e);
/* Is `title` taken by a section of libgmr's own? */
int api_title_reserved(const char *title);

/* Asks the registered lister for its coroutines; *out is malloc'd. Returns
   how many, or -1 if no lister is registered. */
long api_green_threads(struct green_thread **out);

/* In a forked child: locks held by the parent's threads are reset. */
void api_after_fork(void);

#endif
