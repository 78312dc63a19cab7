/*
 * unwind.c - libunwind over a stack copy.
 *
 * libunwind's remote interface asks us, through accessors, for registers,
 * memory and unwind tables:
 *   - registers come from the slot (the ucontext the thread saw);
 *   - memory inside the copied stack range comes from the copy; anything
 *     else (unwind tables, code, a signal frame's saved stack) is read
 *     through memread, which cannot fault. Reads of live stack or heap are
 *     noted, because the thread has moved on since the capture;
 *   - unwind tables: we find the ELF image holding the address in our
 *     table of images (built from /proc/self/maps and the images' own
 *     program headers) and let libunwind binary-search its .eh_frame_hdr.
 */
#include "unwind.h"

#include "arch/arch.h"
#include "deps.h"
#include "elf_image.h"

#include <stdlib.h>
#include <string.h>

struct image {
    uintptr_t text_lo, text_hi; /* executable segments */
    uintptr_t eh_hdr;           /* runtime address of .eh_frame_hdr, 0 if none */
    uintptr_t table;            /* its binary-search table */
    size_t fde_count;
};

struct unwind_session {
    const struct unwind_api *u;
    const struct maps *maps;
    struct memreader *mr;
    struct image *images;
    size_t nimages;
    /* The thread being unwound. */
    const struct slot *slot;
    size_t frame;
    int live_from;
    int no_info_at;
    uintptr_t bad_addr;
};

static unw_addr_space_t address_space;

/* ---- images ---- */

static int read_mem(struct unwind_session *s, uintptr_t addr, void *out, size_t len)
{
    return memreader_read(s->mr, addr, out, len);
}

/* Size of a DW_EH_PE-encoded value with a fixed width, or 0. */
static size_t encoded_size(unsigned char enc)
{
    switch (enc & 0x0f) {
    case 0x00: /* absptr */
    case 0x04: /* udata8 */
    case 0x0c: /* sdata8 */
        return 8;
    case 0x02: /* udata2 */
    case 0x0a:
        return 2;
    case 0x03: /* udata4 */
    case 0x0b:
        return 4;
    }
    return 0;
}

/* Reads .eh_frame_hdr; keeps it only if it has the sorted table. */
static void read_eh_hdr(struct unwind_session *s, struct image *img, uintptr_t hdr)
{
    unsigned char h[4];
    uint32_t count;
    size_t ptr_size;

    if (read_mem(s, hdr, h, 4) < 0 || h[0] != 1)
        return;
    /* The table must be datarel|sdata4, the count udata4: what every
       linker writes. Anything else falls back to libunwind's heuristics. */
    ptr_size = encoded_size(h[1]);
    if (h[3] != 0x3b || h[2] != 0x03 || !ptr_size)
        return;
    if (read_mem(s, hdr + 4 + ptr_size, &count, 4) < 0)
        return;
    img->eh_hdr = hdr;
    img->table = hdr + 4 + ptr_size + 4;
    img->fde_count = count;
}

static int read_image(struct unwind_session *s, uintptr_t base, struct image *img)
{
    struct elf_image elf;

    memset(img, 0, sizeof(*img));
    if (elf_image_read(s->mr, base, &elf) < 0)
        return -1;
    img->text_lo = elf.text_lo;
    img->text_hi = elf.text_hi;
    if (elf.eh_frame_hdr)
        read_eh_hdr(s, img, elf.eh_frame_hdr);
    return 0;
}

static int cmp_image(const void *a, const void *b)
{
    const struct image *x = a, *y = b;

    return (x->text_lo > y->text_lo) - (x->text_lo < y->text_lo);
}

static int is_image_start(const struct mapping *m)
{
    if (m->offset != 0 || !(m->perms & MAP_R))
        return 0;
    return m->path[0] == '/' || !strcmp(m->path, "[vdso]");
}

static int load_images(struct unwind_session *s)
{
    size_t i;

    s->images = calloc(s->maps->n ? s->maps->n : 1, sizeof(*s->images));
    if (!s->images)
        return -1;
    for (i = 0; i < s->maps->n; i++) {
        const struct mapping *m = &s->maps->m[i];
        /* An image is mapped several times from offset 0 only if the file
           is; the first mapping of a path is the one that counts. */
        if (is_image_start(m) &&
            (i == 0 || strcmp(s->maps->m[i - 1].path, m->path) || !s->maps->m[i - 1].path[0]))
            if (read_image(s, m->start, &s->images[s->nimages]) == 0)
                s->nimages++;
    }
    qsort(s->images, s->nimages, sizeof(*s->images), cmp_image);
    return 0;
}

