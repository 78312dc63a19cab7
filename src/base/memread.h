/*
 * memread.h - read this process's own memory without ever faulting.
 *
 * The unwinder follows addresses it finds in stack copies and unwind
 * tables; any of them may be stale or garbage, and a library may be
 * unloaded while a report runs. Dereferencing such an address would crash
 * the host, so every read goes through the kernel (process_vm_readv, or
 * pread on /proc/self/mem when seccomp forbids it), which fails with an
 * error instead. Pages are cached for the length of one report.
 */
#ifndef GMR_MEMREAD_H
#define GMR_MEMREAD_H

#include <stddef.h>
#include <stdint.h>

struct memreader;

struct memreader *memreader_new(void);
void memreader_free(struct memreader *mr);
/* Copies len bytes at addr into out; 0 on success, -1 if unreadable. */
int memreader_read(struct memreader *mr, uintptr_t addr, void *out, size_t len);

#endif
