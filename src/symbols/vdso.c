/*
 * vdso.c - the vDSO's own symbol table (see vdso.h).
 *
 * The image is copied whole (it is a page or two) with safe_copy and read
 * from the copy with every offset checked: the section headers, the
 * SHT_DYNSYM table and its string table. Symbols are taken as offsets
 * from the first PT_LOAD segment, which sits at the mapping's start.
 * Where two names share an address (clock_gettime and its __vdso_
 * alias), the __vdso_ one is kept, as eu-stack shows it.
 */
#include "vdso.h"

#include "base/safecopy.h"

#include <elf.h>
#include <stdlib.h>
#include <string.h>

#define VDSO_MAX (64 * 1024)

struct vdso {
    uintptr_t start;
    uint64_t vaddr; /* the first PT_LOAD's address: the mapping's start */
    unsigned char *image;
    size_t size;
    const Elf64_Sym *syms;
    size_t nsyms;
    const char *strs;
    size_t strs_size;
};

/* A range of the copy, or NULL if it does not fit. */
static const void *at(const struct vdso *v, uint64_t off, uint64_t len)
{
    return off <= v->size && len <= v->size - off ? v->image + off : NULL;
}

static int index_symbols(struct vdso *v)
{
    const Elf64_Ehdr *eh = at(v, 0, sizeof(*eh));
    const Elf64_Shdr *sh, *strtab;
    const Elf64_Phdr *ph;
    size_t i;

    if (!eh || memcmp(eh->e_ident, ELFMAG, SELFMAG) || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
        eh->e_shentsize != sizeof(Elf64_Shdr) || eh->e_phentsize != sizeof(Elf64_Phdr))
        return -1;
    ph = at(v, eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(*ph));
    for (i = 0; ph && i < eh->e_phnum; i++)
        if (ph[i].p_type == PT_LOAD) {
            v->vaddr = ph[i].p_vaddr - ph[i].p_offset;
            break;
        }
    sh = at(v, eh->e_shoff, (uint64_t)eh->e_shnum * sizeof(*sh));
    for (i = 0; sh && i < eh->e_shnum; i++) {
        if (sh[i].sh_type != SHT_DYNSYM || sh[i].sh_link >= eh->e_shnum)
            continue;
        strtab = &sh[sh[i].sh_link];
        v->syms = at(v, sh[i].sh_offset, sh[i].sh_size);
        v->nsyms = v->syms ? sh[i].sh_size / sizeof(Elf64_Sym) : 0;
        v->strs = at(v, strtab->sh_offset, strtab->sh_size);
        v->strs_size = v->strs ? strtab->sh_size : 0;
        return v->syms && v->strs ? 0 : -1;
    }
    return -1;
}

struct vdso *vdso_load(uintptr_t start, uintptr_t end)
{
    struct vdso *v;
    ssize_t n;

    if (end <= start || end - start > VDSO_MAX)
        return NULL;
    v = calloc(1, sizeof(*v));
    if (!v || !(v->image = malloc(end - start)))
        goto fail;
    n = safe_copy(v->image, start, end - start, safe_copy_filtered());
    if (n <= 0)
        goto fail;
    v->start = start;
    v->size = (size_t)n;
    if (index_symbols(v) == 0)
        return v;
fail:
    vdso_free(v);
    return NULL;
}

void vdso_free(struct vdso *v)
{
    if (!v)
        return;
    free(v->image);
    free(v);
}

static const char *name_of(const struct vdso *v, const Elf64_Sym *s)
{
    const char *name = s->st_name < v->strs_size ? v->strs + s->st_name : NULL;

    return name && memchr(name, '\0', v->strs_size - s->st_name) ? name : NULL;
}

const char *vdso_symbol(const struct vdso *v, uintptr_t pc, uintptr_t *offset)
{
    uint64_t want = pc - v->start + v->vaddr;
    const Elf64_Sym *best = NULL;
    const char *best_name = NULL;
    size_t i;

    for (i = 0; i < v->nsyms; i++) {
        const Elf64_Sym *s = &v->syms[i];
        const char *name;

        if (ELF64_ST_TYPE(s->st_info) != STT_FUNC || s->st_value > want ||
            (s->st_size && want - s->st_value >= s->st_size) || !(name = name_of(v, s)))
            continue;
        if (!best || s->st_value > best->st_value ||
            (s->st_value == best->st_value && !strncmp(name, "__vdso_", 7))) {
            best = s;
            best_name = name;
        }
    }
    if (best)
        *offset = (uintptr_t)(want - best->st_value);
    return best_name;
}