static const struct image *image_for(const struct unwind_session *s, uintptr_t ip)
{
    size_t lo = 0, hi = s->nimages;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ip < s->images[mid].text_lo)
            hi = mid;
        else if (ip >= s->images[mid].text_hi)
            lo = mid + 1;
        else
            return &s->images[mid];
    }
    return NULL;
}

/* ---- libunwind accessors ---- */

static int find_proc_info(unw_addr_space_t as, unw_word_t ip, unw_proc_info_t *pi, int need,
                          void *arg)
{
    struct unwind_session *s = arg;
    const struct image *img = image_for(s, ip);
    unw_dyn_info_t di;

    if (!img || !img->eh_hdr) {
        /* libunwind goes on by frame pointer, if the code keeps one */
        if (s->no_info_at < 0) /* asked while stepping out of the frame before s->frame */
            s->no_info_at = s->frame ? (int)s->frame - 1 : 0;
        return -UNW_ENOINFO;
    }
    memset(&di, 0, sizeof(di));
    di.format = UNW_INFO_FORMAT_REMOTE_TABLE;
    di.start_ip = img->text_lo;
    di.end_ip = img->text_hi;
    di.u.rti.segbase = img->eh_hdr;
    di.u.rti.table_data = img->table;
    di.u.rti.table_len = img->fde_count * 8 / sizeof(unw_word_t);
    return s->u->dwarf_search_unwind_table(as, ip, &di, pi, need, arg);
}

static void put_unwind_info(unw_addr_space_t as, unw_proc_info_t *pi, void *arg)
{
    /* libunwind frees table-format info itself; we hand out nothing else. */
    (void)as;
    (void)pi;
    (void)arg;
}

static int get_dyn_info_list_addr(unw_addr_space_t as, unw_word_t *addr, void *arg)
{
    (void)as;
    (void)addr;
    (void)arg;
    return -UNW_ENOINFO;
}

/* Is addr inside code or a file-backed mapping (tables), as opposed to a
   stack or the heap that may have changed since the capture? */
static int is_image_memory(const struct unwind_session *s, uintptr_t addr)
{
    const struct mapping *m = maps_find(s->maps, addr);

    return m && (m->path[0] == '/' || !strcmp(m->path, "[vdso]") || (m->perms & MAP_X));
}

static int access_mem(unw_addr_space_t as, unw_word_t addr, unw_word_t *val, int write, void *arg)
{
    struct unwind_session *s = arg;
    const struct slot *slot = s->slot;

    (void)as;
    if (write)
        return -UNW_EREADONLYREG;
    /* Overflow-safe: addr comes from the host's stack and may be anything
       (0xffffffffffffffff in a JVM's frames wrapped addr + 8 past the check). */
    if (addr >= slot->stack_lo && slot->copy_len >= sizeof(*val) &&
        addr - slot->stack_lo <= slot->copy_len - sizeof(*val)) {
        memcpy(val, slot->copy + (addr - slot->stack_lo), sizeof(*val));
        return 0;
    }
    if (read_mem(s, addr, val, sizeof(*val)) < 0) {
        s->bad_addr = addr;
        return -UNW_EINVAL;
    }
    if (s->live_from < 0 && !is_image_memory(s, addr))
        s->live_from = (int)s->frame;
    return 0;
}

static int access_reg(unw_addr_space_t as, unw_regnum_t reg, unw_word_t *val, int write, void *arg)
{
    struct unwind_session *s = arg;
    int i = arch_unw_index(reg);

    (void)as;
    if (write || i < 0)
        return -UNW_EBADREG;
    *val = (unw_word_t)s->slot->regs[i];
    return 0;
}

static int access_fpreg(unw_addr_space_t as, unw_regnum_t reg, unw_fpreg_t *val, int write,
                        void *arg)
{
    (void)as;
    (void)reg;
    (void)val;
    (void)write;
    (void)arg;
    return -UNW_EBADREG;
}

static int resume(unw_addr_space_t as, unw_cursor_t *c, void *arg)
{
    (void)as;
    (void)c;
    (void)arg;
    return -UNW_EINVAL;
}

