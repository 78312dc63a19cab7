/*
 * sink.c - write a report whole, to a file or to stderr.
 *
 * Files: the directory is opened once per report and everything else is
 * relative to that descriptor, so a path component swapped for a symlink
 * mid-way cannot redirect us. The temporary name starts with a dot and
 * does not match the report glob, so readers never see half a report.
 * renameat2(RENAME_NOREPLACE) refuses to replace an existing report; on
 * file systems without it, link(2) does the same job.
 *
 * A broken pipe on stderr raises SIGPIPE in the writing thread; the
 * watcher blocks every signal, so write fails with EPIPE instead and we
 * discard the pending signal.
 */
#include "sink.h"

#include "log.h"
#include "timefmt.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_COUNTER 1000

static int safe_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-' || c == '+' || c == '@';
}

size_t sink_file_name(char *out, size_t len, const struct sink_target *t, unsigned n)
{
    char stamp[15], safe[80];
    size_t i;
    int w;

    for (i = 0; i < sizeof(safe) - 1 && t->service[i]; i++)
        safe[i] =
            safe_char(t->service[i]) && !(i == 0 && t->service[i] == '.') ? t->service[i] : '_';
    safe[i] = '\0';
    if (!i)
        snprintf(safe, sizeof(safe), "process");
    time_stamp(t->when, stamp);
    if (n)
        w = snprintf(out, len, "%s_gurumeditation_%s_%d.%u%s", safe, stamp, (int)t->pid, n,
                     t->json ? ".json" : "");
    else
        w = snprintf(out, len, "%s_gurumeditation_%s_%d%s", safe, stamp, (int)t->pid,
                     t->json ? ".json" : "");
    return w > 0 && (size_t)w < len ? (size_t)w : 0;
}

static int write_all(int fd, const char *data, size_t len)
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
    if (write_all(STDERR_FILENO, report->data, report->len) < 0 && errno == EPIPE)
        drop_sigpipe();
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
    snprintf(out, len, ".gmr-%d-%016llx.tmp", (int)pid, r);
}

static int to_file(const struct sink_target *t, const struct buf *report, char *written, size_t len,
                   const char **step)
{
    char tmp[64], name[NAME_MAX + 1];
    int dir, fd, err;

    *step = "cannot create the log directory";
    if (make_dirs(t->log_dir) < 0)
        return -1;
    *step = "cannot open the log directory";
    dir = open(t->log_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0)
        return -1;
    temp_name(tmp, sizeof(tmp), t->pid);
    *step = "cannot create a report file";
    fd = openat(dir, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        goto fail_dir;
    *step = "cannot write the report file";
    if (write_all(fd, report->data, report->len) < 0) {
        err = errno;
        close(fd);
        errno = err;
        goto fail_tmp;
    }
    if (close(fd) < 0)
        goto fail_tmp;
    *step = "cannot name the report file";
    if (place(dir, tmp, t, name, sizeof(name)) < 0)
        goto fail_tmp;
    close(dir);
    snprintf(written, len, "%s/%s", t->log_dir, name);
    return 0;
fail_tmp:
    err = errno;
    unlinkat(dir, tmp, 0);
    errno = err;
fail_dir:
    err = errno;
    close(dir);
    errno = err;
    return -1;
}

int sink_write(const struct sink_target *t, const struct buf *report, char *written, size_t len)
{
    const char *step;

    written[0] = '\0';
    if (report->failed) {
        log_msg("out of memory while writing the report");
        return -1;
    }
    if (t->log_dir && t->log_dir[0]) {
        if (to_file(t, report, written, len, &step) == 0)
            return 0;
        log_msg("%s in %s (%s); writing the report to stderr", step, t->log_dir, strerror(errno));
    }
    to_stderr(report);
    return 0;
}
