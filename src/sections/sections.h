/*
 * sections.h - the parts of a report, in the order they are written.
 *
 * Each section reads what it needs (from the report or from /proc) and
 * writes through the emitter. A section whose source fails says so in a
 * note and carries on; it never aborts the report.
 */
#ifndef GMR_SECTIONS_H
#define GMR_SECTIONS_H

#include "../emit.h"
#include "../report.h"

typedef void (*section_fn)(struct emitter *e, struct report *r);

void section_header(struct emitter *e, struct report *r);
void section_package(struct emitter *e, struct report *r);
void section_threads(struct emitter *e, struct report *r);
void section_green_threads(struct emitter *e, struct report *r);
void section_processes(struct emitter *e, struct report *r);
void section_configuration(struct emitter *e, struct report *r);
void section_environment(struct emitter *e, struct report *r);

#endif
