/*
 * memory.c - how big the process is: the kernel's counters from
 * /proc/self/status (size, resident set and its parts, peaks, swap) and
 * the largest mappings. JSON key "memory": {counters in KiB, largest:
 * [{start, end, size_kib, perms, path}]}.
 *
 * Largest by size, from the map read for the capture: sizes are free to
 * know, while resident sizes per mapping (smaps) cost a page-table walk of
 * the whole process.
 */
#include "sections.h"

#include "base/procfs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LARGEST 10

static const char *const counters[] = {"VmPeak",  "VmSize",   "VmHWM",  "VmRSS", "RssAnon",
                                       "RssFile", "RssShmem", "VmData", "VmStk", "VmSwap"};

static void kernel_counters(struct emitter *e)
{
    char status[4096], field[16], value[32];
    int ok = procfs_read("/proc/self/status", status, sizeof(status)) >= 0;
    size_t i, len;

    if (!ok) {
        emit_str(e, "note", "/proc/self/status could not be read");
        return;
    }
    for (i = 0; i < sizeof(counters) / sizeof(counters[0]); i++) {
        const char *v;
        snprintf(field, sizeof(field), "%s:", counters[i]);
        if (!(v = procfs_field(status, field, &len)))
            continue;
        snprintf(value, sizeof(value), "%.*s", (int)(len < 31 ? len : 31), v);
        e->ops->str(e, counters[i], value, EMIT_TEXT_ONLY);
        e->ops->num(e, counters[i], strtoll(value, NULL, 10), EMIT_JSON_ONLY);
    }
}

/* Mappings no one may touch (guard pages, the unused reserve of each malloc
   arena) hold no memory: they sort last, and are not listed. */
static size_t usable_size(const struct mapping *m)
{
    return m->perms & (MAP_R | MAP_W | MAP_X) ? m->end - m->start : 0;
}

static int bigger(const void *a, const void *b)
{
    const struct mapping *x = *(const struct mapping *const *)a;
    const struct mapping *y = *(const struct mapping *const *)b;
    size_t sx = usable_size(x), sy = usable_size(y);

    return (sx < sy) - (sx > sy);
}

static void largest(struct emitter *e, const struct maps *maps)
{
    const struct mapping **order;
    char heading[600], addr[40], perms[4];
    size_t i;

    if (!maps->n) {
        emit_str(e, "note", "no memory map was read (/proc/self/maps)");
        return;
    }
    /* an array of pointers */ /* NOLINTNEXTLINE(bugprone-sizeof-expression) */
    order = malloc(maps->n * sizeof(*order));
    if (!order)
        return;
    for (i = 0; i < maps->n; i++)
        order[i] = &maps->m[i];
    /* an array of pointers */ /* NOLINTNEXTLINE(bugprone-sizeof-expression) */
    qsort(order, maps->n, sizeof(*order), bigger);
    e->ops->begin_list(e, "largest_mappings", 0);
    for (i = 0; i < maps->n && i < LARGEST && usable_size(order[i]); i++) {
        const struct mapping *m = order[i];
        size_t kib = (m->end - m->start) / 1024;

        snprintf(perms, sizeof(perms), "%c%c%c", m->perms & MAP_R ? 'r' : '-',
                 m->perms & MAP_W ? 'w' : '-', m->perms & MAP_X ? 'x' : '-');
        snprintf(heading, sizeof(heading), "%10zu KiB  %s  %#lx-%#lx  %s", kib, perms,
                 (unsigned long)m->start, (unsigned long)m->end, m->path[0] ? m->path : "[anon]");
        e->ops->begin_object(e, NULL, heading, 0);
        snprintf(addr, sizeof(addr), "%#lx", (unsigned long)m->start);
        e->ops->str(e, "start", addr, EMIT_JSON_ONLY);
        snprintf(addr, sizeof(addr), "%#lx", (unsigned long)m->end);
        e->ops->str(e, "end", addr, EMIT_JSON_ONLY);
        e->ops->num(e, "size_kib", (long long)kib, EMIT_JSON_ONLY);
        e->ops->str(e, "perms", perms, EMIT_JSON_ONLY);
        e->ops->str(e, "path", m->path, EMIT_JSON_ONLY);
        e->ops->end_object(e);
    }
    e->ops->end_list(e);
    free(order);
}

void section_memory(struct emitter *e, struct report *r)
{
    e->ops->begin_section(e, "Memory", "memory");
    e->ops->begin_object(e, NULL, NULL, 0);
    e->ops->str(e, "units", "KiB", EMIT_JSON_ONLY);
    kernel_counters(e);
    emit_num(e, "mappings", (long long)r->cap.maps.n);
    largest(e, &r->cap.maps);
    e->ops->end_object(e);
    e->ops->end_section(e);
}
