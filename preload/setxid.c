/*
 * setxid.c - LD_PRELOAD glue: setuid() and its kin, with the watcher
 * following the caller's credentials.
 *
 * glibc makes a credential change process-wide by having every thread
 * make the call, and aborts the process when a thread's result differs
 * from the caller's. The watcher is a thread the program does not know
 * of: where its capabilities differ from the caller's (a program that
 * raised them in one thread only, as setpriv does between its setresuid
 * and setresgid), it would fail and abort the program. So each of these
 * calls goes through watcher_follow_begin/end (watcher.c), then to the
 * next definition (libc's), untouched; errno is the call's.
 *
 * glibc's own callers (initgroups calling setgroups) do not come through
 * here: their calls are internal. They change nothing the watcher could
 * fail at that the caller could not.
 */
#include "preload.h"

#include "../src/watcher.h"

#include <errno.h>
#include <gmr.h>
#include <grp.h>
#include <unistd.h>

typedef int (*id1_fn)(unsigned);
typedef int (*id2_fn)(unsigned, unsigned);
typedef int (*id3_fn)(unsigned, unsigned, unsigned);
typedef int (*groups_fn)(size_t, const gid_t *);

PRELOAD_NEXT(id1_fn, setuid)
PRELOAD_NEXT(id1_fn, setgid)
PRELOAD_NEXT(id1_fn, seteuid)
PRELOAD_NEXT(id1_fn, setegid)
PRELOAD_NEXT(id2_fn, setreuid)
PRELOAD_NEXT(id2_fn, setregid)
PRELOAD_NEXT(id3_fn, setresuid)
PRELOAD_NEXT(id3_fn, setresgid)
PRELOAD_NEXT(groups_fn, setgroups)

/* The call's result and errno, with the watcher out of the way. */
static int finish(int stopped, int ret, int err)
{
    watcher_follow_end(stopped);
    errno = err;
    return ret;
}

static int call1(id1_fn fn, unsigned a)
{
    int stopped, ret;

    if (!fn) {
        errno = ENOSYS;
        return -1;
    }
    stopped = watcher_follow_begin();
    ret = fn(a);
    return finish(stopped, ret, errno);
}

static int call2(id2_fn fn, unsigned a, unsigned b)
{
    int stopped, ret;

    if (!fn) {
        errno = ENOSYS;
        return -1;
    }
    stopped = watcher_follow_begin();
    ret = fn(a, b);
    return finish(stopped, ret, errno);
}

static int call3(id3_fn fn, unsigned a, unsigned b, unsigned c)
{
    int stopped, ret;

    if (!fn) {
        errno = ENOSYS;
        return -1;
    }
    stopped = watcher_follow_begin();
    ret = fn(a, b, c);
    return finish(stopped, ret, errno);
}

GMR_API int setuid(uid_t uid)
{
    return call1(next_fn_setuid(), uid);
}

GMR_API int setgid(gid_t gid)
{
    return call1(next_fn_setgid(), gid);
}

GMR_API int seteuid(uid_t uid)
{
    return call1(next_fn_seteuid(), uid);
}

GMR_API int setegid(gid_t gid)
{
    return call1(next_fn_setegid(), gid);
}

GMR_API int setreuid(uid_t ruid, uid_t euid)
{
    return call2(next_fn_setreuid(), ruid, euid);
}

GMR_API int setregid(gid_t rgid, gid_t egid)
{
    return call2(next_fn_setregid(), rgid, egid);
}

GMR_API int setresuid(uid_t ruid, uid_t euid, uid_t suid)
{
    return call3(next_fn_setresuid(), ruid, euid, suid);
}

GMR_API int setresgid(gid_t rgid, gid_t egid, gid_t sgid)
{
    return call3(next_fn_setresgid(), rgid, egid, sgid);
}

GMR_API int setgroups(size_t size, const gid_t *list)
{
    groups_fn fn = next_fn_setgroups();
    int stopped, ret;

    if (!fn) {
        errno = ENOSYS;
        return -1;
    }
    stopped = watcher_follow_begin();
    ret = fn(size, list);
    return finish(stopped, ret, errno);
}
