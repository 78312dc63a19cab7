/*
 * safecopy.h - copy this process's own memory without ever faulting, from
 * any context, signal handlers included.
 *
 * The kernel does the reading (process_vm_readv, or pread on
 * /proc/self/mem), so an address that is not mapped, or no longer is,
 * gives a short count or an error instead of a SIGSEGV in the host. A
 * thread under a seccomp filter may be killed for process_vm_readv (the
 * default action of systemd's SystemCallFilter=), so such a caller asks
 * for the /proc/self/mem path, which needs only open and pread.
 */
#ifndef GMR_SAFECOPY_H
#define GMR_SAFECOPY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * Copies up to len bytes at addr into dst. Returns the length of the
 * readable prefix (short if the memory ends within the range), or -1 with
 * errno if nothing could be read. Async-signal-safe; errno may change.
 */
ssize_t safe_copy(void *dst, uintptr_t addr, size_t len, int via_mem_file);

/* Is the calling thread under a seccomp filter? (1 if unsure.) */
int safe_copy_filtered(void);

#endif
