/*
 * sink.c - write a report whole, to a file, the journal or stderr.
 *
 * Files: the directory is opened once per report and everything else is
 * relative to that descriptor, so a path component swapped for a symlink
 * mid-way cannot redirect us. The report is written to an unnamed file
 * (O_TMPFILE) and given its name once complete, with linkat through
 * /proc/self/fd: nothing is visible before it is whole, and a process
 * that dies mid-way (exit() in another thread) leaves nothing behind.
 * linkat never replaces a name, so an existing report or a planted
 * symlink only moves us to the next counter.
 *
 * Where the file system has no O_TMPFILE (FUSE, NFS) or the unnamed file
 * cannot be linked (no /proc), a hidden temporary name is written and
 * renamed into place: it starts with a dot and does not match the report
 * glob, and renameat2(RENAME_NOREPLACE) refuses to replace an existing
 * report (link(2) does the same job where that is missing). Such a file
 * outlives a process that dies mid-way, so each report first removes the
 * stale ones: .gmr-<pid>-<16 hex>.tmp regular files of our user, whose
 * writer is gone (no such pid here, or our own pid: we write one report
 * at a time) and that were untouched for a minute, or that were untouched
 * for ten minutes whatever the pid (a writer in another pid namespace
 * sharing the directory has a pid that means nothing here).
 *
 * Each report file written, the service's oldest beyond GMR_MAX_REPORTS
 * go (retention.c). The journal has a file of its own (sink_journal.c).
 *
 * A broken pipe on stderr raises SIGPIPE in the writing thread; the
 * watcher blocks every signal, so write fails with EPIPE instead and we
 * discard the pending signal.
 */
#include "sink.h"

#include "base/fdtable.h"
#include "base/log.h"
#include "retention.h"
#include "base/timefmt.h"
#include "base/users.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_COUNTER  1000
#define STALE_DEAD_S 60  /* a temporary file whose writer is gone, untouched this long */
#define STALE_ANY_S  600 /* any temporary file untouched this long */
#define TEMP_HEX     16

static int safe_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-' || c == '+' || c == '@';
}

/* The service name as it shows in file names (see sink.h). */
static void safe_service(char *safe, size_t len, const char *service)
{
    size_t i;

    for (i = 0; i < len - 1 && service[i]; i++)
        safe[i] = safe_char(service[i]) && !(i == 0 && service[i] == '.') ? service[i] : '_';
    safe[i] = '\0';
    if (!i)
        snprintf(safe, len, "process");
}

size_t sink_file_name(char *out, size_t len, const struct sink_target *t, unsigned n)
{
    char stamp[15], safe[80];
    int w;

    safe_service(safe, sizeof(safe), t->service);
    time_stamp(t->when, stamp);
    if (n)
        w = snprintf(out, len, "%s_gurumeditation_%s_%d.%u%s", safe, stamp, (int)t->pid, n,
                     t->json ? ".json" : "");
    else
        w = snprintf(out, len, "%s_gurumeditation_%s_%d%s", safe, stamp, (int)t->pid,
                     t->json ? ".json" : "");
    return w > 0 && (size_t)w < len ? (size_t)w : 0;
}

