/*
 * symbolize.c - elfutils-backed symbolization, with results that outlive it.
 *
 * For an address A (A-1 for a return address, so that a call at the end
 * of a function is not attributed to the next one):
 *   module   dwfl_addrmodule; offset = A - load bias, as addr2line wants;
 *   symbol   dwfl_module_addrinfo (symtab or dynsym), demangled;
 *   line     dwfl_module_getsrc + dwfl_lineinfo;
 *   inlines  the innermost scope at A (dwarf_getscopes), then its parents
 *            (dwarf_getscopes_die) up to the enclosing DW_TAG_subprogram:
 *            each DW_TAG_inlined_subroutine on the way is a frame of its
 *            own, located at its caller's DW_AT_call_file:DW_AT_call_line
 *            and named from its linkage name, as eu-stack -i prints them.
 *            (dwarf_getscopes alone stops at the innermost inlined call
 *            and goes on with the scopes around its abstract definition.)
 *
 * Names are demangled as eu-stack and gdb show them: C++ through the C++
 * ABI's __cxa_demangle, loaded from libstdc++ (deps.h); Rust's legacy
 * mangling here, as rustc-demangle does, its hash left out
 * ("threads::main"); Rust's v0 mangling (_R) is left as it is. A version
 * suffix from a symbol table ("@@GLIBCXX_3.4") is kept. The mangled name
 * stays beside the demangled one (sym_frame.raw, JSON symbol_raw).
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
    /* Demangled names (malloc'd) of the address being symbolized: kept
       until the cache has copied them (symcache_put), then given back. */
    char **names;
    size_t n_names, names_cap;
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

static void release_names(struct symbolizer *s)
{
    while (s->n_names)
        free(s->names[--s->n_names]);
}

void symbolizer_shed(struct symbolizer *s)
{
    if (!s)
        return;
    free(s->names); /* empty: each address gives its names back */
    s->names = NULL;
    s->names_cap = 0;
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

/* ---- names ---- */

/* Keeps a malloc'd name until the cache has copied it; NULL if it cannot. */
static char *keep_name(struct symbolizer *s, char *name)
{
    if (!name)
        return NULL;
    if (s->n_names == s->names_cap) {
        size_t cap = s->names_cap ? s->names_cap * 2 : 8;
        char **grown = realloc(s->names, cap * sizeof(*grown));
        if (!grown) {
            free(name);
            return NULL;
        }
        s->names = grown;
        s->names_cap = cap;
    }
    s->names[s->n_names++] = name;
    return name;
}

static int is_hex_lower(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* Appends code point cp as UTF-8. */
static size_t put_utf8(char *out, unsigned long cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* One "$...$" escape of Rust's legacy mangling at p (p[0] == '$', the
   closing '$' at p + len - 1): its text in out; 0 if it is none. */
static size_t rust_escape(const char *p, size_t len, char *out)
{
    static const struct {
        const char *code;
        char c;
    } simple[] = {{"SP", '@'}, {"BP", '*'}, {"RF", '&'}, {"LT", '<'},
                  {"GT", '>'}, {"LP", '('}, {"RP", ')'}, {"C", ','}};
    unsigned long cp = 0;
    size_t i;

    for (i = 0; i < sizeof(simple) / sizeof(simple[0]); i++)
        if (len == strlen(simple[i].code) + 2 && !memcmp(p + 1, simple[i].code, len - 2)) {
            out[0] = simple[i].c;
            return 1;
        }
    /* $u7e$: a code point, in lower-case hex. */
    if (len < 4 || len > 9 || p[1] != 'u')
        return 0;
    for (i = 2; i < len - 1; i++) {
        if (!is_hex_lower(p[i]))
            return 0;
        cp = cp * 16 + (unsigned long)(p[i] <= '9' ? p[i] - '0' : p[i] - 'a' + 10);
    }
    if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0) || (cp >= 0xd800 && cp < 0xe000) || cp > 0x10ffff)
        return 0;
    return put_utf8(out, cp);
}

