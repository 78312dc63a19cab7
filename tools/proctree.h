/*
 * proctree.h - what the tools learn of other processes from /proc: whether
 * one exists, its name, whether it has libgmr mapped, and a process tree.
 */
#ifndef GMR_TOOLS_PROCTREE_H
#define GMR_TOOLS_PROCTREE_H

#include <stddef.h>
#include <sys/types.h>

int proc_exists(pid_t pid);
/* /proc/PID/comm, or "?". */
void proc_name(pid_t pid, char *out, size_t len);
/* Has the process mapped a libgmr*.so? */
int proc_maps_libgmr(pid_t pid);
/* Is pid a child, grandchild... of ancestor (now)? */
int proc_descends_from(pid_t pid, pid_t ancestor);
/* Milliseconds since the process started; -1 if unknown. */
long long proc_age_ms(pid_t pid);
/* root, then its descendants breadth first (by the parent pid in
   /proc/N/stat); at most max. Returns how many. */
size_t proc_tree(pid_t root, pid_t *out, size_t max);
/* A decimal pid; -1 if s is none. */
int proc_parse_pid(const char *s, pid_t *pid);

#endif
