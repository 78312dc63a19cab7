/*
 * symbolize.c - elfutils-backed symbolization, with results that outlive it.
 *
 * For an address A (A-1 for a return address, so that a call at the end
 * of a function is not attributed to the next one):
 *   module   dwfl_addrmodule; offset = A - load bias, as addr2line wants;
 *   symbol   dwfl_module_addrinfo (symtab or dynsym);
 *   line     dwfl_module_getsrc + dwfl_lineinfo;
 *   inlines  dwarf_getscopes on the CU: each DW_TAG_inlined_subroutine
 *            scope is a frame of its own, located at its caller's
 *            DW_AT_call_file:DW_AT_call_line, as eu-stack -i prints them.
 *
 * elfutils is loaded on a report's first address that is not in the cache
 * and let go when the report is done (symbolizer_shed): its tables and the
 * debug files it maps come to tens of MiB, which a host must not carry
 * between reports. Each result, strings copied, stays in a symcache, so a
 * report of threads that sit where they sat last time needs no elfutils
 * at all. The cache is emptied when the code mapped into the process
 * changes (a module loaded or unloaded), found by a signature of the
 * executable mappings at each report.
 *
 * Two kinds of code elfutils does not know are named here: the vDSO,
 * from its own symbol table in memory (vdso.c), and code a runtime
 * compiled into anonymous executable memory, from its perf map if it
 * publishes one (perfmap.c), or else shown as [jit] with its offset in
 * the mapping. The perf map's state is part of the cache's signature.
 */
#include "symbolize.h"

#include "deps.h"
#include "perfmap.h"
#include "symcache.h"
#include "vdso.h"

#include <dwarf.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CACHE_MAX (256 * 1024) /* addresses; past this the cache starts over */

struct symbolizer {
    const struct dw_api *dw;
    Dwfl *dwfl;      /* from the first miss of a report until symbolizer_shed */
    int load_failed; /* this report: elfutils could not be loaded, do not retry */
    Dwfl_Callbacks callbacks;
    struct symcache cache;
    uint64_t modules;        /* signature of the loaded modules the cache is for */
    const struct maps *maps; /* this report's, from symbolizer_refresh */
    struct vdso *vdso;       /* loaded on its first frame, kept with the cache */
    struct perfmap *perfmap; /* this report's, loaded on its first JIT frame */
    int perfmap_tried;
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
    return s;
}

void symbolizer_shed(struct symbolizer *s)
{
    if (!s)
        return;
    s->load_failed = 0;
    s->maps = NULL; /* the report's: gone with it */
    perfmap_free(s->perfmap);
    s->perfmap = NULL;
    s->perfmap_tried = 0;
    if (!s->dwfl)
        return;
    s->dw->dwfl_end(s->dwfl); /* closes every descriptor it had */
    s->dwfl = NULL;
    n_owned_fds = 0;
}

void symbolizer_free(struct symbolizer *s)
{
    if (!s)
        return;
    symbolizer_shed(s);
    symcache_clear(&s->cache);
    vdso_free(s->vdso);
    free(s);
}

/*
 * The modules come from /proc/self/maps, handed over as a stream:
 * dwfl_linux_proc_report would also read /proc/self/auxv, which a process
 * that changed its credentials (a daemon dropping root) may not read any
 * more, and would then give up on every module.
 */
static int load_modules(struct symbolizer *s)
{
    FILE *maps;
    int ret;

    s->dwfl = s->dw->dwfl_begin(&s->callbacks);
    if (!s->dwfl)
        return -1;
    maps = fopen("/proc/self/maps", "re");
    if (!maps)
        goto fail;
    s->dw->dwfl_report_begin(s->dwfl);
    ret = s->dw->dwfl_linux_proc_maps_report(s->dwfl, maps);
    fclose(maps);
    if (s->dw->dwfl_report_end(s->dwfl, NULL, NULL) != 0 || ret != 0)
        goto fail;
    return 0;
fail:
    symbolizer_shed(s);
    return -1;
}

/* FNV-1a over what identifies the code mapped: where, from which file. */
static uint64_t mix(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;

    while (len--)
        h = (h ^ *p++) * 1099511628211ull;
    return h;
}

