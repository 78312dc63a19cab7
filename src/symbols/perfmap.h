/*
 * perfmap.h - names of JIT-compiled code from the runtime's perf map.
 *
 * Runtimes that compile code at run time can publish what they put where
 * in /tmp/perf-<pid>.map, one "START SIZE name" line per piece of code, in
 * hex (the JVM with `jcmd <pid> Compiler.perfmap`, node with
 * --perf-basic-prof). Frames in anonymous executable memory are named
 * from it when it is there. Read only if it is a regular file owned by
 * this process's user, and never through a symbolic link.
 */
#ifndef GMR_PERFMAP_H
#define GMR_PERFMAP_H

#include <stdint.h>
#include <sys/types.h>

struct perfmap;

/* Reads /tmp/perf-<pid>.map; NULL if there is none (or it is not ours). */
struct perfmap *perfmap_load(pid_t pid);
void perfmap_free(struct perfmap *p);
/* The name of the code holding pc and pc's offset in it, or NULL. */
const char *perfmap_find(const struct perfmap *p, uintptr_t pc, uintptr_t *offset);
/* What identifies the file's current content (inode, size, mtime), for
   the symbol cache; 0 if there is no file. */
uint64_t perfmap_signature(pid_t pid);

#endif
