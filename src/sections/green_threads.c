/*
 * green_threads.c - oslo.reports has a Green Threads section for
 * eventlet; a native process has no such scheduler we could know about.
 * JSON key "green_threads": an empty list.
 */
#include "sections.h"

void section_green_threads(struct emitter *e, struct report *r)
{
    (void)r;
    e->ops->begin_section(e, "Green Threads", "green_threads");
    e->ops->begin_list(e, NULL, 0);
    e->ops->str(e, NULL, "No green threads: this is a native process.", EMIT_TEXT_ONLY);
    e->ops->end_list(e);
    e->ops->end_section(e);
}
