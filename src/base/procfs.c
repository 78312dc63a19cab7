/*
 * procfs.c - small, allocation-light readers for /proc.
 */
#include "procfs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

ssize_t procfs_read_fd(int fd, char *buf, size_t cap)
{
    size_t len = 0;

    while (len < cap) {
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        len += (size_t)n;
    }
    return (ssize_t)len;
}

ssize_t procfs_read(const char *path, char *buf, size_t cap)
{
    return procfs_readat(AT_FDCWD, path, buf, cap);
}

ssize_t procfs_readat(int dir, const char *path, char *buf, size_t cap)
{
    int fd = openat(dir, path, O_RDONLY | O_CLOEXEC);
    ssize_t n;

    if (fd < 0)
        return -1;
    n = procfs_read_fd(fd, buf, cap - 1);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    return n;
}

long procfs_count(const char *path)
{
    DIR *dir = opendir(path);
    struct dirent *d;
    long n = 0;

    if (!dir)
        return -1;
    while ((d = readdir(dir)))
        n += d->d_name[0] != '.';
    closedir(dir);
    return n;
}

char *procfs_slurp(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    size_t cap = 16384, used = 0;
    char *buf = NULL;

    if (fd < 0)
        return NULL;
    for (;;) {
        char *grown = realloc(buf, cap);
        ssize_t n;

        if (!grown)
            goto fail;
        buf = grown;
        n = procfs_read_fd(fd, buf + used, cap - 1 - used);
        if (n < 0)
            goto fail;
        used += (size_t)n;
        if (used < cap - 1)
            break;
        cap *= 2;
    }
    close(fd);
    buf[used] = '\0';
    if (len)
        *len = used;
    return buf;
fail:
    close(fd);
    free(buf);
    return NULL;
}

static int cmp_pid(const void *a, const void *b)
{
    pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;

    return (x > y) - (x < y);
}

struct linux_dirent64 {
    ino64_t d_ino;
    off64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

static int add_tid(pid_t **tids, size_t *n, size_t *cap, pid_t tid)
{
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 64;
        pid_t *grown = realloc(*tids, ncap * sizeof(pid_t));
        if (!grown)
            return -1;
        *tids = grown;
        *cap = ncap;
    }
    (*tids)[(*n)++] = tid;
    return 0;
}

/* getdents64 directly: opendir would allocate a DIR and buffer per call. */
int procfs_tids(pid_t **tids, size_t *n)
{
    char dbuf[16384];
    size_t cap = 0;
    int fd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    *tids = NULL;
    *n = 0;
    if (fd < 0)
        return -1;
    for (;;) {
        long got = syscall(SYS_getdents64, fd, dbuf, sizeof(dbuf));
        long off = 0;

        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            if (got < 0)
                goto fail;
            break;
        }
        while (off < got) {
            struct linux_dirent64 *d = (struct linux_dirent64 *)(dbuf + off);
            long tid = strtol(d->d_name, NULL, 10);
            if (tid > 0 && add_tid(tids, n, &cap, (pid_t)tid) < 0)
                goto fail;
            off += d->d_reclen;
        }
    }
    close(fd);
    if (*n)
        qsort(*tids, *n, sizeof(pid_t), cmp_pid);
    return 0;
fail:
    close(fd);
    free(*tids);
    *tids = NULL;
    *n = 0;
    return -1;
}

const char *procfs_field(const char *text, const char *name, size_t *len)
{
    size_t nlen = strlen(name);
    const char *p = text;

    while (p && *p) {
        if (!strncmp(p, name, nlen)) {
            const char *v = p + nlen, *end;
            while (*v == ' ' || *v == '\t')
                v++;
            end = strchr(v, '\n');
            *len = end ? (size_t)(end - v) : strlen(v);
            return v;
        }
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return NULL;
}
