/*
 * trigger_file.c - watch a trigger file with inotify, or poll it.
 *
 * We watch the file's directory, not the file: the file may not exist
 * yet, and may be deleted and re-created. If the directory is missing too,
 * we watch its nearest existing ancestor for the next path component, and
 * walk down as directories appear. An event on our name (created, moved
 * in, written, touched) is a trigger; the events one `touch` produces come
 * within microseconds, and we count them
 * as one: we wait until no event has come for QUIET_MS (a busy machine may
 * preempt `touch` between its open and its close), for at most
 * SETTLE_MAX_MS.
 *
 * The inotify descriptor is the one descriptor libgmr keeps open, and a
 * daemonizing host may close it or dup2() something over it, even open
 * its own inotify instance at the same number watching the same
 * directory. So the instance carries a mark no host's would: its owner
 * (F_SETOWN_EX, which without O_ASYNC sends nothing) is the watcher
 * thread that made it. Before we read it (or close it) we check the mark,
 * and, where /proc/self/fdinfo is readable, that it holds our watch; if
 * not, it is the host's now: we leave it alone, start a new instance, and
 * decide by the file's own state whether a trigger was missed meanwhile.
 */
#include "trigger_file.h"

#include "log.h"
#include "procfs.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/syscall.h>
#include <unistd.h>

#define QUIET_MS      50 /* a touch is over when its events stop for this long */
#define SETTLE_MAX_MS 1000
#define FILE_EVENTS   (IN_CREATE | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_TO | IN_MODIFY)
#define DIR_EVENTS    (IN_DELETE_SELF | IN_MOVE_SELF)

static const char *last_part(const char *path)
{
    const char *slash = strrchr(path, '/');

    return slash ? slash + 1 : path;
}

/* dirname into out ("/" for a top-level entry). */
static void parent_of(const char *path, char *out, size_t len)
{
    const char *slash = strrchr(path, '/');

    if (!slash || slash == path)
        snprintf(out, len, "/");
    else
        snprintf(out, len, "%.*s", (int)(slash - path), path);
}

static int watching_final_dir(const struct trigger_file *tf)
{
    char dir[PATH_MAX];

    parent_of(tf->path, dir, sizeof(dir));
    return !strcmp(dir, tf->watched);
}

/* The path component below `watched` on the way to the file. */
static const char *next_component(const struct trigger_file *tf, char *out, size_t len)
{
    size_t n = strlen(tf->watched);
    const char *rest = tf->path + (n == 1 ? 1 : n + 1), *slash = strchr(rest, '/');

    snprintf(out, len, "%.*s", slash ? (int)(slash - rest) : (int)strlen(rest), rest);
    return out;
}

static void remember_state(struct trigger_file *tf)
{
    struct stat st;

    tf->exists = stat(tf->path, &st) == 0;
    tf->mtime = tf->exists ? st.st_mtim : (struct timespec){0, 0};
    tf->ino = tf->exists ? st.st_ino : 0;
}

/* Did the file appear or change since remember_state? */
static int state_changed(struct trigger_file *tf)
{
    int was = tf->exists;
    struct timespec mtime = tf->mtime;
    ino_t ino = tf->ino;

    remember_state(tf);
    if (!tf->exists)
        return 0;
    return !was || ino != tf->ino || mtime.tv_sec != tf->mtime.tv_sec ||
           mtime.tv_nsec != tf->mtime.tv_nsec;
}

/* Only called while tf->fd is known to be ours (fresh, or checked). */
static void start_polling(struct trigger_file *tf, const char *why)
{
    if (tf->fd >= 0)
        close(tf->fd);
    log_msg("GMR_TRIGGER_FILE=%s: inotify unavailable (%s); checking the file every %ld.%03ld s",
            tf->path, why, tf->interval_ms / 1000, tf->interval_ms % 1000);
    tf->polling = 1;
    tf->fd = -1;
}

/* The deepest existing directory on the way to the file. */
static void nearest_dir(const char *path, char *out, size_t len)
{
    struct stat st;

    parent_of(path, out, len);
    while (strcmp(out, "/") && (stat(out, &st) < 0 || !S_ISDIR(st.st_mode))) {
        char up[PATH_MAX];
        parent_of(out, up, sizeof(up));
        snprintf(out, len, "%s", up);
    }
}

/* Points the (single) watch at the nearest existing directory. */
static void place_watch(struct trigger_file *tf)
{
    char dir[PATH_MAX];
    struct stat st;
    uint32_t mask;
    int wd;

    nearest_dir(tf->path, dir, sizeof(dir));
    if (tf->wd >= 0 && strcmp(dir, tf->watched))
        inotify_rm_watch(tf->fd, tf->wd);
    snprintf(tf->watched, sizeof(tf->watched), "%s", dir);
    if (!watching_final_dir(tf) && !tf->said_missing) {
        parent_of(tf->path, dir, sizeof(dir));
        log_msg("GMR_TRIGGER_FILE=%s: directory %s does not exist (yet); watching %s for it",
                tf->path, dir, tf->watched);
        tf->said_missing = 1;
    }
    mask =
        DIR_EVENTS | IN_ONLYDIR | (watching_final_dir(tf) ? FILE_EVENTS : IN_CREATE | IN_MOVED_TO);
    wd = inotify_add_watch(tf->fd, tf->watched, mask);
    if (wd < 0 || stat(tf->watched, &st) < 0) {
        char why[128];
        snprintf(why, sizeof(why), "%s", strerror(errno));
        start_polling(tf, why);
        return;
    }
    tf->wd = wd;
    tf->watched_dev = st.st_dev;
    tf->watched_ino = st.st_ino;
}

