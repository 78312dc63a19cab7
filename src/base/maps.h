/*
 * maps.h - this process's memory map, from /proc/self/maps.
 *
 * Two consumers: the capture handlers, which must know where a thread's
 * stack ends before they copy it (map_set), and the unwinder, which needs
 * the loaded ELF images (file-backed mappings).
 */
#ifndef GMR_MAPS_H
#define GMR_MAPS_H

#include <stddef.h>
#include <stdint.h>

/* Readable mappings, sorted, from /proc/self/maps: bounds a stack copy. */
struct map_range {
    uintptr_t start, end;
};

struct map_set {
    uintptr_t grow_lo, grow_hi; /* where the main stack may grow down to */
    size_t n;
    struct map_range r[];
};

/* End of the readable mapping that holds sp, or 0 if none is known: where
   a stack copy stops. Async-signal-safe. */
static inline uintptr_t map_set_stack_end(const struct map_set *m, uintptr_t sp)
{
    size_t lo = 0, hi = m->n;

    if (sp >= m->grow_lo && sp < m->grow_hi)
        return m->grow_hi;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sp < m->r[mid].start)
            hi = mid;
        else if (sp >= m->r[mid].end)
            lo = mid + 1;
        else
            return m->r[mid].end;
    }
    return 0;
}

enum { MAP_R = 1, MAP_W = 2, MAP_X = 4 };

struct mapping {
    uintptr_t start, end;
    uint64_t offset;
    uint64_t inode; /* of the file mapped; 0 for anonymous memory */
    unsigned perms;
    const char *path; /* "" for anonymous; "[stack]", "[vdso]", ... */
};

struct maps {
    struct mapping *m;
    size_t n;
    char *text; /* owns the path strings */
};

int maps_read(struct maps *out);
/* Parses maps text in place (the text must stay alive); for tests. */
int maps_parse(char *text, struct maps *out);
void maps_free(struct maps *maps);
/* The mapping that contains addr, or NULL. */
const struct mapping *maps_find(const struct maps *maps, uintptr_t addr);
/* Readable ranges for the handlers; `stack_limit` is RLIMIT_STACK. */
struct map_set *maps_readable_set(const struct maps *maps, uintptr_t stack_limit);

#endif
