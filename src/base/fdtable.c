/*
 * fdtable.c - the watcher's own descriptor table (see fdtable.h).
 *
 * fdtable_get_stderr runs in host threads too, in signal handlers
 * (log_raw): there it is plain descriptor 2, and nothing below runs. Only the watcher itself,
 * recognised by its tid, goes through pidfd_getfd. The table is made
 * private before anything is opened in it: the host's table is never
 * touched, not even for a moment at start-up (the host's first descriptor
 * keeps its number).
 */
#include "fdtable.h"

#include "lowlevel.h"
#include "tasks.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif
#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL /* Linux 6.9 */
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif

static _Atomic pid_t private_tid; /* the thread with a table of its own */
static int pidfd = -1;            /* this process, in that table */

/* Empties the private table (the host's files are not ours to keep
   open), then fills 0, 1 and 2 with /dev/null so that nothing a library
   writes there lands in a file of ours. */
static void empty_table(void)
{
    struct rlimit rl = {1024, 1024};
    unsigned last;
    int fd;

    getrlimit(RLIMIT_NOFILE, &rl);
    /* Not past the limit: valgrind keeps its own descriptors there. */
    last = rl.rlim_cur > 0 && rl.rlim_cur < RLIM_INFINITY ? (unsigned)rl.rlim_cur - 1 : ~0U;
    if (syscall(SYS_close_range, 0, last, 0) < 0)
        for (fd = 0; fd < 1024; fd++)
            close(fd);
    for (fd = 0; fd < 3; fd++)
        if (open("/dev/null", O_RDWR) != fd)
            break;
}

int fdtable_unshare(void)
{
    if (unshare(CLONE_FILES) < 0)
        return 0;
    empty_table();
    pidfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
    atomic_store(&private_tid, ll_gettid());
    return 1;
}

int fdtable_is_private(void)
{
    pid_t t = atomic_load(&private_tid);

    return t && t == ll_gettid();
}

/* Opens what the host's 2 is anew, through /proc: a pipe, a terminal or a
   file (appended to); not a socket. For want of pidfd_getfd. */
static int reopen(const char *dir)
{
    char path[64];

    snprintf(path, sizeof(path), "%s/fd/2", dir);
    return open(path, O_WRONLY | O_APPEND | O_NOCTTY | O_CLOEXEC);
}

/* The main thread has exited, and with it the table pidfd_getfd reads:
   another of the program's threads still has it. */
static int from_a_thread(void)
{
    pid_t me = ll_gettid(), tid;
    struct task_list l;
    char dir[48];
    int fd = -1, pfd;

    if (tasks_open(&l) < 0)
        return -1;
    while (fd < 0 && (tid = tasks_next(&l)) > 0) {
        if (tid == me)
            continue;
        pfd = (int)syscall(SYS_pidfd_open, tid, PIDFD_THREAD);
        if (pfd >= 0) {
            fd = (int)syscall(SYS_pidfd_getfd, pfd, 2, 0);
            close(pfd);
        }
        if (fd < 0) {
            snprintf(dir, sizeof(dir), "/proc/self/task/%d", (int)tid);
            fd = reopen(dir);
        }
    }
    tasks_close(&l);
    return fd;
}

int fdtable_get_stderr(void)
{
    int saved = errno, fd = -1;

    if (!fdtable_is_private())
        return 2;
    if (pidfd >= 0)
        fd = (int)syscall(SYS_pidfd_getfd, pidfd, 2, 0);
    if (fd < 0 && errno == ESRCH)
        fd = from_a_thread();
    else if (fd < 0 && errno != EBADF) /* no pidfd_getfd: before Linux 5.6, or filtered */
        fd = reopen("/proc/self");
    errno = saved;
    return fd;
}

void fdtable_put_stderr(int fd)
{
    if (fd > 2 && fdtable_is_private())
        close(fd);
}

const char *fdtable_proc_dir(void)
{
    return fdtable_is_private() ? "/proc/thread-self" : "/proc/self";
}

void fdtable_after_fork(void)
{
    atomic_store(&private_tid, 0);
    pidfd = -1;
}
