/*
 * vdso.h - names for addresses in the kernel's vDSO.
 *
 * The vDSO is no file: elfutils, reading modules from /proc/self/maps,
 * does not see it, so its frames were "?? (??)" (or, worse, given to the
 * module mapped next to it). It is a small ELF image in our own memory,
 * with a dynamic symbol table: copied once (without faulting), it names
 * its functions as eu-stack does (__vdso_clock_gettime).
 */
#ifndef GMR_VDSO_H
#define GMR_VDSO_H

#include <stddef.h>
#include <stdint.h>

struct vdso;

/* Copies and indexes the image mapped at [start, end); NULL if it is not
   an ELF image with symbols. */
struct vdso *vdso_load(uintptr_t start, uintptr_t end);
void vdso_free(struct vdso *v);
/* The function holding pc and pc's offset in it, or NULL. */
const char *vdso_symbol(const struct vdso *v, uintptr_t pc, uintptr_t *offset);

#endif
