/*
 * trigger_file.c - watch a trigger file with inotify, or poll it.
 *
 * Two watches in one inotify instance. The file's directory, for names
 * coming and going only (created, moved in or out, deleted) and for the
 * directory itself going: the file may not exist yet, may be deleted and
 * re-created, or replaced by a rename onto its name. And, while it exists,
 * the file itself, for writes and touches. One watch on the directory for
 * writes too would do, but it wakes us for every write to every file in
 * it (a busy /tmp: dozens of times a second, in every preloaded process).
 * inotify cannot filter by name, so another file created in the directory
 * still wakes us; another file written does not. Each name event for our
 * name re-aims the file watch at what the name holds now: a new inode
 * after a rename or re-creation, none after a deletion (the inode may
 * live on under another name: its writes are not ours any more). Where
 * the file exists but cannot be watched itself (we may not read it, or it
 * is a directory), the directory is watched for writes too, as it always
 * was, and we say so once.
 *
 * If the directory is missing, we watch its nearest existing ancestor for
 * the next path component, and walk down as directories appear. The file
 * created or moved in, written (IN_MODIFY, IN_CLOSE_WRITE) or touched is
 * a trigger; IN_ATTRIB only if the mtime changed, for it comes with a new
 * link count too (a hard link made, or the file deleted). The events one
 * `touch` produces come within microseconds, and we count them as one: we
 * wait until no event has come for QUIET_MS (a busy machine may preempt
 * `touch` between its open and its close), for at most SETTLE_MAX_MS.
 * When the queue overflows, both watches are placed again and the file's
 * state decides.
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

#include "base/fdtable.h"
#include "base/log.h"
#include "base/procfs.h"

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
#define FILE_EVENTS   (IN_ATTRIB | IN_CLOSE_WRITE | IN_MODIFY)              /* touched or written */
#define NAME_EVENTS   (IN_CREATE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM) /* names come and go */
#define SELF_EVENTS   (IN_DELETE_SELF | IN_MOVE_SELF) /* the watched inode goes */

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

/* What the directory watch listens for (see the top of this file). */
static uint32_t dir_mask(const struct trigger_file *tf)
{
    if (!watching_final_dir(tf))
        return IN_ONLYDIR | SELF_EVENTS | IN_CREATE | IN_MOVED_TO;
    return IN_ONLYDIR | SELF_EVENTS | NAME_EVENTS | (tf->dir_full ? FILE_EVENTS : 0);
}

/* Watches the file itself: 0, or why not (ENOENT: it is not there). */
static int add_file_watch(struct trigger_file *tf)
{
    struct stat st;
    int wd;

    tf->file_wd = -1;
    if (!watching_final_dir(tf))
        return ENOENT;
    if (stat(tf->path, &st) < 0)
        return errno;
    if (S_ISDIR(st.st_mode))
        return EISDIR; /* its watch would wake us for each of its children */
    wd = inotify_add_watch(tf->fd, tf->path, FILE_EVENTS | SELF_EVENTS);
    if (wd < 0)
        return errno;
    if (wd == tf->wd)
        return EISDIR; /* now a link to the directory: that watch lost its mask */
    tf->file_wd = wd;
    return 0;
}

/* Points the file watch at what the name holds now: a file (maybe a new
   one, after a rename onto the name), or nothing. */
static void watch_file(struct trigger_file *tf)
{
    int old = tf->file_wd, err = add_file_watch(tf);
    int full = err && err != ENOENT && err != ENOTDIR;

    if (old >= 0 && old != tf->file_wd)
        inotify_rm_watch(tf->fd, old);
    if (full && !tf->said_full) {
        log_msg("GMR_TRIGGER_FILE=%s: cannot watch the file itself (%s); watching every change "
                "in %s",
                tf->path, strerror(err), tf->watched);
        tf->said_full = 1;
    }
    if (!full && !tf->dir_full)
        return;
    tf->dir_full = full;
    inotify_add_watch(tf->fd, tf->watched, dir_mask(tf)); /* same directory: same wd */
}

/* Points the directory watch at the nearest existing directory, and the
   file watch at the file. */
