/*
 * maps.h - this process's memory map, from /proc/self/maps.
 *
 * Two consumers: the capture handlers, which must know where a thread's
 * stack ends before they copy it (map_set, see handlers.h), and the
 * unwinder, which needs the loaded ELF images (file-backed mappings).
 */
#ifndef GMR_MAPS_H
#define GMR_MAPS_H

#include "trigger/handlers.h"

#include <stddef.h>
#include <stdint.h>

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
