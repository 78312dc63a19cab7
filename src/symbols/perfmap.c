/*
 * perfmap.c - /tmp/perf-<pid>.map (see perfmap.h).
 *
 * The file is read whole (at most PERFMAP_MAX bytes; node appends to it
 * for as long as it runs), parsed into entries sorted by start, and
 * searched by binary search. A runtime may list code at an address twice
 * (code freed and compiled again): the entry written last wins, as perf
 * does, so entries keep their line order as a tie-break.
 */
#include "perfmap.h"

#include "base/procfs.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PERFMAP_MAX (64 * 1024 * 1024)

struct perf_entry {
    uintptr_t start, end;
    size_t line; /* later lines win */
    const char *name;
};

struct perfmap {
    char *text;
    struct perf_entry *e;
    size_t n;
};

static void path_of(pid_t pid, char *out, size_t len)
{
    snprintf(out, len, "/tmp/perf-%d.map", (int)pid);
}

/* Opens the map if it is a regular file of our user. */
static int open_map(pid_t pid, struct stat *st)
{
    char path[64];
    int fd;

    path_of(pid, path, sizeof(path));
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return -1;
    if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode) || st->st_uid != geteuid()) {
        close(fd);
        return -1;
    }
    return fd;
}

uint64_t perfmap_signature(pid_t pid)
{
    struct stat st;
    int fd = open_map(pid, &st);

    if (fd < 0)
        return 0;
    close(fd);
    return (uint64_t)st.st_ino * 1000003u ^ (uint64_t)st.st_size * 31u ^
           (uint64_t)st.st_mtim.tv_sec * 1000000000u ^ (uint64_t)st.st_mtim.tv_nsec;
}

static char *read_map(pid_t pid, size_t *len)
{
    struct stat st;
    size_t cap, got = 0;
    char *text;
    int fd = open_map(pid, &st);

    if (fd < 0)
        return NULL;
    cap = st.st_size > 0 && st.st_size < PERFMAP_MAX ? (size_t)st.st_size : PERFMAP_MAX;
    text = malloc(cap + 1);
    if (text) {
        ssize_t n = procfs_read_fd(fd, text, cap);
        got = n > 0 ? (size_t)n : 0;
    }
    close(fd);
    if (text)
        text[got] = '\0';
    *len = got;
    return text;
}

static int cmp_entry(const void *a, const void *b)
{
    const struct perf_entry *x = a, *y = b;

    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return x->line < y->line ? -1 : x->line > y->line;
}

/* "7f1c2a001000 1a0 LFoo;::bar" -> an entry; 0, or -1 if malformed. */
static int parse_line(char *line, size_t index, struct perf_entry *out)
{
    char *p = line, *end;
    unsigned long long start, size;

    start = strtoull(p, &end, 16);
    if (end == p || *end != ' ')
        return -1;
    p = end + 1;
    size = strtoull(p, &end, 16);
    if (end == p || *end != ' ' || !size || start + size < start)
        return -1;
    out->start = (uintptr_t)start;
    out->end = (uintptr_t)(start + size);
    out->line = index;
    out->name = end + 1;
    return 0;
}

struct perfmap *perfmap_load(pid_t pid)
{
    struct perfmap *p = calloc(1, sizeof(*p));
    size_t len, lines = 0, i;
    char *line, *next;

    if (!p || !(p->text = read_map(pid, &len)))
        goto fail;
    for (i = 0; i < len; i++)
        lines += p->text[i] == '\n';
    p->e = calloc(lines + 1, sizeof(*p->e));
    if (!p->e)
        goto fail;
    for (line = p->text, i = 0; *line; line = next, i++) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        else
            next = line + strlen(line);
        if (p->n <= lines && parse_line(line, i, &p->e[p->n]) == 0)
            p->n++;
    }
    qsort(p->e, p->n, sizeof(*p->e), cmp_entry);
    return p;
fail:
    perfmap_free(p);
    return NULL;
}

void perfmap_free(struct perfmap *p)
{
    if (!p)
        return;
    free(p->text);
    free(p->e);
    free(p);
}

const char *perfmap_find(const struct perfmap *p, uintptr_t pc, uintptr_t *offset)
{
    size_t lo = 0, hi = p->n, i;
    const struct perf_entry *best = NULL;

    /* The last entry starting at or below pc; overlapping ones are few. */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (p->e[mid].start <= pc)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (i = lo; i-- > 0 && lo - i <= 64;)
        if (pc < p->e[i].end && (!best || p->e[i].line > best->line))
            best = &p->e[i];
    if (!best)
        return NULL;
    *offset = pc - best->start;
    return best->name;
}
