/*
 * file_descriptors.c - the open descriptors: number, target, and for
 * sockets the protocol, addresses and state. JSON key "file_descriptors":
 * a list of {fd, target, socket: {protocol, local, remote, state}}.
 *
 * The watcher keeps its own descriptors in a table of its own (fdtable.h),
 * so these are all the program's. Where its table is shared with the
 * program, libgmr's own are left out (the one listing /proc/self/fd) or
 * marked (the trigger file's inotify instance, the files elfutils keeps
 * open while symbols are cached).
 */
#include "sections.h"

#include "base/fdtable.h"
#include "base/netsock.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_SHOWN 1024

struct fd_entry {
    int fd;
    char *target;
};

static int cmp_fd(const void *a, const void *b)
{
    const struct fd_entry *x = a, *y = b;

    return (x->fd > y->fd) - (x->fd < y->fd);
}

static char *target_of(int fd)
{
    char path[64], target[4096];
    ssize_t n;

    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    n = readlink(path, target, sizeof(target) - 1);
    if (n < 0)
        return NULL; /* closed since it was listed */
    target[n] = '\0';
    return strdup(target);
}

/* The process's descriptors and their targets, sorted; -1 if unreadable. */
static long list_fds(struct fd_entry **out)
{
    DIR *dir = opendir("/proc/self/fd");
    int private = fdtable_is_private();
    size_t n = 0, cap = 0;
    struct fd_entry *v = NULL;
    struct dirent *d;

    *out = NULL;
    if (!dir)
        return -1;
    while ((d = readdir(dir))) {
        int fd;
        char *target;
        if (d->d_name[0] == '.' || ((fd = atoi(d->d_name)) == dirfd(dir) && !private))
            continue;
        if (!(target = target_of(fd)))
            continue;
        if (n == cap) {
            struct fd_entry *grown = realloc(v, (cap = cap ? cap * 2 : 64) * sizeof(*v));
            if (!grown) {
                free(target);
                break;
            }
            v = grown;
        }
        v[n].fd = fd;
        v[n++].target = target;
    }
    closedir(dir);
    if (n)
        qsort(v, n, sizeof(*v), cmp_fd);
    *out = v;
    return (long)n;
}

static void one(struct emitter *e, const struct report *r, const struct fd_entry *f,
                const struct sock_table *socks)
{
    char heading[4400], sock[400] = "";
    const struct sock_info *s = NULL;
    unsigned long inode;
    const char *ours = fdtable_is_private()          ? NULL
                       : f->fd == r->ctx->trigger_fd ? "trigger file watch"
                       : symbolizer_owns_fd(f->fd) ? "symbol file, open while the report is written"
                                                   : NULL;

    if (sscanf(f->target, "socket:[%lu]", &inode) == 1 && (s = netsock_find(socks, inode)))
        snprintf(sock, sizeof(sock), " %s %s%s%s %s", s->proto, s->local,
                 s->remote[0] ? " -> " : "", s->remote, s->state);
    snprintf(heading, sizeof(heading), "%d -> %s%s%s%s%s", f->fd, f->target, sock,
             ours ? " (libgmr: " : "", ours ? ours : "", ours ? ")" : "");
    e->ops->begin_object(e, NULL, heading, 0);
    e->ops->num(e, "fd", f->fd, EMIT_JSON_ONLY);
    e->ops->str(e, "target", f->target, EMIT_JSON_ONLY);
    if (ours)
        e->ops->str(e, "owner", "libgmr", EMIT_JSON_ONLY);
    if (s) {
        e->ops->begin_object(e, "socket", NULL, EMIT_JSON_ONLY);
        emit_str(e, "protocol", s->proto);
        emit_str(e, "local", s->local);
        if (s->remote[0])
            emit_str(e, "remote", s->remote);
        if (s->state[0])
            emit_str(e, "state", s->state);
        e->ops->end_object(e);
    }
    e->ops->end_object(e);
}

void section_file_descriptors(struct emitter *e, struct report *r)
{
    struct sock_table socks = {NULL, 0, 0};
    struct fd_entry *fds;
    long n = list_fds(&fds), i;
    char note[96];

    e->ops->begin_section(e, "File Descriptors", "file_descriptors");
    e->ops->begin_list(e, NULL, 0);
    if (n < 0)
        e->ops->text(e, "note: /proc/self/fd could not be read");
    for (i = 0; i < n; i++)
        if (!strncmp(fds[i].target, "socket:", 7)) {
            if (!netsock_load(&socks))
                e->ops->text(e, "note: /proc/self/net could not be read; sockets are shown "
                                "without protocol or addresses");
            break;
        }
    for (i = 0; i < n && i < MAX_SHOWN; i++)
        one(e, r, &fds[i], &socks);
    if (n > MAX_SHOWN) {
        snprintf(note, sizeof(note), "note: %ld more descriptors not shown", n - MAX_SHOWN);
        e->ops->text(e, note);
    }
    e->ops->end_list(e);
    e->ops->end_section(e);
    netsock_free(&socks);
    for (i = 0; i < n; i++)
        free(fds[i].target);
    free(fds);
}
