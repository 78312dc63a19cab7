/*
 * fdtable.c - the watcher's own descriptor table (see fdtable.h).
 *
 * fdtable_get_stderr runs in host threads too, in signal handlers
 * (log_raw): there it is plain descriptor 2. Only the watcher itself,
 * recognised by its tid, goes through pidfd_getfd. The table is made
 * private before anything is opened in it: the host's table is never
 * touched, not even for a moment at start-up (the host's first descriptor
 * keeps its number).
 */
#include "fdtable.h"

#include "lowlevel.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
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

int fdtable_get_stderr(void)
{
    int saved = errno, fd = -1;

    if (!fdtable_is_private())
        return 2;
    if (pidfd >= 0)
        fd = (int)syscall(SYS_pidfd_getfd, pidfd, 2, 0);
    /* No pidfd_getfd (before Linux 5.6, or filtered): open what the host's
       2 is anew, a pipe, a terminal or a file (appended to); not a socket. */
    if (fd < 0 && errno != EBADF)
        fd = open("/proc/self/fd/2", O_WRONLY | O_APPEND | O_NOCTTY | O_CLOEXEC);
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
