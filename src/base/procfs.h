/*
 * procfs.h - reading /proc files without stdio.
 *
 * Files are opened O_CLOEXEC and closed before returning, so no descriptor
 * of ours outlives a call (the host may fork, exec or close descriptors at
 * any moment).
 */
#ifndef GMR_PROCFS_H
#define GMR_PROCFS_H

#include <stddef.h>
#include <sys/types.h>

/* Reads up to cap-1 bytes and NUL-terminates; returns the length or -1. */
/* Reads fd until cap bytes or end of file (EINTR retried); -1 on error. */
ssize_t procfs_read_fd(int fd, char *buf, size_t cap);
ssize_t procfs_read(const char *path, char *buf, size_t cap);
/* The same, relative to a directory descriptor. */
ssize_t procfs_readat(int dir, const char *path, char *buf, size_t cap);
/* Reads a whole file into malloc'd memory (NUL-terminated); NULL on error. */
char *procfs_slurp(const char *path, size_t *len);
/* Entries in a /proc directory (such as /proc/self/fd), or -1. */
long procfs_count(const char *dir);
/* The thread ids of this process, malloc'd and sorted; -1 on error. */
int procfs_tids(pid_t **tids, size_t *n);
/* The text after "Name:" in a status file, up to the line end, or NULL. */
const char *procfs_field(const char *text, const char *name, size_t *len);

#endif