/* One path element of Rust's legacy mangling, unescaped into out. */
static size_t rust_element(const char *p, size_t len, char *out)
{
    size_t o = 0, i = 0;

    if (len >= 2 && p[0] == '_' && p[1] == '$')
        i = 1;
    while (i < len) {
        if (p[i] == '.') {
            int two = i + 1 < len && p[i + 1] == '.';
            if (two) {
                out[o++] = ':';
                out[o++] = ':';
            } else {
                out[o++] = '.';
            }
            i += two ? 2 : 1;
        } else if (p[i] == '$') {
            const char *end = memchr(p + i + 1, '$', len - i - 1);
            size_t n = end ? rust_escape(p + i, (size_t)(end - (p + i)) + 1, out + o) : 0;
            if (!n)
                break; /* not an escape: the rest as it is */
            o += n;
            i = (size_t)(end - p) + 1;
        } else {
            out[o++] = p[i++];
        }
    }
    memcpy(out + o, p + i, len - i);
    return o + len - i;
}

/* The length-prefixed element at *p (before end), in *elem and *elen;
 *p moves past it. -1 if there is none. */
static int rust_next(const char **p, const char *end, const char **elem, size_t *elen)
{
    size_t n = 0;

    if (*p >= end || **p < '0' || **p > '9')
        return -1;
    while (*p < end && **p >= '0' && **p <= '9') {
        n = n * 10 + (size_t)(*(*p)++ - '0');
        if (n > (size_t)(end - *p)) /* also keeps n from overflowing */
            return -1;
    }
    if (!n)
        return -1;
    *elem = *p;
    *elen = n;
    *p += n;
    return 0;
}

/* rustc's hash element: "h" and 16 lower-case hex digits. */
static int rust_hash(const char *elem, size_t elen)
{
    size_t i;

    if (elen != 17 || elem[0] != 'h')
        return 0;
    for (i = 1; i < elen; i++)
        if (!is_hex_lower(elem[i]))
            return 0;
    return 1;
}

/* The 'E' that ends Rust's legacy path in name (len bytes), and the number
   of elements, the hash included; NULL if name is not one. The hash tells
   it from a C++ name of the same shape (a variable's). */
static const char *rust_path_end(const char *name, size_t len, size_t *n_elems)
{
    const char *p = name + 3, *end = name + len, *elem = NULL;
    size_t elen = 0;

    if (len < 4 || memcmp(name, "_ZN", 3))
        return NULL;
    for (*n_elems = 0; p < end && *p != 'E'; ++*n_elems)
        if (rust_next(&p, end, &elem, &elen) < 0)
            return NULL;
    if (p == end || *n_elems < 2 || !rust_hash(elem, elen))
        return NULL;
    return p;
}

/* What follows the 'E': what of it to show (LLVM's ".llvm.<hash>" is left
   out, as rustc-demangle does; another ".suffix" is kept), or NULL if the
   name is not Rust's. */
static const char *rust_suffix(const char *tail, const char *end)
{
    size_t n = (size_t)(end - tail);

    if (tail < end && *tail != '.')
        return NULL;
    if (n > 6 && !memcmp(tail, ".llvm.", 6) && strspn(tail + 6, "0123456789ABCDEF@") == n - 6)
        return end;
    return tail;
}

/*
 * Rust's legacy mangling: _ZN, length-prefixed path elements, the last
 * the hash, E. Returns the path without the hash, unescaped, malloc'd, or
 * NULL if name (len bytes) is not one.
 */
