/*
 * elf_image.h - what a loaded ELF image says about itself in memory.
 *
 * Read through memread, so a mapping that vanishes mid-report costs an
 * error, never a fault. Used by the unwinder (where code and unwind
 * tables are) and by the Shared Objects section (build-ids).
 */
#ifndef GMR_ELF_IMAGE_H
#define GMR_ELF_IMAGE_H

#include "memread.h"

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
/* The build-id as lowercase hex into out (2 * len + 1 bytes); "" if none. */
const char *elf_image_build_id(const struct elf_image *img, char *out, size_t len);

#endif
