/*
 * fdtable.h - the watcher's own descriptor table.
 *
 * The watcher opens files for every report: /proc files, ELF images, the
 * log directory. In the host's descriptor table these would take the
 * host's numbers (a host at its RLIMIT_NOFILE limit got a report that
 * listed no threads), show in its /proc/self/fd, and could be closed, or
 * dup2()ed over, by a host that closes everything. So the watcher unshares
 * its table (unshare(CLONE_FILES)) and closes everything in its copy, so
 * that it keeps none of the host's files open either (a pipe the host
 * closes must reach EOF). What it still needs of the host's table, the
 * descriptor its stderr is, it takes for the moment it writes, with
 * pidfd_getfd (Linux 5.6), or where that is missing by opening
 * /proc/self/fd/2 anew. Where unshare is refused the table stays shared.
 */
#ifndef GMR_FDTABLE_H
#define GMR_FDTABLE_H

/* The watcher, as it starts: gives it a private table if it can. Returns
   1 if it did. */
int fdtable_unshare(void);

/* The descriptor to write the host's stderr through, from any thread
   (async-signal-safe): 2, or in the watcher with a private table a
   duplicate of the host's 2, or -1 if that cannot be had. Pass it to
   fdtable_put_stderr when done. */
int fdtable_get_stderr(void);
void fdtable_put_stderr(int fd);

/* Is the calling thread's table the watcher's own? */
int fdtable_is_private(void);

/* /proc/thread-self or /proc/self: the directory whose fd/ and fdinfo/
   show the calling thread's own descriptors. */
const char *fdtable_proc_dir(void);

/* In a forked child: the parent's watcher and its table are not here. */
void fdtable_after_fork(void);

#endif
