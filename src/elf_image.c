/*
 * elf_image.c - ELF and program headers of a mapped image, and its
 * NT_GNU_BUILD_ID note.
 *
 * The mapping at file offset 0 holds the ELF header and, in every image
 * a linker produces, the program headers; the first PT_LOAD segment's
 * page-aligned address sits at that mapping's start, which gives the bias.
 */
#include "elf_image.h"

#include <elf.h>
#include <stdio.h>
#include <string.h>

#define MAX_PHDRS 64

static void read_build_id(struct memreader *mr, uintptr_t at, size_t size, struct elf_image *img)
{
    unsigned char notes[2048];
    size_t off = 0;

    if (size > sizeof(notes))
        size = sizeof(notes);
    if (memreader_read(mr, at, notes, size) < 0)
        return;
    while (off + sizeof(Elf64_Nhdr) <= size) {
        Elf64_Nhdr nh;
        size_t name_at = off + sizeof(nh), desc_at;

        memcpy(&nh, notes + off, sizeof(nh));
        desc_at = name_at + ((nh.n_namesz + 3) & ~3u);
        if (desc_at + nh.n_descsz > size)
            return;
        if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
            !memcmp(notes + name_at, "GNU", 4) && nh.n_descsz <= sizeof(img->build_id)) {
            memcpy(img->build_id, notes + desc_at, nh.n_descsz);
            img->build_id_len = nh.n_descsz;
            return;
        }
        off = desc_at + ((nh.n_descsz + 3) & ~3u);
    }
}

int elf_image_read(struct memreader *mr, uintptr_t base, struct elf_image *img)
{
    Elf64_Ehdr eh;
    Elf64_Phdr ph[MAX_PHDRS];
    int i, have_bias = 0;

    memset(img, 0, sizeof(*img));
    if (memreader_read(mr, base, &eh, sizeof(eh)) < 0 || memcmp(eh.e_ident, ELFMAG, SELFMAG) ||
        eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_phentsize != sizeof(Elf64_Phdr) ||
        eh.e_phnum == 0 || eh.e_phnum > MAX_PHDRS)
        return -1;
    if (memreader_read(mr, base + eh.e_phoff, ph, eh.e_phnum * sizeof(ph[0])) < 0)
        return -1;
    for (i = 0; i < eh.e_phnum && !have_bias; i++)
        if (ph[i].p_type == PT_LOAD) {
            img->bias = base - (ph[i].p_vaddr - ph[i].p_offset);
            have_bias = 1;
        }
    if (!have_bias)
        return -1;
    img->text_lo = UINTPTR_MAX;
    for (i = 0; i < eh.e_phnum; i++) {
        uintptr_t lo = img->bias + ph[i].p_vaddr;
        if (ph[i].p_type == PT_LOAD && (ph[i].p_flags & PF_X)) {
            img->text_lo = lo < img->text_lo ? lo : img->text_lo;
            if (lo + ph[i].p_memsz > img->text_hi)
                img->text_hi = lo + ph[i].p_memsz;
        } else if (ph[i].p_type == PT_GNU_EH_FRAME) {
            img->eh_frame_hdr = lo;
        } else if (ph[i].p_type == PT_NOTE && !img->build_id_len) {
            read_build_id(mr, lo, ph[i].p_memsz, img);
        }
    }
    return img->text_lo < img->text_hi ? 0 : -1;
}

const char *elf_image_build_id(const struct elf_image *img, char *out, size_t len)
{
    size_t i;

    out[0] = '\0';
    for (i = 0; i < img->build_id_len && 2 * i + 2 < len; i++)
        snprintf(out + 2 * i, 3, "%02x", img->build_id[i]);
    return out;
}
