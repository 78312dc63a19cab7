/*
 * symbolize.c - elfutils-backed symbolization with a cache per address.
 *
 * For an address A (A-1 for a return address, so that a call at the end
 * of a function is not attributed to the next one):
 *   module   dwfl_addrmodule; offset = A - load bias, as addr2line wants;
 *   symbol   dwfl_module_addrinfo (symtab or dynsym);
 *   line     dwfl_module_getsrc + dwfl_lineinfo;
 *   inlines  dwarf_getscopes on the CU: each DW_TAG_inlined_subroutine
 *            scope is a frame of its own, located at its caller's
 *            DW_AT_call_file:DW_AT_call_line, as eu-stack -i prints them.
 * Strings point into elfutils' data, valid while the module that holds
 * them stays loaded. Results are cached per address for as long as the
 * symbolizer lives (elfutils looks symbols up by a linear scan of the
 * table, thousands of entries for libc), and the cache is dropped whenever
 * a refresh finds a module gone or a new one.
 */
#include "symbolize.h"

#include "deps.h"

#include <dwarf.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct cache_entry {
    uintptr_t key; /* address << 1 | exact; 0 = empty */
    struct sym_result result;
};

#define CACHE_MAX (256 * 1024) /* entries; past this the cache starts over */

struct symbolizer {
    const struct dw_api *dw;
    Dwfl *dwfl;
    Dwfl_Callbacks callbacks;
    struct cache_entry *cache;
    size_t cache_cap, cache_n;
    size_t modules; /* after the last refresh */
};

/* dwfl callbacks cannot carry our pointer; the table is process-wide. */
static const struct dw_api *cb_dw;
static int cb_debuginfod;

/* Descriptors elfutils keeps open for us while the symbolizer lives. */
#define MAX_OWNED_FDS 256
static int owned_fds[MAX_OWNED_FDS];
static size_t n_owned_fds;

/* elfutils opens files without O_CLOEXEC; a program that execs must not
   inherit them. Also remember them, so reports can say they are ours. */
static int adopt_fd(int fd)
{
    if (fd < 0)
        return fd;
    fcntl(fd, F_SETFD, fcntl(fd, F_GETFD) | FD_CLOEXEC);
    if (n_owned_fds < MAX_OWNED_FDS)
        owned_fds[n_owned_fds++] = fd;
    return fd;
}

static int find_elf(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base,
                    char **file_name, Elf **elfp)
{
    return adopt_fd(cb_dw->dwfl_linux_proc_find_elf(mod, userdata, modname, base, file_name, elfp));
}

static int find_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base,
                          const char *file_name, const char *debuglink_file,
                          GElf_Word debuglink_crc, char **debuginfo_file_name)
{
    /* The standard search ends with a debuginfod query when
       DEBUGINFOD_URLS is set (Debian sets it for login shells): allowed
       only on request. The build-id search is local. */
    if (cb_debuginfod)
        return adopt_fd(cb_dw->dwfl_standard_find_debuginfo(mod, userdata, modname, base, file_name,
                                                            debuglink_file, debuglink_crc,
                                                            debuginfo_file_name));
    return adopt_fd(cb_dw->dwfl_build_id_find_debuginfo(mod, userdata, modname, base, file_name,
                                                        debuglink_file, debuglink_crc,
                                                        debuginfo_file_name));
}

int symbolizer_owns_fd(int fd)
{
    size_t i;

    for (i = 0; i < n_owned_fds; i++)
        if (owned_fds[i] == fd)
            return 1;
    return 0;
}

struct symbolizer *symbolizer_new(int allow_debuginfod)
{
    const struct dw_api *dw = deps_dw();
    struct symbolizer *s;

    if (!dw)
        return NULL;
    s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    cb_dw = dw;
    cb_debuginfod = allow_debuginfod;
    s->dw = dw;
    s->callbacks.find_elf = find_elf;
    s->callbacks.find_debuginfo = find_debuginfo;
    s->dwfl = dw->dwfl_begin(&s->callbacks);
    if (!s->dwfl) {
        free(s);
        return NULL;
    }
    return s;
}

