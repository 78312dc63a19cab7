/*
 * maps.c - parse /proc/self/maps.
 *
 * Lines look like
 *   7f2d8e400000-7f2d8e428000 r--p 00000000 fe:01 1835 /usr/lib/.../libc.so.6
 * and are sorted by address, which the binary searches here rely on.
 */
#include "maps.h"

#include "procfs.h"

#include <stdlib.h>
#include <string.h>

static uint64_t hex(const char **p)
{
    uint64_t v = 0;

    for (;; (*p)++) {
        char c = **p;
        if (c >= '0' && c <= '9')
            v = v * 16 + (uint64_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v = v * 16 + (uint64_t)(c - 'a' + 10);
        else
            return v;
    }
}

static const char *skip_field(const char *p)
{
    while (*p && *p != ' ')
        p++;
    while (*p == ' ')
        p++;
    return p;
}

static int parse_line(char *line, struct mapping *m)
{
    const char *p = line;

    m->start = (uintptr_t)hex(&p);
    if (*p++ != '-')
        return -1;
    m->end = (uintptr_t)hex(&p);
    if (*p++ != ' ' || strlen(p) < 4)
        return -1;
    m->perms = (p[0] == 'r' ? MAP_R : 0) | (p[1] == 'w' ? MAP_W : 0) | (p[2] == 'x' ? MAP_X : 0);
    p = skip_field(p);
    m->offset = hex(&p);
    p = skip_field(p); /* offset */
    p = skip_field(p); /* device */
    m->inode = strtoull(p, NULL, 10);
    p = skip_field(p); /* inode */
    m->path = p;
    return m->end > m->start ? 0 : -1;
}

int maps_parse(char *text, struct maps *out)
{
    size_t cap = 0;
    char *line = text;

    out->m = NULL;
    out->n = 0;
    while (line && *line) {
        char *nl = strchr(line, '\n');
        struct mapping m;

        if (nl)
            *nl = '\0';
        if (parse_line(line, &m) == 0) {
            if (out->n == cap) {
                size_t ncap = cap ? cap * 2 : 256;
                struct mapping *grown = realloc(out->m, ncap * sizeof(*grown));
                if (!grown) {
                    free(out->m);
                    out->m = NULL;
                    return -1;
                }
                out->m = grown;
                cap = ncap;
            }
            out->m[out->n++] = m;
        }
        line = nl ? nl + 1 : NULL;
    }
    return 0;
}

int maps_read(struct maps *out)
{
    out->text = procfs_slurp("/proc/self/maps", NULL);
    if (!out->text)
        return -1;
    if (maps_parse(out->text, out) < 0) {
        free(out->text);
        out->text = NULL;
        return -1;
    }
    return 0;
}

void maps_free(struct maps *maps)
{
    free(maps->m);
    free(maps->text);
    maps->m = NULL;
    maps->text = NULL;
    maps->n = 0;
}

const struct mapping *maps_find(const struct maps *maps, uintptr_t addr)
{
    size_t lo = 0, hi = maps->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (addr < maps->m[mid].start)
            hi = mid;
        else if (addr >= maps->m[mid].end)
            lo = mid + 1;
        else
            return &maps->m[mid];
    }
    return NULL;
}

struct map_set *maps_readable_set(const struct maps *maps, uintptr_t stack_limit)
{
    struct map_set *set = malloc(sizeof(*set) + maps->n * sizeof(set->r[0]));
    size_t i;

    if (!set)
        return NULL;
    set->n = 0;
    set->grow_lo = set->grow_hi = 0;
    for (i = 0; i < maps->n; i++) {
        const struct mapping *m = &maps->m[i];
        if (!(m->perms & MAP_R))
            continue;
        set->r[set->n].start = m->start;
        set->r[set->n].end = m->end;
        set->n++;
        /* The main stack grows on demand: a stack pointer below the
           mapping's current start is still inside it, down to the rlimit
           or the next mapping below, whichever is nearer. */
        if (!strcmp(m->path, "[stack]")) {
            uintptr_t floor = i > 0 ? maps->m[i - 1].end : 0;
            if (stack_limit < m->end && m->end - stack_limit > floor)
                floor = m->end - stack_limit;
            set->grow_hi = m->end;
            set->grow_lo = floor < m->start ? floor : m->start;
        }
    }
    return set;
}