static int get_proc_name(unw_addr_space_t as, unw_word_t addr, char *buf, size_t len,
                         unw_word_t *off, void *arg)
{
    (void)as;
    (void)addr;
    (void)buf;
    (void)len;
    (void)off;
    (void)arg;
    return -UNW_ENOINFO; /* symbols come from elfutils, later */
}

static unw_accessors_t accessors = {
    .find_proc_info = find_proc_info,
    .put_unwind_info = put_unwind_info,
    .get_dyn_info_list_addr = get_dyn_info_list_addr,
    .access_mem = access_mem,
    .access_reg = access_reg,
    .access_fpreg = access_fpreg,
    .resume = resume,
    .get_proc_name = get_proc_name,
};

/* ---- sessions ---- */

struct unwind_session *unwind_begin(const struct maps *maps, struct memreader *mr)
{
    const struct unwind_api *u = deps_unwind();
    struct unwind_session *s;

    if (!u)
        return NULL;
    if (!address_space) {
        address_space = u->create_addr_space(&accessors, 0);
        if (!address_space)
            return NULL;
        /* Only the watcher unwinds, so a per-thread cache is all we need.
           (Debian's libunwind is built without per-thread caches and
           falls back to its global one, which costs two sigprocmask calls
           per step; with no cache at all, unwinding is four times slower.) */
        u->set_caching_policy(address_space, UNW_CACHE_PER_THREAD);
    }
    s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->u = u;
    s->maps = maps;
    s->mr = mr;
    if (load_images(s) < 0) {
        free(s);
        return NULL;
    }
    u->flush_cache(address_space, 0, 0);
    return s;
}

void unwind_after_fork(void)
{
    /* The parent's watcher may have held the space's cache lock: leave
       that copy alone and create a new space on the next report. */
    address_space = NULL;
}

void unwind_end(struct unwind_session *s)
{
    if (!s)
        return;
    free(s->images);
    free(s);
}

void unwind_slot(struct unwind_session *s, const struct slot *slot, struct unwind_frame *frames,
                 size_t max, struct unwind_result *res)
{
    const struct unwind_api *u = s->u;
    unw_word_t ip, sp, prev_ip = 0, prev_sp = 0;
    unw_cursor_t cur;
    int exact = 1, signal, ret;

    memset(res, 0, sizeof(*res));
    res->live_from = -1;
    res->no_info_at = -1;
    s->slot = slot;
    s->frame = 0;
    s->live_from = -1;
    s->no_info_at = -1;
    s->bad_addr = 0;
    ret = u->init_remote(&cur, address_space, s);
    if (ret < 0) {
        res->end = UNWIND_END_ERROR;
        res->error = ret;
        return;
    }
    for (;;) {
        if (u->get_reg(&cur, UNW_REG_IP, &ip) < 0 || u->get_reg(&cur, UNW_REG_SP, &sp) < 0)
            break;
        if (s->frame > 0 && ip == prev_ip && sp == prev_sp) {
            res->end = UNWIND_END_LOOP;
            break;
        }
        /* libunwind says so of the frame a signal interrupted: the one
           before it is the trampoline the handler returned to (its pc is
           no return address either). */
        signal = u->is_signal_frame(&cur) > 0;
        if (signal && res->n > 0 && res->n <= max) {
            frames[res->n - 1].signal = 1;
            frames[res->n - 1].exact = 1;
        }
        if (res->n < max) {
            frames[res->n].pc = ip;
            frames[res->n].exact = exact || signal;
            frames[res->n].signal = 0;
            res->n++;
        } else {
            res->omitted++;
        }
        exact = 0;
        prev_ip = ip;
        prev_sp = sp;
        s->frame++;
        if (s->frame >= UNWIND_HARD_LIMIT) {
            res->end = UNWIND_END_LIMIT;
            break;
        }
        ret = u->step(&cur);
        if (ret == 0)
            break;
        if (ret < 0) {
            res->end = UNWIND_END_ERROR;
            res->error = ret;
            break;
        }
    }
    if (res->end == UNWIND_END_OK && res->omitted)
        res->end = UNWIND_END_LIMIT;
    res->live_from = s->live_from;
    res->no_info_at = s->no_info_at;
    if (res->end == UNWIND_END_ERROR)
        res->bad_addr = s->bad_addr;
}
