/*
 * shared_objects.c - the ELF images loaded in the process: path, load
 * address and build-id (read from the image in memory, so it is the
 * loaded one even if the file on disk was replaced). JSON key
 * "shared_objects": a list of {path, base, build_id}.
 */
#include "sections.h"

#include "symbols/elf_image.h"

#include <stdio.h>
#include <string.h>

static void one(struct emitter *e, struct report *r, const struct mapping *m)
{
    struct elf_image img;
    char id[129] = "", base[24], heading[4400];

    if (r->mr && elf_image_read(r->mr, m->start, &img) == 0)
        elf_image_build_id(&img, id, sizeof(id));
    snprintf(base, sizeof(base), "%#lx", (unsigned long)m->start);
    snprintf(heading, sizeof(heading), "%18s  %s%s%s", base, m->path, id[0] ? "  build-id " : "",
             id);
    e->ops->begin_object(e, NULL, heading, 0);
    e->ops->str(e, "path", m->path, EMIT_JSON_ONLY);
    e->ops->str(e, "base", base, EMIT_JSON_ONLY);
    if (id[0])
        e->ops->str(e, "build_id", id, EMIT_JSON_ONLY);
    e->ops->end_object(e);
}

void section_shared_objects(struct emitter *e, struct report *r)
{
    const struct maps *maps = &r->cap.maps;
    size_t i;

    e->ops->begin_section(e, "Shared Objects", "shared_objects");
    e->ops->begin_list(e, NULL, 0);
    if (!maps->n)
        e->ops->text(e, "note: no memory map was read (/proc/self/maps)");
    for (i = 0; i < maps->n; i++) {
        const struct mapping *m = &maps->m[i];
        /* An image starts where its file is mapped from offset 0; later
           mappings of the same file are its other segments. */
        if (m->offset || !(m->perms & MAP_R) || (m->path[0] != '/' && strcmp(m->path, "[vdso]")))
            continue;
        if (i > 0 && !strcmp(maps->m[i - 1].path, m->path))
            continue;
        one(e, r, m);
    }
    e->ops->end_list(e);
    e->ops->end_section(e);
}
