/*
 * deps.c - dlopen libunwind (generic/remote flavour) and libdw.
 *
 * Only the watcher calls deps_load, once, before the first report; the
 * tables are read-only afterwards, so other threads may read them freely.
 */
#include "deps.h"

#include "log.h"

#include <dlfcn.h>
#include <stdatomic.h>
#include <string.h>

#if defined(__x86_64__)
#define UNWIND_SONAME "libunwind-x86_64.so.8"
#else
#error "libgmr supports x86_64 only for now"
#endif
#define DW_SONAME "libdw.so.1"

#define STR_(x) #x
#define STR(x)  STR_(x)

static struct unwind_api unwind_api;
static struct dw_api dw_api;
static int unwind_ok, dw_ok;
/* 0: not started, 1: loading, 2: done. A fork while 1 leaves the child
   with the loader's locks in unknown hands. */
static _Atomic int state;

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
    void *h = open_lib(UNWIND_SONAME, "stack unwinding");
    int bad = 0;

    if (!h)
        return 0;
#define RESOLVE_UNW(name)                                                                          \
    bad |= resolve(h, UNWIND_SONAME, STR(UNW_OBJ(name)), (void **)&unwind_api.name);
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

void deps_load(void)
{
    if (atomic_load(&state))
        return;
    atomic_store(&state, 1);
    unwind_ok = load_unwind();
    dw_ok = load_dw();
    atomic_store(&state, 2);
}

int deps_ready(void)
{
    return atomic_load(&state) != 1;
}

const struct unwind_api *deps_unwind(void)
{
    return unwind_ok ? &unwind_api : NULL;
}

const struct dw_api *deps_dw(void)
{
    return dw_ok ? &dw_api : NULL;
}
