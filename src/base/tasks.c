/*
 * tasks.c - SIGNAL CONTEXT (callable from). This process's threads, read
 * from /proc with open, getdents64, read and close only, into buffers the
 * caller provides (see tasks.h).
 *
 * Whether a signal would reach our handler: /proc/self/task/TID/status
 * gives the thread's blocked (SigBlk) and pending (SigPnd) sets. A thread
 * in sigwaitinfo() shows the signals it waits for as unblocked, but would
 * take ours as its own: /proc/self/task/TID/syscall says it is in
 * rt_sigtimedwait, and its first argument is the set it waits for, which
 * we read (without faulting) in our own memory.
 */
#include "tasks.h"

#include "buf.h"
#include "procfs.h"
#include "safecopy.h"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

struct dirent64_head {
    uint64_t ino;
    int64_t off;
    unsigned short reclen;
    unsigned char type;
    char name[];
};

int tasks_open(struct task_list *l)
{
    l->pos = l->len = 0;
    l->fd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return l->fd < 0 ? -1 : 0;
}

static pid_t parse_tid(const char *name)
{
    long v = 0;

    if (!*name)
        return 0;
    for (; *name; name++) {
        if (*name < '0' || *name > '9' || v > 100000000)
            return 0;
        v = v * 10 + (*name - '0');
    }
    return (pid_t)v;
}

pid_t tasks_next(struct task_list *l)
{
    for (;;) {
        const struct dirent64_head *d;
        pid_t tid;

        if (l->pos >= l->len) {
            l->len = syscall(SYS_getdents64, l->fd, l->buf, sizeof(l->buf));
            l->pos = 0;
            if (l->len <= 0)
                return l->len < 0 ? -1 : 0;
        }
        d = (const struct dirent64_head *)(l->buf + l->pos);
        if (d->reclen == 0 || l->pos + d->reclen > l->len)
            return -1;
        l->pos += d->reclen;
        tid = parse_tid(d->name);
        if (tid > 0)
            return tid;
    }
}

void tasks_rewind(struct task_list *l)
{
    lseek(l->fd, 0, SEEK_SET);
    l->pos = l->len = 0;
}

void tasks_close(struct task_list *l)
{
    if (l->fd >= 0)
        close(l->fd);
    l->fd = -1;
}

/* "TID/file", for openat on /proc/self/task (no snprintf in a handler). */
static void task_path(char out[40], pid_t tid, const char *file)
{
    size_t n = fmt_udec(out, (unsigned long long)tid);

    memcpy(out + n, file, strlen(file) + 1);
}

/* The bit of sig in a hex mask from a status file ("0000000000010000"). */
static int mask_has(const char *hex, size_t len, int sig)
{
    unsigned long long bits = 0;
    size_t i;

    for (i = 0; i < len && i < 16; i++) {
        char c = hex[i];
        unsigned v = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
                     : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                                            : 16;
        if (v == 16)
            break;
        bits = bits << 4 | v;
    }
    return sig > 0 && sig <= 64 && ((bits >> (sig - 1)) & 1);
}

static int field_has(const char *status, const char *name, int sig)
{
    size_t len;
    const char *v = procfs_field(status, name, &len);

    return v && mask_has(v, len, sig);
}

int task_syscall(int taskdir, pid_t tid, long *nr, unsigned long long *arg0)
{
    char path[40], text[256];
    const char *p;
    long n = 0;
    int neg = 0;

    task_path(path, tid, "/syscall");
    if (procfs_readat(taskdir, path, text, sizeof(text)) < 0)
        return -1;
    p = text;
    if (*p == '-') {
        neg = 1;
        p++;
    }
    if (*p < '0' || *p > '9')
        return -1; /* "running" */
    while (*p >= '0' && *p <= '9')
        n = n * 10 + (*p++ - '0');
    *nr = neg ? -n : n;
    *arg0 = 0;
    if (*p == ' ' && p[1] == '0' && p[2] == 'x')
        for (p += 3; (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'); p++)
            *arg0 = *arg0 << 4 | (unsigned)(*p <= '9' ? *p - '0' : *p - 'a' + 10);
    return 0;
}

/* Does the thread wait in sigtimedwait for a set that holds sig? When
   the set cannot be read, assume it does: better a thread not captured
   than a host handed a signal it did not ask for. */
static int sigwaits_for(int taskdir, pid_t tid, int sig)
{
    unsigned long long arg0, set = 0;
    long nr;

    if (task_syscall(taskdir, tid, &nr, &arg0) < 0)
        return -1;
    if (nr != SYS_rt_sigtimedwait)
        return 0;
    if (safe_copy(&set, (uintptr_t)arg0, sizeof(set), 1) != (ssize_t)sizeof(set))
        return 1;
    return (set >> (sig - 1)) & 1;
}

/* The blocked and pending sets of a status text. */
static enum task_reach masks(const char *status, int sig)
{
    if (field_has(status, "SigBlk:", sig))
        return REACH_BLOCKED;
    if (field_has(status, "SigPnd:", sig))
        return REACH_PENDING;
    return REACH_YES;
}

enum task_reach task_reach(int taskdir, pid_t tid, int sig, int *filtered)
{
    char path[40], status[4096];
    const char *v;
    size_t len;

    enum task_reach reach;
    int waits;

    task_path(path, tid, "/status");
    if (procfs_readat(taskdir, path, status, sizeof(status)) < 0)
        return REACH_GONE;
    v = procfs_field(status, "Seccomp:", &len);
    *filtered = !v || v[0] != '0';
    reach = masks(status, sig);
    if (reach != REACH_YES)
        return reach;
    waits = sigwaits_for(taskdir, tid, sig);
    if (waits >= 0)
        return waits ? REACH_SIGWAIT : REACH_YES;
    /* Running, between system calls: perhaps just out of a sigwaitinfo,
       and on its way into the next, its mask full again meanwhile. */
    if (procfs_readat(taskdir, path, status, sizeof(status)) < 0)
        return REACH_GONE;
    return masks(status, sig);
}

int task_in_vfork(int taskdir, pid_t tid)
{
    unsigned long long arg0, flags = 0;
    long nr;

    if (task_syscall(taskdir, tid, &nr, &arg0) < 0)
        return 0;
    if (nr == SYS_vfork)
        return 1;
    if (nr == SYS_clone)
        return (arg0 & CLONE_VFORK) != 0;
    if (nr == SYS_clone3) /* struct clone_args starts with the flags */
        return safe_copy(&flags, (uintptr_t)arg0, sizeof(flags), 1) == (ssize_t)sizeof(flags) &&
               (flags & CLONE_VFORK);
    return 0;
}
