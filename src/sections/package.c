/*
 * package.c - what is running: executable, build-id, service name and
 * libgmr's version. JSON key "package".
 */
#include "sections.h"

#include <gmr.h>
#include <stdio.h>
#include <sys/auxv.h>
#include <unistd.h>

void section_package(struct emitter *e, struct report *r)
{
    char exe[4096], id[129];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

    if (n > 0)
        exe[n] = '\0';
    else
        snprintf(exe, sizeof(exe), "(unknown)");
    e->ops->begin_section(e, "Package", "package");
    e->ops->begin_object(e, NULL, NULL, 0);
    emit_str(e, "executable", exe);
    /* The entry point lies in the executable, whatever its load address. */
    if (r->sym && symbolizer_build_id(r->sym, (uintptr_t)getauxval(AT_ENTRY), id, sizeof(id)) == 0)
        emit_str(e, "build_id", id);
    else
        emit_str(e, "build_id", "(none)");
    emit_str(e, "service", r->ctx->service);
    emit_str(e, "libgmr", GMR_VERSION);
    e->ops->end_object(e);
    e->ops->end_section(e);
}
