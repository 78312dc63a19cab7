/*
 * deps.h - libunwind and elfutils, loaded privately at run time.
 *
 * libgmr does not link them: it dlopen()s them RTLD_LOCAL on the watcher
 * thread. Linking would put their symbols in the host's global scope:
 * Debian's libunwind.so.8 exports _Unwind_RaiseException and friends, which
 * would silently replace libgcc_s for the host's C++ exceptions, and
 * libdw's dwarf_* names clash with libdwarf's. Loading late also keeps the
 * host's start-up free of them.
 *
 * Each library's functions sit in a table typed from its real header, so
 * calls are checked by the compiler as if linked.
 *
 * C++ names are demangled with libstdc++'s __cxa_demangle, loaded the same
 * way: libgmr is a C library preloaded into C programs too, and must not
 * bring libstdc++ (and its exception runtime) into the host's global scope.
 */
#ifndef GMR_DEPS_H
#define GMR_DEPS_H

#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <libunwind.h>

/* Exported by libunwind's generic library but missing from its header. */
extern int UNW_OBJ(dwarf_search_unwind_table)(unw_addr_space_t as, unw_word_t ip,
                                              unw_dyn_info_t *di, unw_proc_info_t *pi,
                                              int need_unwind_info, void *arg);

#define UNWIND_FUNCS(X)                                                                            \
    X(create_addr_space)                                                                           \
    X(destroy_addr_space)                                                                          \
    X(set_caching_policy)                                                                          \
    X(flush_cache)                                                                                 \
    X(init_remote)                                                                                 \
    X(step)                                                                                        \
    X(get_reg)                                                                                     \
    X(is_signal_frame)                                                                             \
    X(dwarf_search_unwind_table)

#define DW_FUNCS(X)                                                                                \
    X(dwfl_begin)                                                                                  \
    X(dwfl_end)                                                                                    \
    X(dwfl_report_begin)                                                                           \
    X(dwfl_report_end)                                                                             \
    X(dwfl_linux_proc_maps_report)                                                                 \
    X(dwfl_linux_proc_find_elf)                                                                    \
    X(dwfl_build_id_find_debuginfo)                                                                \
    X(dwfl_standard_find_debuginfo)                                                                \
    X(dwfl_addrmodule)                                                                             \
    X(dwfl_module_addrinfo)                                                                        \
    X(dwfl_module_info)                                                                            \
    X(dwfl_module_getelf)                                                                          \
    X(dwfl_module_getsrc)                                                                          \
    X(dwfl_lineinfo)                                                                               \
    X(dwfl_module_addrdie)                                                                         \
    X(dwfl_errmsg)                                                                                 \
    X(dwarf_getscopes)                                                                             \
    X(dwarf_getscopes_die)                                                                         \
    X(dwarf_tag)                                                                                   \
    X(dwarf_formstring)                                                                            \
    X(dwarf_attr_integrate)                                                                        \
    X(dwarf_formudata)                                                                             \
    X(dwarf_getsrcfiles)                                                                           \
    X(dwarf_filesrc)

/* A declarator cannot be parenthesized: */
#define DEPS_FIELD_UNW(name)                                                                       \
    __typeof__(UNW_OBJ(name)) *name;             /* NOLINT(bugprone-macro-parentheses) */
#define DEPS_FIELD(name) __typeof__(name) *name; /* NOLINT(bugprone-macro-parentheses) */

struct unwind_api {
    UNWIND_FUNCS(DEPS_FIELD_UNW)
};

struct dw_api {
    DW_FUNCS(DEPS_FIELD)
};

/* The C++ ABI's demangler (__cxa_demangle): a malloc'd name, or NULL with
 *status non-zero. */
typedef char *(*cxa_demangle_fn)(const char *mangled, char *out, size_t *len, int *status);

/* Loads the libraries once; says on stderr what could not be loaded (one
   line each). */
void deps_load(void);
/* fork() handlers: the prepare step waits (bounded) for a load under way
   to end; in the child, deps_fork_child says whether it could, that is
   whether the loader is safe to use there. */
void deps_fork_prepare(void);
void deps_fork_parent(void);
int deps_fork_child(void);
/* The loaded tables, or NULL if the library is missing. */
const struct unwind_api *deps_unwind(void);
const struct dw_api *deps_dw(void);
/* __cxa_demangle from libstdc++, or NULL if it could not be loaded. */
cxa_demangle_fn deps_demangler(void);

#endif
