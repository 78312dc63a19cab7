/*
 * deps.c - dlopen libunwind (generic/remote flavour), libdw, and
 * libstdc++ for its demangler.
 *
 * Only the watcher calls deps_load, before each report (it loads once);
 * the tables are read-only afterwards, so other threads may read them
 * freely. Nothing is loaded before the first report: a process that is
 * never asked costs no loading, and its allocator sees no allocation of
 * ours (jemalloc starts a background thread for each arena that is used).
 *
 * A fork() while the watcher is inside dlopen would give the child the
 * loader's state half-changed, and the child's own watcher could not load
 * anything safely. So loading holds `loading`, and fork's prepare step
 * (deps_fork_prepare) takes it too, waiting for a load under way to end:
 * the child then knows the loader was at rest. The wait is bounded: a host
 * thread that forks while it holds the loader's lock itself (fork from a
 * library constructor) would otherwise wait for us while we wait for it.
 */
#include "deps.h"

#include "arch/arch.h"
#include "base/log.h"

#include <dlfcn.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#define DW_SONAME   "libdw.so.1"
#define CXX_SONAME  "libstdc++.so.6"
#define FORK_WAIT_S 1

#define STR_(x) #x
#define STR(x)  STR_(x)

static struct unwind_api unwind_api;
static struct dw_api dw_api;
static cxa_demangle_fn demangler;
static int unwind_ok, dw_ok, loaded;
static pthread_mutex_t loading = PTHREAD_MUTEX_INITIALIZER;
static int held_for_fork; /* deps_fork_prepare took `loading` */

static void *open_lib(const char *soname, const char *purpose)
{
    void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);

    if (!h)
        log_msg("cannot load %s (%s): %s", soname, purpose, dlerror());
    return h;
}

static int resolve(void *h, const char *soname, const char *name, void **slot)
{
    *slot = dlsym(h, name);
    if (!*slot) {
        log_msg("%s has no %s; %s disabled", soname, name, soname);
        return -1;
    }
    return 0;
}

static int load_unwind(void)
{
    void *h = open_lib(arch_libunwind_soname, "stack unwinding");
    int bad = 0;

    if (!h)
        return 0;
#define RESOLVE_UNW(name)                                                                          \
    bad |= resolve(h, arch_libunwind_soname, STR(UNW_OBJ(name)), (void **)&unwind_api.name);
    UNWIND_FUNCS(RESOLVE_UNW)
#undef RESOLVE_UNW
    return !bad;
}

static int load_dw(void)
{
    void *h = open_lib(DW_SONAME, "symbols and source lines");
    int bad = 0;

    if (!h)
        return 0;
#define RESOLVE_DW(name) bad |= resolve(h, DW_SONAME, #name, (void **)&dw_api.name);
    DW_FUNCS(RESOLVE_DW)
#undef RESOLVE_DW
    return !bad;
}

/*
 * A C++ host has libstdc++ already, and this only takes a reference to it.
 * A C host gets it mapped privately (RTLD_LOCAL: its symbols and its
 * libgcc_s stay out of the host's scope). Without it, names are shown as
 * they are in the binary.
 */
static cxa_demangle_fn load_demangler(void)
{
    void *h = open_lib(CXX_SONAME, "C++ demangling; C++ names are shown mangled");
    void *fn = NULL;

    if (h && resolve(h, CXX_SONAME, "__cxa_demangle", &fn) < 0)
        fn = NULL;
    return (cxa_demangle_fn)fn;
}

void deps_load(void)
{
    pthread_mutex_lock(&loading);
    if (!loaded) {
        unwind_ok = load_unwind();
        dw_ok = load_dw();
        /* Only for names from elfutils: useless without it. */
        if (dw_ok)
            demangler = load_demangler();
        loaded = 1;
    }
    pthread_mutex_unlock(&loading);
}

void deps_fork_prepare(void)
{
    struct timespec until;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += FORK_WAIT_S;
    held_for_fork = pthread_mutex_timedlock(&loading, &until) == 0;
}

void deps_fork_parent(void)
{
    if (held_for_fork)
        pthread_mutex_unlock(&loading);
    held_for_fork = 0;
}

int deps_fork_child(void)
{
    pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
    int safe = held_for_fork;

    /* Held by this (the forking) thread, or by a watcher that is gone. */
    loading = fresh;
    held_for_fork = 0;
    return safe;
}

const struct unwind_api *deps_unwind(void)
{
    return unwind_ok ? &unwind_api : NULL;
}

const struct dw_api *deps_dw(void)
{
    return dw_ok ? &dw_api : NULL;
}

cxa_demangle_fn deps_demangler(void)
{
    return demangler;
}