static char *rust_legacy(const char *name, size_t len)
{
    const char *p = name + 3, *end = name + len, *stop, *tail, *elem;
    size_t n_elems, elen, o = 0;
    char *out;

    stop = rust_path_end(name, len, &n_elems);
    if (!stop || !(tail = rust_suffix(stop + 1, end)))
        return NULL;
    /* Unescaping never lengthens an element (a code point of k hex digits
       takes at most (k + 3) / 2 bytes); a "::" takes the place of a
       length's digits and at most one byte more. */
    out = malloc(2 * len + 1);
    if (!out)
        return NULL;
    while (--n_elems && rust_next(&p, end, &elem, &elen) == 0) { /* all but the hash */
        if (o) {
            out[o++] = ':';
            out[o++] = ':';
        }
        o += rust_element(elem, elen, out + o);
    }
    memcpy(out + o, tail, (size_t)(end - tail));
    out[o + (size_t)(end - tail)] = '\0';
    return out;
}

/* A C++ name (the first len bytes of name) through __cxa_demangle:
   malloc'd, or NULL if libstdc++ is missing or the name is not C++. */
static char *cxx_demangle(const char *name, size_t len)
{
    cxa_demangle_fn cxa = deps_demangler();
    char *base, *plain;
    int status = -1;

    if (!cxa || !(base = strndup(name, len)))
        return NULL;
    plain = cxa(base, NULL, NULL, &status);
    free(base);
    return status == 0 ? plain : NULL; /* on failure it allocated nothing */
}

/* plain (malloc'd) with version appended; plain is given back either way. */
static char *with_version(char *plain, const char *version)
{
    size_t plen = strlen(plain), vlen = strlen(version);
    char *grown = realloc(plain, plen + vlen + 1);

    if (!grown) {
        free(plain);
        return NULL;
    }
    memcpy(grown + plen, version, vlen + 1);
    return grown;
}

/*
 * The name to show for `name` as found in the binary, and in *raw the
 * name as found when it differs (else NULL). Only names that look mangled
 * (_Z) are touched; a symbol version after one ("@@GLIBCXX_3.4") is kept,
 * where __cxa_demangle alone would refuse the whole name.
 */
static const char *demangle(struct symbolizer *s, const char *name, const char **raw)
{
    const char *at;
    size_t len;
    char *plain, *shown;

    *raw = NULL;
    if (!name || name[0] != '_' || name[1] != 'Z')
        return name;
    at = strchr(name, '@');
    len = at ? (size_t)(at - name) : strlen(name);
    plain = rust_legacy(name, len);
    if (!plain)
        plain = cxx_demangle(name, len);
    if (plain && at)
        plain = with_version(plain, at);
    shown = keep_name(s, plain);
    if (!shown)
        return name;
    *raw = name;
    return shown;
}

/* ---- one address ---- */

/* An inlined call's function: by its linkage name (demangled) where the
   DWARF has one, as eu-stack does, else by its plain name (a C function,
   or one the compiler gave no linkage name: internal linkage). Both are
   looked for through DW_AT_abstract_origin and DW_AT_specification. */
static const char *die_name(struct symbolizer *s, Dwarf_Die *die, const char **raw)
{
    const struct dw_api *dw = s->dw;
    Dwarf_Attribute attr;
    const char *name = NULL;

    *raw = NULL;
    if (dw->dwarf_attr_integrate(die, DW_AT_linkage_name, &attr) ||
        dw->dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &attr))
        name = dw->dwarf_formstring(&attr);
    if (name)
        return demangle(s, name, raw);
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
 * Adds the inlined frames at `addr`, innermost first. On return *outer
 * holds the location the outermost (real) function is at: the outermost
 * inlined call's call site.
 *
 * The walk goes from the innermost scope at addr out through its parents
 * in the DWARF tree and stops at the subprogram that holds them (eu-stack's
 * rule): every inlined call between is one frame, in order, and nothing
 * beyond the function the address is in (an enclosing function's own
 * scopes, for a nested function) is taken for one.
 */
static void add_inlines(struct symbolizer *s, Dwfl_Module *mod, Dwarf_Addr addr,
                        struct sym_frame *outer, struct sym_result *r)
{
    const struct dw_api *dw = s->dw;
    Dwarf_Addr bias;
    Dwarf_Die *cu = dw->dwfl_module_addrdie(mod, addr, &bias), *scopes = NULL, *chain = NULL;
    int i, n;

