/*
 * elf_image.c - ELF and program headers of a mapped image, its
 * NT_GNU_BUILD_ID note, and its dynamic symbols.
 *
 * The mapping at file offset 0 holds the ELF header and, in every image
 * a linker produces, the program headers; the first PT_LOAD segment's
 * page-aligned address sits at that mapping's start, which gives the bias.
 */
#include "elf_image.h"

#include <elf.h>
#include <stdio.h>
#include <string.h>

#define MAX_PHDRS      64
#define MAX_DYNAMIC    512
#define MAX_HASH_STEPS (1 << 20)

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

static uint32_t gnu_hash(const char *s)
{
    uint32_t h = 5381;

    while (*s)
        h = h * 33 + (unsigned char)*s++;
    return h;
}

/* A dynamic entry's address: ld.so has relocated most in place; one that
   is not is relative to the image. */
static uintptr_t dyn_addr(const struct elf_dynsym *img, uint64_t v)
{
    return v && v < img->bias ? img->bias + v : (uintptr_t)v;
}

int elf_dynsym_open(struct memreader *mr, uintptr_t base, struct elf_dynsym *img)
{
    Elf64_Ehdr eh;
    Elf64_Phdr ph;
    uintptr_t dynamic = 0, lowest = UINTPTR_MAX;
    Elf64_Dyn d;
    int i;

    memset(img, 0, sizeof(*img));
    img->mr = mr;
    if (memreader_read(mr, base, &eh, sizeof(eh)) < 0 || memcmp(eh.e_ident, ELFMAG, SELFMAG) ||
        eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_phentsize != sizeof(ph) ||
        eh.e_phnum > MAX_PHDRS)
        return -1;
    for (i = 0; i < eh.e_phnum; i++) {
        if (memreader_read(mr, base + eh.e_phoff + (uintptr_t)i * sizeof(ph), &ph, sizeof(ph)) < 0)
            return -1;
        if (ph.p_type == PT_LOAD && ph.p_vaddr < lowest)
            lowest = ph.p_vaddr & ~(uintptr_t)0xfff;
        if (ph.p_type == PT_DYNAMIC)
            dynamic = ph.p_vaddr;
    }
    if (!dynamic || lowest == UINTPTR_MAX || lowest > base)
        return -1;
    img->bias = base - lowest;
    for (i = 0; i < MAX_DYNAMIC; i++) {
        if (memreader_read(mr, img->bias + dynamic + (uintptr_t)i * sizeof(d), &d, sizeof(d)) < 0 ||
            d.d_tag == DT_NULL)
            break;
        if (d.d_tag == DT_SYMTAB)
            img->symtab = dyn_addr(img, d.d_un.d_ptr);
        else if (d.d_tag == DT_STRTAB)
            img->strtab = dyn_addr(img, d.d_un.d_ptr);
        else if (d.d_tag == DT_GNU_HASH)
            img->gnu_hash = dyn_addr(img, d.d_un.d_ptr);
    }
    return img->symtab && img->strtab && img->gnu_hash ? 0 : -1;
}

/* The run-time address of a defined dynamic symbol, or 0. */
uintptr_t elf_dynsym_lookup(const struct elf_dynsym *img, const char *name)
{
    uint32_t head[4], h = gnu_hash(name), sym, chain, steps;
    uintptr_t buckets, chains;
    size_t len = strlen(name);
    char found[64];
    Elf64_Sym s;

    if (len >= sizeof(found) || memreader_read(img->mr, img->gnu_hash, head, sizeof(head)) < 0 ||
        !head[0])
        return 0;
    buckets = img->gnu_hash + sizeof(head) + (uintptr_t)head[2] * 8;
    chains = buckets + (uintptr_t)head[0] * 4;
    if (memreader_read(img->mr, buckets + (uintptr_t)(h % head[0]) * 4, &sym, sizeof(sym)) < 0 ||
        sym < head[1])
        return 0;
    for (steps = 0; steps < MAX_HASH_STEPS; steps++, sym++) {
        if (memreader_read(img->mr, chains + (uintptr_t)(sym - head[1]) * 4, &chain,
                           sizeof(chain)) < 0)
            return 0;
        if ((chain | 1) == (h | 1) &&
            memreader_read(img->mr, img->symtab + (uintptr_t)sym * sizeof(s), &s, sizeof(s)) == 0 &&
            s.st_shndx != SHN_UNDEF &&
            memreader_read(img->mr, img->strtab + s.st_name, found, len + 1) == 0 &&
            !memcmp(found, name, len + 1))
            return s.st_value ? img->bias + s.st_value : 0;
        if (chain & 1)
            return 0;
    }
    return 0;
}
