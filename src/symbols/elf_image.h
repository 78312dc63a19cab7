/*
 * elf_image.h - what a loaded ELF image says about itself in memory.
 *
 * Read through memread, so a mapping that vanishes mid-report costs an
 * error, never a fault. Used by the unwinder (where code and unwind
 * tables are), by the Shared Objects section (build-ids), and by the
 * Python reader (an interpreter's exported symbols, by GNU hash).
 */
#ifndef GMR_ELF_IMAGE_H
#define GMR_ELF_IMAGE_H

#include "base/memread.h"

#include <stddef.h>
#include <stdint.h>

struct elf_image {
    uintptr_t bias;             /* load address minus link-time address */
    uintptr_t text_lo, text_hi; /* executable segments */
    uintptr_t eh_frame_hdr;     /* runtime address of .eh_frame_hdr, 0 if none */
    unsigned char build_id[64];
    size_t build_id_len;
};

/* Reads the image mapped at `base` (its file offset 0). 0, or -1 if it is
   not a loaded 64-bit ELF image. */
int elf_image_read(struct memreader *mr, uintptr_t base, struct elf_image *img);
/* An image's dynamic symbol table, looked up through its GNU hash table. */
struct elf_dynsym {
    struct memreader *mr;
    uintptr_t bias;
    uintptr_t symtab, strtab, gnu_hash;
};

/* Finds the tables of the image mapped at `base`. 0, or -1 if it has none
   (no PT_DYNAMIC, no DT_GNU_HASH). */
int elf_dynsym_open(struct memreader *mr, uintptr_t base, struct elf_dynsym *ds);
/* The run-time address of a defined symbol, or 0. */
uintptr_t elf_dynsym_lookup(const struct elf_dynsym *ds, const char *name);
/* The build-id as lowercase hex into out (2 * len + 1 bytes); "" if none. */
const char *elf_image_build_id(const struct elf_image *img, char *out, size_t len);

#endif