    if (!cu)
        return;
    n = dw->dwarf_getscopes(cu, addr - bias, &scopes);
    if (n > 0)
        n = dw->dwarf_getscopes_die(&scopes[0], &chain);
    for (i = 0; i < n; i++) {
        int tag = dw->dwarf_tag(&chain[i]);
        struct sym_frame f = *outer;
        Dwarf_Word line;

        if (tag == DW_TAG_subprogram || tag == DW_TAG_entry_point)
            break;
        if (tag != DW_TAG_inlined_subroutine)
            continue;
        f.function = die_name(s, &chain[i], &f.raw);
        f.has_offset = 0;
        f.inlined = 1;
        if (push(r, &f) < 0)
            break;
        /* The caller sits at this inlined call's call site. */
        outer->file = call_file(dw, cu, &chain[i]);
        outer->line = die_udata(dw, &chain[i], DW_AT_call_line, &line) == 0 ? (int)line : 0;
    }
    free(chain);
    free(scopes);
}

static void symbolize_into(struct symbolizer *s, uintptr_t pc, int exact, struct sym_result *r)
{
    const struct dw_api *dw = s->dw;
    Dwarf_Addr addr = exact ? pc : pc - 1, bias = 0, line_addr = 0;
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
        f.function = demangle(s, f.function, &f.raw);
        f.offset = off + (pc - addr);
        f.has_offset = 1;
    }
    line = dw->dwfl_module_getsrc(mod, addr);
    if (line)
        f.file = dw->dwfl_lineinfo(line, &line_addr, &f.line, NULL, NULL, NULL);
    /* The nearest line before a function without line information (crt1's
       _start) belongs to other code: none rather than a wrong one. */
    if (f.file && f.function && line_addr < addr - off) {
        f.file = NULL;
        f.line = 0;
    }
    add_inlines(s, mod, addr, &f, r);
    push(r, &f);
}

/* ---- code elfutils does not know ---- */

static int anonymous(const struct mapping *m)
{
    return !m->path[0] || !strncmp(m->path, "[anon", 5);
}

/* A frame in code elfutils does not know, `name` found at `off` into its
   symbol (NULL: none), for the lookup address `addr` of pc. */
static void push_unknown(struct sym_result *r, enum frame_kind kind, const char *module,
                         const struct mapping *m, uintptr_t pc, uintptr_t addr, const char *name,
                         uintptr_t off)
{
    struct sym_frame f;

    memset(&f, 0, sizeof(f));
    f.kind = kind;
    f.module = module;
    f.module_offset = pc - m->start;
    if (name) {
        f.function = name;
        f.offset = off + (pc - addr);
        f.has_offset = 1;
    }
    push(r, &f);
}

/* Code in the vDSO, named from its own symbols. */
static void symbolize_vdso(struct symbolizer *s, const struct mapping *m, uintptr_t pc, int exact,
                           struct sym_result *r)
{
    uintptr_t addr = exact ? pc : pc - 1, off = 0;
    const char *name = NULL;

    if (!s->vdso)
        s->vdso = vdso_load(m->start, m->end);
    if (s->vdso)
        name = vdso_symbol(s->vdso, addr, &off);
    push_unknown(r, FRAME_VDSO, "[vdso]", m, pc, addr, name, off);
}

/* Code a runtime compiled: named from its perf map, if it has one. */
static void symbolize_jit(struct symbolizer *s, const struct mapping *m, uintptr_t pc, int exact,
                          struct sym_result *r)
{
    uintptr_t addr = exact ? pc : pc - 1, off = 0;
    const char *name = NULL;

    if (!s->perfmap_tried) {
        s->perfmap = perfmap_load(getpid());
        s->perfmap_tried = 1;
    }
    if (s->perfmap)
        name = perfmap_find(s->perfmap, addr, &off);
    push_unknown(r, FRAME_JIT, "[jit]", m, pc, addr, name, off);
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
    release_names(s); /* copied by symcache_put, or dropped with the result */
    return hit;
}