int sink_write_all(int fd, const char *data, size_t len)
{
    while (len) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

static void drop_sigpipe(void)
{
    struct timespec zero = {0, 0};
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    while (sigtimedwait(&set, NULL, &zero) > 0)
        ;
}

static void to_stderr(const struct buf *report)
{
    int fd = fdtable_get_stderr();

    if (fd < 0)
        return;
    if (sink_write_all(fd, report->data, report->len) < 0 && errno == EPIPE)
        drop_sigpipe();
    fdtable_put_stderr(fd);
}

/* mkdir -p with mode 0700 for the directories it creates. */
static int make_dirs(const char *path)
{
    char tmp[PATH_MAX];
    size_t i, n = strlen(path);

    if (n == 0 || n >= sizeof(tmp))
        return -1;
    memcpy(tmp, path, n + 1);
    for (i = 1; i <= n; i++) {
        if (tmp[i] != '/' && tmp[i] != '\0')
            continue;
        tmp[i] = '\0';
        if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
            return -1;
        tmp[i] = i < n ? '/' : '\0';
    }
    return 0;
}

static int place(int dir, const char *tmp, const struct sink_target *t, char *name, size_t len)
{
    unsigned n;

    for (n = 0; n < MAX_COUNTER; n++) {
        if (!sink_file_name(name, len, t, n)) {
            errno = ENAMETOOLONG;
            return -1;
        }
        if (renameat2(dir, tmp, dir, name, RENAME_NOREPLACE) == 0)
            return 0;
        if (errno == EEXIST)
            continue;
        if (errno != EINVAL && errno != ENOSYS)
            return -1;
        /* No RENAME_NOREPLACE here: link refuses to replace, too. */
        if (linkat(dir, tmp, dir, name, 0) == 0) {
            unlinkat(dir, tmp, 0);
            return 0;
        }
        if (errno != EEXIST)
            return -1;
    }
    errno = EEXIST;
    return -1;
}

/* A hidden name nobody can guess and plant a link at beforehand. */
static void temp_name(char *out, size_t len, pid_t pid)
{
    static unsigned seq;
    unsigned long long r = 0;

    if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
        r = (unsigned long long)time(NULL) << 20 ^ (unsigned long long)++seq;
    snprintf(out, len, ".gmr-%d-%0*llx.tmp", (int)pid, TEMP_HEX, r);
}

/* The pid in a name temp_name makes, or 0 if the name is not one. */
static pid_t temp_pid(const char *s)
{
    long pid = 0;
    int i;

    if (strncmp(s, ".gmr-", 5) != 0)
        return 0;
    s += 5;
    if (*s < '1' || *s > '9')
        return 0;
    for (; *s >= '0' && *s <= '9'; s++)
        if ((pid = pid * 10 + (*s - '0')) > INT32_MAX)
            return 0;
    if (*s++ != '-')
        return 0;
    for (i = 0; i < TEMP_HEX; i++, s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return 0;
    return strcmp(s, ".tmp") == 0 ? (pid_t)pid : 0;
}

static int stale(int dir, const char *name, pid_t me, time_t now)
{
    pid_t pid = temp_pid(name);
    struct stat st;
    time_t idle;

    if (!pid || fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode) ||
        st.st_uid != geteuid())
        return 0;
    idle = now - st.st_mtime;
    if (idle >= STALE_ANY_S)
        return 1;
    return idle >= STALE_DEAD_S && (pid == me || (kill(pid, 0) < 0 && errno == ESRCH));
}

/* Removes the temporary files that dead writers left (see the top). */
static void remove_stale(int dir, pid_t me)
{
    union {
        char bytes[4096];
        struct dirent64 align;
    } buf;
    time_t now = time(NULL);
    ssize_t n, off;

    if (lseek(dir, 0, SEEK_SET) < 0)
        return;
    while ((n = getdents64(dir, buf.bytes, sizeof(buf.bytes))) > 0)
        for (off = 0; off < n;) {
            const struct dirent64 *d = (const struct dirent64 *)(buf.bytes + off);

            off += d->d_reclen;
            if ((d->d_type == DT_REG || d->d_type == DT_UNKNOWN) && stale(dir, d->d_name, me, now))
                unlinkat(dir, d->d_name, 0); /* removes the name, follows nothing */
        }
}

/* Gives the unnamed file its report name: the first of the counter's
   names that is free. Returns 0, -1 (errno) on a real failure, or 1 when
   unnamed files cannot be linked here (no /proc). */
static int link_unnamed(int dir, int fd, const struct sink_target *t, char *name, size_t len)
{
    char proc[32];
    unsigned n;

    snprintf(proc, sizeof(proc), "%s/fd/%d", fdtable_proc_dir(), fd);
    for (n = 0; n < MAX_COUNTER; n++) {
        if (!sink_file_name(name, len, t, n)) {
            errno = ENAMETOOLONG;
            return -1;
        }
        if (linkat(AT_FDCWD, proc, dir, name, AT_SYMLINK_FOLLOW) == 0)
            return 0;
        if (errno == EEXIST)
            continue;
        if (errno != ENOENT && errno != EACCES && errno != EPERM)
            return -1;
        /* No /proc, or not ours to read: AT_EMPTY_PATH, where we may. */
        if (linkat(fd, "", dir, name, AT_EMPTY_PATH) == 0)
            return 0;
        if (errno == EEXIST)
            continue;
        return 1;
    }
    errno = EEXIST;
    return -1;
}

/* The report as an unnamed file, named once whole. 0, -1, or 1: cannot
   link it (the caller falls back to a temporary name). */
static int unnamed_file(int dir, int fd, const struct sink_target *t, const struct buf *report,
                        char *name, size_t len, const char **step)
{
    int rc, err;

    *step = "cannot write the report file";
    if (sink_write_all(fd, report->data, report->len) < 0)
        goto fail;
    *step = "cannot name the report file";
    rc = link_unnamed(dir, fd, t, name, len);
    if (rc != 0)
        goto fail_rc;
    if (close(fd) < 0) {
        err = errno;
        unlinkat(dir, name, 0);
        errno = err;
        *step = "cannot write the report file";
        return -1;
    }
    return 0;
fail:
    rc = -1;
fail_rc:
    err = errno;
    close(fd); /* the unnamed file goes with it */
    errno = err;
    return rc;
}

/* The report under a hidden temporary name, renamed into place. */
static int named_file(int dir, const struct sink_target *t, const struct buf *report, char *name,
                      size_t len, const char **step)
{
    char tmp[64];
    int fd, err;

    temp_name(tmp, sizeof(tmp), t->pid);
    *step = "cannot create a report file";
    fd = openat(dir, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    *step = "cannot write the report file";
    if (sink_write_all(fd, report->data, report->len) < 0) {
        err = errno;
        close(fd);
        errno = err;
        goto fail_tmp;
    }
    if (close(fd) < 0)
        goto fail_tmp;
    *step = "cannot name the report file";
    if (place(dir, tmp, t, name, len) == 0)
        return 0;
fail_tmp:
    err = errno;
    unlinkat(dir, tmp, 0);
    errno = err;
    return -1;
}

static int to_file(const struct sink_target *t, const struct buf *report, char *written, size_t len,
                   const char **step)
{
    char name[NAME_MAX + 1];
    int dir, fd, rc = 1, err;

    *step = "cannot create the log directory";
    if (make_dirs(t->log_dir) < 0)
        return -1;
    *step = "cannot open the log directory";
    dir = open(t->log_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0)
        return -1;
    remove_stale(dir, t->pid);
    /* Any failure to create it (no O_TMPFILE here: EOPNOTSUPP, EISDIR,
       EINVAL...) tries the temporary name, which says what is wrong. */
    fd = openat(dir, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
    if (fd >= 0)
        rc = unnamed_file(dir, fd, t, report, name, sizeof(name), step);
    if (rc > 0)
        rc = named_file(dir, t, report, name, sizeof(name), step);
    err = errno;
    if (rc == 0) {
        char safe[80];

        safe_service(safe, sizeof(safe), t->service);
        retention_prune(dir, safe, t->max_reports, name);
    }
    close(dir);
    errno = err;
    if (rc < 0)
        return -1;
    snprintf(written, len, "%s/%s", t->log_dir, name);
    return 0;
}

/* The log dir is not ours to write: say who needs to be let in (a
   worker that dropped root, say), not just "Permission denied". */
static void file_failed(const struct sink_target *t, const char *step)
{
    char user[64] = "";
    int err = errno;
    uid_t uid = geteuid();

    if (err != EACCES && err != EPERM) {
        log_msg("%s in %s (%s); writing the report to stderr", step, t->log_dir, strerror(err));
        return;
    }
    user_name(uid, user, sizeof(user));
    log_msg("%s in %s (%s): make %s writable by uid %u%s%s%s; writing the report to stderr", step,
            t->log_dir, strerror(err), t->log_dir, (unsigned)uid, user[0] ? " (" : "", user,
            user[0] ? ")" : "");
}

int sink_write(const struct sink_target *t, const struct buf *report, char *written, size_t len)
{
    enum cfg_output output = t->output;
    const char *step;

    written[0] = '\0';
    if (report->failed) {
        log_msg("out of memory while writing the report");
        return -1;
    }
    if (output == OUTPUT_AUTO)
        output = t->log_dir && t->log_dir[0] ? OUTPUT_FILES : OUTPUT_STDERR;
    if (output == OUTPUT_JOURNAL) {
        if (journal_send(t, report, &step) == 0)
            return 0;
        log_msg("%s (%s); writing the report to stderr", step, strerror(errno));
    } else if (output == OUTPUT_FILES && t->log_dir && t->log_dir[0]) {
        if (to_file(t, report, written, len, &step) == 0)
            return 0;
        file_failed(t, step);
    }
    to_stderr(report);
    return 0;
}