static void start_inotify(struct trigger_file *tf)
{
    struct f_owner_ex owner = {F_OWNER_TID, (pid_t)syscall(SYS_gettid)};

    tf->wd = -1;
    tf->watched[0] = '\0';
    tf->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (tf->fd < 0) {
        int err = errno;
        start_polling(tf, strerror(err));
        return;
    }
    if (fcntl(tf->fd, F_SETOWN_EX, &owner) < 0) {
        int err = errno;
        start_polling(tf, strerror(err));
        return;
    }
    tf->owner = owner.pid;
    place_watch(tf);
}

void trigger_file_open(struct trigger_file *tf, const char *path, long interval_ms)
{
    memset(tf, 0, sizeof(*tf));
    tf->fd = -1;
    tf->wd = -1;
    tf->interval_ms = interval_ms;
    if (!path || !path[0])
        return;
    snprintf(tf->path, sizeof(tf->path), "%s", path);
    remember_state(tf);
    start_inotify(tf);
}

/* Is tf->fd still our inotify instance (see the top of this file)? */
static int fd_is_ours(const struct trigger_file *tf)
{
    struct f_owner_ex owner;
    char path[64], text[4096];
    const char *line;
    unsigned wd;
    unsigned long ino;

    if (tf->fd < 0 || fcntl(tf->fd, F_GETOWN_EX, &owner) < 0)
        return 0;
    if (owner.type != F_OWNER_TID || owner.pid != tf->owner)
        return 0;
    snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", tf->fd);
    if (procfs_read(path, text, sizeof(text)) < 0)
        return 1; /* no /proc (a chroot, say): the mark alone decides */
    for (line = strstr(text, "inotify wd:"); line; line = strstr(line + 1, "inotify wd:"))
        if (sscanf(line, "inotify wd:%x ino:%lx", &wd, &ino) == 2 && (int)wd == tf->wd &&
            ino == (unsigned long)tf->watched_ino)
            return 1;
    return 0;
}

int trigger_file_fd(struct trigger_file *tf)
{
    if (!tf->path[0] || tf->polling)
        return -1;
    if (!fd_is_ours(tf)) {
        /* None yet (after fork), or closed or reused by the host: in that
           case it is not ours to touch any more. */
        start_inotify(tf);
        if (tf->polling)
            return -1;
    }
    return tf->fd;
}

long trigger_file_wait_ms(const struct trigger_file *tf)
{
    return tf->path[0] && tf->polling ? tf->interval_ms : -1;
}

struct drained {
    int ours;  /* an event on the trigger file */
    int moved; /* the watched directory changed: re-place the watch */
    int overflow;
};

static void drain(struct trigger_file *tf, struct drained *d)
{
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    char next[NAME_MAX + 1];
    int final = watching_final_dir(tf);
    ssize_t n;

    if (!final)
        next_component(tf, next, sizeof(next));
    while ((n = read(tf->fd, buf, sizeof(buf))) > 0) {
        char *p;
        for (p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            const char *name = ev->len ? ev->name : "";

            p += sizeof(*ev) + ev->len;
            if (ev->mask & IN_Q_OVERFLOW)
                d->overflow = 1;
            if (ev->wd != tf->wd)
                continue;
            if ((ev->mask & (DIR_EVENTS | IN_IGNORED)) || (!final && !strcmp(name, next)))
                d->moved = 1; /* the watched directory went, or the next one came */
            else if (final && !strcmp(name, last_part(tf->path)))
                d->ours = 1;
        }
    }
}

/* Lets the rest of one `touch` (create, attrib, close) arrive and drops it. */
static void settle(struct trigger_file *tf)
{
    struct pollfd p = {tf->fd, POLLIN, 0};
    struct drained ignored = {0, 0, 0};
    int waited;

    for (waited = 0; waited < SETTLE_MAX_MS; waited += QUIET_MS)
        if (poll(&p, 1, QUIET_MS) > 0)
            drain(tf, &ignored);
        else
            break;
}

int trigger_file_check(struct trigger_file *tf)
{
    struct drained d = {0, 0, 0};

    if (!tf->path[0])
        return 0;
    if (tf->polling)
        return state_changed(tf);
    if (!fd_is_ours(tf)) {
        start_inotify(tf);
        return state_changed(tf);
    }
    drain(tf, &d);
    if (d.moved) {
        place_watch(tf);
        if (tf->polling)
            return state_changed(tf);
        /* The file may have been created before the new watch was in place. */
        d.ours |= watching_final_dir(tf) && state_changed(tf);
    }
    if (d.overflow)
        d.ours |= state_changed(tf);
    if (!d.ours)
        return 0;
    settle(tf);
    remember_state(tf);
    return 1;
}

void trigger_file_after_fork(struct trigger_file *tf)
{
    /* The child shares the parent's instance: reading it would steal the
       parent's events. Close the child's copy, if it is still ours; the
       child's watcher starts its own (trigger_file_fd finds none). */
    if (tf->fd >= 0 && fd_is_ours(tf))
        close(tf->fd);
    tf->fd = -1;
}