static void drop_cache(struct symbolizer *s)
{
    size_t i;

    for (i = 0; i < s->cache_cap; i++)
        free(s->cache[i].result.frames);
    free(s->cache);
    s->cache = NULL;
    s->cache_cap = s->cache_n = 0;
}

void symbolizer_free(struct symbolizer *s)
{
    if (!s)
        return;
    drop_cache(s);
    s->dw->dwfl_end(s->dwfl); /* closes every descriptor it had */
    n_owned_fds = 0;
    free(s);
}

/*
 * The modules come from /proc/self/maps, handed over as a stream:
 * dwfl_linux_proc_report would also read /proc/self/auxv, which a process
 * that changed its credentials (a daemon dropping root) may not read any
 * more, and would then give up on every module.
 */
static int module_removed(Dwfl_Module *mod, void *userdata, const char *name, Dwarf_Addr base,
                          void *arg)
{
    (void)mod;
    (void)userdata;
    (void)name;
    (void)base;
    *(int *)arg = 1;
    return DWARF_CB_OK;
}

static int count_module(Dwfl_Module *mod, void **userdata, const char *name, Dwarf_Addr base,
                        void *arg)
{
    (void)mod;
    (void)userdata;
    (void)name;
    (void)base;
    (*(size_t *)arg)++;
    return DWARF_CB_OK;
}

int symbolizer_refresh(struct symbolizer *s)
{
    FILE *maps = fopen("/proc/self/maps", "re");
    size_t modules = 0;
    int ret, removed = 0;

    if (!maps)
        return -1;
    s->dw->dwfl_report_begin(s->dwfl);
    ret = s->dw->dwfl_linux_proc_maps_report(s->dwfl, maps);
    fclose(maps);
    if (s->dw->dwfl_report_end(s->dwfl, module_removed, &removed) != 0 || ret != 0) {
        drop_cache(s);
        return -1;
    }
    s->dw->dwfl_getmodules(s->dwfl, count_module, &modules, 0);
    if (removed || modules != s->modules)
        drop_cache(s);
    s->modules = modules;
    return 0;
}

/* ---- one address ---- */

static const char *die_name(const struct dw_api *dw, Dwarf_Die *die)
{
    Dwarf_Attribute attr;

    if (!dw->dwarf_attr_integrate(die, DW_AT_name, &attr))
        return NULL;
    return dw->dwarf_formstring(&attr);
}

static int die_udata(const struct dw_api *dw, Dwarf_Die *die, int name, Dwarf_Word *out)
{
    Dwarf_Attribute attr;

    if (!dw->dwarf_attr_integrate(die, name, &attr))
        return -1;
    return dw->dwarf_formudata(&attr, out);
}

static const char *call_file(const struct dw_api *dw, Dwarf_Die *cu, Dwarf_Die *inl)
{
    Dwarf_Files *files;
    Dwarf_Word idx;
    size_t n;

    if (die_udata(dw, inl, DW_AT_call_file, &idx) != 0 ||
        dw->dwarf_getsrcfiles(cu, &files, &n) != 0 || idx >= n)
        return NULL;
    return dw->dwarf_filesrc(files, idx, NULL, NULL);
}

static int push(struct sym_result *r, const struct sym_frame *f)
{
    struct sym_frame *grown = realloc(r->frames, (r->n + 1) * sizeof(*grown));

    if (!grown)
        return -1;
    r->frames = grown;
    r->frames[r->n++] = *f;
    return 0;
}

/*
 * Adds the inlined frames at `addr`. On return *outer holds the location
 * the outermost (real) function is at: the innermost call site.
 */
static void add_inlines(struct symbolizer *s, Dwfl_Module *mod, Dwarf_Addr addr,
                        struct sym_frame *outer, struct sym_result *r)
{
    const struct dw_api *dw = s->dw;
    Dwarf_Addr bias;
    Dwarf_Die *cu = dw->dwfl_module_addrdie(mod, addr, &bias), *scopes = NULL;
    int i, n;

