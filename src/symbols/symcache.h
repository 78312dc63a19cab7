/*
 * symcache.h - symbol results that outlive elfutils.
 *
 * The symbolizer loads elfutils' tables for a report and lets them go when
 * the report is done (tens of MiB with debug info installed). What it
 * learnt stays here: for each address looked up, its frames, with every
 * string copied. A later report of the same process, whose threads mostly
 * sit where they sat before, is then answered without elfutils at all.
 *
 * All memory comes from mmap, in chunks, and goes back with munmap: the
 * cache lives across reports, and kept in the watcher's malloc arena it
 * would pin the freed tables of elfutils around it and keep them resident.
 */
#ifndef GMR_SYMCACHE_H
#define GMR_SYMCACHE_H

#include "frame.h"

#include <stddef.h>
#include <stdint.h>

struct pool_chunk;

struct symcache {
    struct pool_chunk *chunks; /* frames and strings */
    struct symcache_entry {
        uintptr_t key; /* 0 = empty */
        struct sym_result *result;
    } * entries;
    size_t cap, n;
    const char **strings; /* interned, open addressing */
    size_t strings_cap, strings_n;
};

/* The result stored under key (non-zero), or NULL. */
const struct sym_result *symcache_find(const struct symcache *c, uintptr_t key);
/* Stores a copy of `r` (its frames and strings) under key; returns the
   copy, valid until symcache_clear, or NULL when out of memory. */
const struct sym_result *symcache_put(struct symcache *c, uintptr_t key,
                                      const struct sym_result *r);
/* Forgets everything and gives all memory back; the cache stays usable. */
void symcache_clear(struct symcache *c);
/* Bytes of memory the cache holds (for tests and the benchmark). */
size_t symcache_bytes(const struct symcache *c);

#endif
