/*
 * sections.h - the parts of a report, in the order they are written.
 *
 * Each section reads what it needs (from the report or from /proc) and
 * writes through the emitter. A section whose source fails says so in a
 * note and carries on; it never aborts the report.
 */
#ifndef GMR_SECTIONS_H
#define GMR_SECTIONS_H

#include "render/emit.h"
#include "report/model.h"

typedef void (*section_fn)(struct emitter *e, struct report *r);

/* A thread's notes: one "note = ..." line each in text, one joined "note"
   string in JSON (the key the JSON contract names). */
struct notes {
    char text[1024];
    size_t len;
    const char *line[6];
    size_t n;
};

void frames_note(struct notes *ns, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void frames_emit_notes(struct emitter *e, const struct notes *ns);
/* One address (res: what the symbolizer found of it, NULL if nothing) as
   one frame line, or several where calls were inlined. signal: the
   trampoline between a signal handler and the code it interrupted. */
void frames_emit_pc(struct emitter *e, const struct sym_result *res, uintptr_t pc, int signal,
                    int *index);
/* A stack the stacks stage unwound and symbolized (stacks.h), as a
   "frames" list, with notes on what was cut short; slot is where it was
   read from. py: the thread's Python frames, merged in where the
   evaluation loop ran them (NULL: none). */
void frames_emit_unwound(struct emitter *e, const struct report *r, const struct slot *slot,
                         const struct unwound *u, struct notes *ns, const struct py_thread *py);
/* A greenlet's "frames" list: its Python frames alone (its C stack is
   saved away in pieces, where no unwinder could follow it). */
void frames_emit_python(struct emitter *e, const struct py_thread *py, struct notes *ns);

void section_header(struct emitter *e, struct report *r);
void section_waits(struct emitter *e, struct report *r);
void section_package(struct emitter *e, struct report *r);
void section_threads(struct emitter *e, struct report *r);
void section_green_threads(struct emitter *e, struct report *r);
void section_processes(struct emitter *e, struct report *r);
void section_configuration(struct emitter *e, struct report *r);
void section_environment(struct emitter *e, struct report *r);
void section_shared_objects(struct emitter *e, struct report *r);
void section_file_descriptors(struct emitter *e, struct report *r);
void section_signals(struct emitter *e, struct report *r);
void section_memory(struct emitter *e, struct report *r);
void section_resource_usage(struct emitter *e, struct report *r);

#endif