static void place_watch(struct trigger_file *tf)
{
    char dir[PATH_MAX];
    struct stat st;
    int wd;

    nearest_dir(tf->path, dir, sizeof(dir));
    snprintf(tf->watched, sizeof(tf->watched), "%s", dir);
    if (!watching_final_dir(tf) && !tf->said_missing) {
        parent_of(tf->path, dir, sizeof(dir));
        log_msg("GMR_TRIGGER_FILE=%s: directory %s does not exist (yet); watching %s for it",
                tf->path, dir, tf->watched);
        tf->said_missing = 1;
    }
    wd = inotify_add_watch(tf->fd, tf->watched, dir_mask(tf));
    if (wd < 0 || stat(tf->watched, &st) < 0) {
        char why[128];
        snprintf(why, sizeof(why), "%s", strerror(errno));
        start_polling(tf, why);
        return;
    }
    if (tf->wd >= 0 && tf->wd != wd)
        inotify_rm_watch(tf->fd, tf->wd); /* the directory before: an ancestor, or gone */
    tf->wd = wd;
    tf->watched_dev = st.st_dev;
    tf->watched_ino = st.st_ino;
    watch_file(tf);
}

static void start_inotify(struct trigger_file *tf)
{
    struct f_owner_ex owner = {F_OWNER_TID, (pid_t)syscall(SYS_gettid)};

    tf->wd = -1;
    tf->file_wd = -1;
    tf->dir_full = 0;
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
    tf->file_wd = -1;
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
    snprintf(path, sizeof(path), "%s/fdinfo/%d", fdtable_proc_dir(), tf->fd);
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
    int ours;   /* the file was created, moved in or written */
    int attrib; /* its attributes changed: a touch if its mtime did */
    int moved;  /* the watched directory changed: re-place the watches */
    int overflow;
};

static void file_event(struct trigger_file *tf, uint32_t mask, struct drained *d)
{
    if (mask & (IN_CLOSE_WRITE | IN_MODIFY))
        d->ours = 1;
    if (mask & IN_ATTRIB)
        d->attrib = 1;
    if (mask & (SELF_EVENTS | IN_IGNORED))
        watch_file(tf); /* it went: drop its watch, or watch what the name holds now */
}

static void dir_event(struct trigger_file *tf, const struct inotify_event *ev, struct drained *d)
{
    const char *name = ev->len ? ev->name : "";
    char next[NAME_MAX + 1];

    if (ev->mask & (SELF_EVENTS | IN_IGNORED)) {
        d->moved = 1; /* the watched directory went */
        return;
    }
    if (!watching_final_dir(tf)) {
        if (!strcmp(name, next_component(tf, next, sizeof(next))))
            d->moved = 1; /* the next directory on the way came */
        return;
    }
    if (strcmp(name, last_part(tf->path)))
        return; /* another name came or went */
    if (ev->mask & (IN_CREATE | IN_MOVED_TO))
        d->ours = 1;
    if (ev->mask & NAME_EVENTS)
        watch_file(tf); /* now, so that the old file's later events are not ours */
    else
        file_event(tf, ev->mask, d); /* dir_full: the directory reports the writes */
}

static void drain(struct trigger_file *tf, struct drained *d)
{
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    ssize_t n;

    while ((n = read(tf->fd, buf, sizeof(buf))) > 0) {
        char *p;
        for (p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;

            p += sizeof(*ev) + ev->len;
            if (ev->mask & IN_Q_OVERFLOW) /* its wd is -1, as file_wd may be */
                d->overflow = 1;
            else if (ev->wd == tf->wd)
                dir_event(tf, ev, d);
            else if (ev->wd == tf->file_wd)
                file_event(tf, ev->mask, d);
        }
    }
}

/* Lets the rest of one `touch` (create, attrib, close) arrive and drops it. */
static void settle(struct trigger_file *tf)
{
    struct pollfd p = {tf->fd, POLLIN, 0};
    struct drained late = {0, 0, 0, 0};
    int waited;

    for (waited = 0; waited < SETTLE_MAX_MS; waited += QUIET_MS)
        if (poll(&p, 1, QUIET_MS) > 0)
            drain(tf, &late);
        else
            break;
    if (late.moved || late.overflow)
        place_watch(tf); /* the triggers are dropped, but not where to watch */
}

int trigger_file_check(struct trigger_file *tf)
{
    struct drained d = {0, 0, 0, 0};

    if (!tf->path[0])
        return 0;
    if (tf->polling)
        return state_changed(tf);
    if (!fd_is_ours(tf)) {
        start_inotify(tf);
        return state_changed(tf);
    }
    drain(tf, &d);
    if (d.moved || d.overflow) {
        place_watch(tf);
        if (tf->polling)
            return state_changed(tf);
        /* The file may have been created or touched while no watch saw it. */
        d.ours |= watching_final_dir(tf) && state_changed(tf);
    }
    if (d.attrib && !d.ours)
        d.ours = state_changed(tf); /* a touch; not a link count (ln, rm) */
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
