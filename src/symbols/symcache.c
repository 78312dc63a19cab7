/*
 * symcache.c - symbol results that outlive elfutils (see symcache.h).
 *
 * Three pieces, all in mmap'd memory:
 *   - a pool: chunks handed out by bumping a pointer, freed all at once;
 *     results (their frame arrays) and strings live there;
 *   - the address table: open addressing on the key, entries pointing at
 *     results in the pool, doubled when half full;
 *   - the string table: each distinct string stored once, since a
 *     function's name and its file repeat across all its addresses.
 */
#include "symcache.h"

#include <string.h>
#include <sys/mman.h>

#define CHUNK_SIZE (64 * 1024)
#define TABLE_MIN  1024

struct pool_chunk {
    struct pool_chunk *next;
    size_t size, used; /* bytes of the whole chunk, this header included */
};

static void *map_zeroed(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    return p == MAP_FAILED ? NULL : p;
}

static size_t align_up(size_t n, size_t to)
{
    return (n + to - 1) & ~(to - 1);
}

/* ---- the pool ---- */

static void *pool_alloc(struct symcache *c, size_t size)
{
    struct pool_chunk *ch = c->chunks;
    size_t need = align_up(size, sizeof(void *)), chunk;
    void *p;

    if (!ch || ch->size - ch->used < need) {
        chunk = align_up(sizeof(*ch) + need, CHUNK_SIZE);
        ch = map_zeroed(chunk);
        if (!ch)
            return NULL;
        ch->size = chunk;
        ch->used = align_up(sizeof(*ch), sizeof(void *));
        ch->next = c->chunks;
        c->chunks = ch;
    }
    p = (char *)ch + ch->used;
    ch->used += need;
    return p;
}

/* ---- strings ---- */

static size_t hash_str(const char *s)
{
    size_t h = 1469598103934665603ull; /* FNV-1a */

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static int grow_strings(struct symcache *c)
{
    size_t cap = c->strings_cap ? c->strings_cap * 2 : TABLE_MIN, i;
    const char **t = map_zeroed(cap * sizeof(*t));

    if (!t)
        return -1;
    for (i = 0; i < c->strings_cap; i++) {
        size_t j;
        if (!c->strings[i])
            continue;
        for (j = hash_str(c->strings[i]) & (cap - 1); t[j]; j = (j + 1) & (cap - 1))
            ;
        t[j] = c->strings[i];
    }
    if (c->strings)
        munmap(c->strings, c->strings_cap * sizeof(*t));
    c->strings = t;
    c->strings_cap = cap;
    return 0;
}

/* The pool's copy of s; NULL for NULL or when out of memory. */
static const char *intern(struct symcache *c, const char *s)
{
    size_t j, len;
    char *copy;

    if (!s)
        return NULL;
    if ((c->strings_n + 1) * 2 > c->strings_cap && grow_strings(c) < 0)
        return NULL;
    for (j = hash_str(s) & (c->strings_cap - 1); c->strings[j]; j = (j + 1) & (c->strings_cap - 1))
        if (!strcmp(c->strings[j], s))
            return c->strings[j];
    len = strlen(s) + 1;
    copy = pool_alloc(c, len);
    if (!copy)
        return NULL;
    memcpy(copy, s, len);
    c->strings[j] = copy;
    c->strings_n++;
    return copy;
}

/* ---- addresses ---- */

static size_t slot_of(uintptr_t key, size_t cap)
{
    return (size_t)((key * 0x9e3779b97f4a7c15ull) >> 20) & (cap - 1);
}

static int grow_entries(struct symcache *c)
{
    size_t cap = c->cap ? c->cap * 2 : TABLE_MIN, i, j;
    struct symcache_entry *t = map_zeroed(cap * sizeof(*t));

    if (!t)
        return -1;
    for (i = 0; i < c->cap; i++) {
        if (!c->entries[i].key)
            continue;
        for (j = slot_of(c->entries[i].key, cap); t[j].key; j = (j + 1) & (cap - 1))
            ;
        t[j] = c->entries[i];
    }
    if (c->entries)
        munmap(c->entries, c->cap * sizeof(*t));
    c->entries = t;
    c->cap = cap;
    return 0;
}

const struct sym_result *symcache_find(const struct symcache *c, uintptr_t key)
{
    size_t j;

    if (!c->cap)
        return NULL;
    for (j = slot_of(key, c->cap); c->entries[j].key; j = (j + 1) & (c->cap - 1))
        if (c->entries[j].key == key)
            return c->entries[j].result;
    return NULL;
}

static struct sym_result *copy_result(struct symcache *c, const struct sym_result *r)
{
    struct sym_result *copy = pool_alloc(c, sizeof(*copy) + r->n * sizeof(*r->frames));
    size_t i;

    if (!copy)
        return NULL;
    copy->n = r->n;
    copy->frames = (struct sym_frame *)(copy + 1);
    for (i = 0; i < r->n; i++) {
        struct sym_frame *f = &copy->frames[i];
        *f = r->frames[i];
        /* A string that cannot be copied is dropped, never left pointing
           into elfutils' memory. */
        f->function = intern(c, f->function);
        f->raw = intern(c, f->raw);
        f->module = intern(c, f->module);
        f->file = intern(c, f->file);
    }
    return copy;
}

const struct sym_result *symcache_put(struct symcache *c, uintptr_t key, const struct sym_result *r)
{
    struct sym_result *copy;
    size_t j;

    if ((c->n + 1) * 2 > c->cap && grow_entries(c) < 0)
        return NULL;
    copy = copy_result(c, r);
    if (!copy)
        return NULL;
    for (j = slot_of(key, c->cap); c->entries[j].key; j = (j + 1) & (c->cap - 1))
        if (c->entries[j].key == key)
            break;
    if (!c->entries[j].key)
        c->n++;
    c->entries[j].key = key;
    c->entries[j].result = copy;
    return copy;
}

void symcache_clear(struct symcache *c)
{
    while (c->chunks) {
        struct pool_chunk *next = c->chunks->next;
        munmap(c->chunks, c->chunks->size);
        c->chunks = next;
    }
    if (c->entries)
        munmap(c->entries, c->cap * sizeof(*c->entries));
    if (c->strings)
        munmap(c->strings, c->strings_cap * sizeof(*c->strings));
    memset(c, 0, sizeof(*c));
}

size_t symcache_bytes(const struct symcache *c)
{
    const struct pool_chunk *ch;
    size_t total = c->cap * sizeof(*c->entries) + c->strings_cap * sizeof(*c->strings);

    for (ch = c->chunks; ch; ch = ch->next)
        total += ch->size;
    return total;
}