void symbolizer_refresh(struct symbolizer *s, const struct maps *maps)
{
    uint64_t sig = 1469598103934665603ull;
    size_t i;

    for (i = 0; i < maps->n; i++) {
        const struct mapping *m = &maps->m[i];
        if (!(m->perms & MAP_X))
            continue;
        sig = mix(sig, &m->start, sizeof(m->start));
        sig = mix(sig, &m->end, sizeof(m->end));
        sig = mix(sig, &m->offset, sizeof(m->offset));
        sig = mix(sig, &m->inode, sizeof(m->inode)); /* a file rebuilt in place */
        sig = mix(sig, m->path, strlen(m->path));
    }
    sig ^= perfmap_signature(getpid()); /* names of JIT code come from it */
    /* No map (it could not be read): nothing says the cache is still good. */
    if (!maps->n || sig != s->modules || s->cache.n >= CACHE_MAX) {
        symcache_clear(&s->cache);
        vdso_free(s->vdso);
        s->vdso = NULL;
    }
    s->modules = sig;
    symbolizer_shed(s); /* a report loads what it misses afresh */
    s->maps = maps;
}

const char *frame_kind_name(enum frame_kind kind)
{
    switch (kind) {
    case FRAME_JIT:
        return "jit";
    case FRAME_VDSO:
        return "vdso";
    case FRAME_SIGNAL:
        return "signal";
    case FRAME_NATIVE:
        break;
    }
    return "native";
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

/* ---- code elfutils does not know ---- */

static int anonymous(const struct mapping *m)
{
    return !m->path[0] || !strncmp(m->path, "[anon", 5);
}

/* Code in the vDSO, named from its own symbols. */
static void symbolize_vdso(struct symbolizer *s, const struct mapping *m, uintptr_t pc, int exact,
                           struct sym_result *r)
{
    uintptr_t addr = exact ? pc : pc - 1, off;
    struct sym_frame f;

    memset(&f, 0, sizeof(f));
    f.kind = FRAME_VDSO;
    f.module = "[vdso]";
    f.module_offset = pc - m->start;
    if (!s->vdso)
        s->vdso = vdso_load(m->start, m->end);
    if (s->vdso && (f.function = vdso_symbol(s->vdso, addr, &off))) {
        f.offset = off + (pc - addr);
        f.has_offset = 1;
    }
    push(r, &f);
}

/* Code a runtime compiled: named from its perf map, if it has one. */
static void symbolize_jit(struct symbolizer *s, const struct mapping *m, uintptr_t pc, int exact,
                          struct sym_result *r)
{
    uintptr_t addr = exact ? pc : pc - 1, off;
    struct sym_frame f;

    memset(&f, 0, sizeof(f));
    f.kind = FRAME_JIT;
    f.module = "[jit]";
    f.module_offset = pc - m->start;
    if (!s->perfmap_tried) {
        s->perfmap = perfmap_load(getpid());
        s->perfmap_tried = 1;
    }
    if (s->perfmap && (f.function = perfmap_find(s->perfmap, addr, &off))) {
        f.offset = off + (pc - addr);
        f.has_offset = 1;
    }
    push(r, &f);
}

/* ---- the cache in front ---- */

const struct sym_result *symbolize(struct symbolizer *s, uintptr_t pc, int exact)
{
    uintptr_t key = (pc << 1) | (exact ? 1 : 0) | ((uintptr_t)1 << 63);
    const struct sym_result *hit = symcache_find(&s->cache, key);
    const struct mapping *m = s->maps ? maps_find(s->maps, exact ? pc : pc - 1) : NULL;
    struct sym_result fresh = {0, NULL};

    if (hit)
        return hit;
    if (m && !strcmp(m->path, "[vdso]"))
        symbolize_vdso(s, m, pc, exact, &fresh);
    else if (m && (m->perms & MAP_X) && anonymous(m))
        symbolize_jit(s, m, pc, exact, &fresh);
    else if (!s->dwfl && (s->load_failed || load_modules(s) < 0)) {
        s->load_failed = 1;
        return NULL;
    } else
        symbolize_into(s, pc, exact, &fresh);
    hit = symcache_put(&s->cache, key, &fresh);
    free(fresh.frames);
    return hit;
}