    if (!cu)
        return;
    n = dw->dwarf_getscopes(cu, addr - bias, &scopes);
    for (i = 0; i < n; i++) {
        struct sym_frame f = *outer;
        Dwarf_Word line;

        if (dw->dwarf_tag(&scopes[i]) != DW_TAG_inlined_subroutine)
            continue;
        f.function = die_name(dw, &scopes[i]);
        f.has_offset = 0;
        f.inlined = 1;
        if (push(r, &f) < 0)
            break;
        /* The caller sits at this inlined call's call site. */
        outer->file = call_file(dw, cu, &scopes[i]);
        outer->line = die_udata(dw, &scopes[i], DW_AT_call_line, &line) == 0 ? (int)line : 0;
    }
    free(scopes);
}

static void symbolize_into(struct symbolizer *s, uintptr_t pc, int exact, struct sym_result *r)
{
    const struct dw_api *dw = s->dw;
    Dwarf_Addr addr = exact ? pc : pc - 1, bias = 0;
    Dwfl_Module *mod = dw->dwfl_addrmodule(s->dwfl, addr);
    struct sym_frame f;
    GElf_Off off;
    GElf_Sym sym;
    Dwfl_Line *line;

    memset(&f, 0, sizeof(f));
    if (!mod) {
        push(r, &f);
        return;
    }
    f.module = dw->dwfl_module_info(mod, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
    if (dw->dwfl_module_getelf(mod, &bias))
        f.module_offset = pc - bias;
    f.function = dw->dwfl_module_addrinfo(mod, addr, &off, &sym, NULL, NULL, NULL);
    if (f.function) {
        f.offset = off + (pc - addr);
        f.has_offset = 1;
    }
    line = dw->dwfl_module_getsrc(mod, addr);
    if (line)
        f.file = dw->dwfl_lineinfo(line, NULL, &f.line, NULL, NULL, NULL);
    add_inlines(s, mod, addr, &f, r);
    push(r, &f);
}

/* ---- the cache: open addressing on (pc, exact) ---- */

static size_t slot_of(uintptr_t key, size_t cap)
{
    return (size_t)((key * 0x9e3779b97f4a7c15ull) >> 20) & (cap - 1);
}

static int grow_cache(struct symbolizer *s)
{
    size_t cap = s->cache_cap ? s->cache_cap * 2 : 1024, i;
    struct cache_entry *e = calloc(cap, sizeof(*e));

    if (!e)
        return -1;
    for (i = 0; i < s->cache_cap; i++) {
        size_t j = slot_of(s->cache[i].key, cap);
        if (!s->cache[i].key)
            continue;
        while (e[j].key)
            j = (j + 1) & (cap - 1);
        e[j] = s->cache[i];
    }
    free(s->cache);
    s->cache = e;
    s->cache_cap = cap;
    return 0;
}

const struct sym_result *symbolize(struct symbolizer *s, uintptr_t pc, int exact)
{
    uintptr_t key = (pc << 1) | (exact ? 1 : 0) | ((uintptr_t)1 << 63);
    size_t j;

    if (s->cache_n >= CACHE_MAX)
        drop_cache(s);
    if ((s->cache_n + 1) * 2 > s->cache_cap && grow_cache(s) < 0)
        return NULL;
    for (j = slot_of(key, s->cache_cap); s->cache[j].key; j = (j + 1) & (s->cache_cap - 1))
        if (s->cache[j].key == key)
            return &s->cache[j].result;
    s->cache[j].key = key;
    s->cache_n++;
    symbolize_into(s, pc, exact, &s->cache[j].result);
    return &s->cache[j].result;
}

int symbolizer_build_id(struct symbolizer *s, uintptr_t addr, char *out, size_t len)
{
    Dwfl_Module *mod = s->dw->dwfl_addrmodule(s->dwfl, addr);
    const unsigned char *bits;
    GElf_Addr vaddr;
    int n, i;

    if (!mod)
        return -1;
    s->dw->dwfl_module_getelf(mod, &vaddr); /* the id is read with the ELF */
    n = s->dw->dwfl_module_build_id(mod, &bits, &vaddr);
    if (n <= 0 || (size_t)n * 2 + 1 > len)
        return -1;
    for (i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", bits[i]);
    return 0;
}
