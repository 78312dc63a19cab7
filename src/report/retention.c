/*
 * retention.c - remove a service's oldest report files beyond
 * GMR_MAX_REPORTS, after each report file is written (watcher thread).
 *
 * Only names of the service's own pattern count, whatever the pid, so the
 * reports of earlier runs of a daemon in a crash-restart loop are found;
 * files of other services and anything else in the directory are never
 * touched. Everything is relative to the directory descriptor the sink
 * opened, names are stat'ed without following links and only regular
 * files are removed (unlinkat removes a name, so a file swapped for a
 * symlink in between loses that link, never its target). The time in the
 * name orders the reports because it is what an operator sees and does
 * not change when a file is copied or touched; mtime breaks ties within a
 * second.
 */
#include "retention.h"

#include "base/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STAMP_LEN 14 /* YYYYMMDDHHMMSS */

struct old_report {
    char stamp[STAMP_LEN + 1];
    long long mtime_ns;
    char *name;
};

struct report_list {
    struct old_report *v;
    size_t n, cap;
};

/* How many digits start s, if at least one; 0 otherwise. */
static size_t digits(const char *s)
{
    size_t n = 0;

    while (s[n] >= '0' && s[n] <= '9')
        n++;
    return n;
}

/* Is `name` <prefix><14 digits>_<pid>[.<n>][.json]? Copies the stamp. */
static int own_report(const char *name, const char *prefix, size_t plen, char *stamp)
{
    const char *p = name + plen;
    size_t n;

    if (strncmp(name, prefix, plen) != 0 || digits(p) != STAMP_LEN || p[STAMP_LEN] != '_')
        return 0;
    memcpy(stamp, p, STAMP_LEN);
    stamp[STAMP_LEN] = '\0';
    p += STAMP_LEN + 1;
    if (!(n = digits(p)))
        return 0;
    p += n;
    if (p[0] == '.' && (n = digits(p + 1)))
        p += n + 1;
    if (!strcmp(p, ".json"))
        p += 5;
    return *p == '\0';
}

static int add(struct report_list *l, const char *name, const char *stamp, const struct stat *st)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        struct old_report *v = realloc(l->v, cap * sizeof(*v));

        if (!v)
            return -1;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n].name = strdup(name);
    if (!l->v[l->n].name)
        return -1;
    memcpy(l->v[l->n].stamp, stamp, sizeof(l->v[l->n].stamp));
    l->v[l->n].mtime_ns = (long long)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec;
    l->n++;
    return 0;
}

static void free_list(struct report_list *l)
{
    size_t i;

    for (i = 0; l->v && i < l->n; i++)
        free(l->v[i].name);
    free(l->v);
}

/* The service's reports in dir, but `keep`. -1 if memory ran out. */
static int collect(int dir, const char *prefix, const char *keep, struct report_list *l)
{
    union {
        char bytes[8192];
        struct dirent64 align;
    } buf;
    size_t plen = strlen(prefix);
    char stamp[STAMP_LEN + 1];
    struct stat st;
    ssize_t n, off;

    if (lseek(dir, 0, SEEK_SET) < 0)
        return -1;
    while ((n = getdents64(dir, buf.bytes, sizeof(buf.bytes))) > 0)
        for (off = 0; off < n;) {
            const struct dirent64 *d = (const struct dirent64 *)(buf.bytes + off);

            off += d->d_reclen;
            if ((d->d_type != DT_REG && d->d_type != DT_UNKNOWN) || !strcmp(d->d_name, keep) ||
                !own_report(d->d_name, prefix, plen, stamp))
                continue;
            if (fstatat(dir, d->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
                continue;
            if (add(l, d->d_name, stamp, &st) < 0)
                return -1;
        }
    return n < 0 ? -1 : 0;
}

static int older_first(const void *a, const void *b)
{
    const struct old_report *x = a, *y = b;
    int c = strcmp(x->stamp, y->stamp);

    if (c)
        return c;
    if (x->mtime_ns != y->mtime_ns)
        return x->mtime_ns < y->mtime_ns ? -1 : 1;
    return strcmp(x->name, y->name);
}

static void remove_oldest(int dir, struct report_list *l, size_t excess, int max)
{
    size_t i;

    qsort(l->v, l->n, sizeof(*l->v), older_first);
    for (i = 0; i < excess; i++)
        if (unlinkat(dir, l->v[i].name, 0) < 0 && errno != ENOENT) {
            log_msg("cannot remove the old report %s (%s); GMR_MAX_REPORTS=%d not applied",
                    l->v[i].name, strerror(errno), max);
            return;
        }
}

void retention_prune(int dir, const char *safe_service, int max, const char *keep)
{
    struct report_list l = {0};
    char prefix[128];
    size_t excess;

    if (max <= 0)
        return;
    snprintf(prefix, sizeof(prefix), "%s_gurumeditation_", safe_service);
    if (collect(dir, prefix, keep, &l) < 0) {
        log_msg("cannot list the old reports (%s); GMR_MAX_REPORTS=%d not applied", strerror(errno),
                max);
        free_list(&l);
        return;
    }
    /* `keep` is one of the max. */
    excess = l.n + 1 > (size_t)max ? l.n + 1 - (size_t)max : 0;
    if (excess && l.v)
        remove_oldest(dir, &l, excess, max);
    free_list(&l);
}
