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

/* The call, with the watcher out of the way; its result and errno. */
static int finish(int stopped, int ret, int err)
{
    watcher_follow_end(stopped);
    errno = err;
    return ret;
}

#define AROUND(fn, ...)                                                                            \
    do {                                                                                           \
        int stopped_, ret_;                                                                        \
        if (!(fn)) {                                                                               \
            errno = ENOSYS;                                                                        \
            return -1;                                                                             \
        }                                                                                          \
        stopped_ = watcher_follow_begin();                                                         \
        ret_ = (fn)(__VA_ARGS__);                                                                  \
        return finish(stopped_, ret_, errno);                                                      \
    } while (0)

GMR_API int setuid(uid_t uid)
{
    AROUND(next_fn_setuid(), uid);
}

GMR_API int setgid(gid_t gid)
{
    AROUND(next_fn_setgid(), gid);
}

GMR_API int seteuid(uid_t uid)
{
    AROUND(next_fn_seteuid(), uid);
}

GMR_API int setegid(gid_t gid)
{
    AROUND(next_fn_setegid(), gid);
}

GMR_API int setreuid(uid_t ruid, uid_t euid)
{
    AROUND(next_fn_setreuid(), ruid, euid);
}

GMR_API int setregid(gid_t rgid, gid_t egid)
{
    AROUND(next_fn_setregid(), rgid, egid);
}

GMR_API int setresuid(uid_t ruid, uid_t euid, uid_t suid)
{
    AROUND(next_fn_setresuid(), ruid, euid, suid);
}

GMR_API int setresgid(gid_t rgid, gid_t egid, gid_t sgid)
{
    AROUND(next_fn_setresgid(), rgid, egid, sgid);
}

GMR_API int setgroups(size_t size, const gid_t *list)
{
    AROUND(next_fn_setgroups(), size, list);
}
