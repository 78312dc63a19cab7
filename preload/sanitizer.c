/*
 * sanitizer.c - LD_PRELOAD glue: a report when a sanitizer ends the process.
 *
 * AddressSanitizer (and UBSan or TSan with halt_on_error) ends a process
 * that broke a rule with _exit(), after printing its own report: no signal,
 * so no crash report. Their runtimes offer a death callback, called after
 * their report and before the exit: there libgmr asks for a report, as
 * gmr_report() would, and waits for it, so the log shows the sanitizer's
 * report, then every thread's stack, then the sanitizer's own exit status.
 * A weak reference, so nothing changes where no sanitizer runtime is
 * loaded (and a process without one pays no failed dlsym at start: its
 * error message is the first malloc of many a short-lived process).
 *
 * With abort_on_error the sanitizer ends in abort() instead, and libgmr's
 * crash report of that SIGABRT is the report: the callback then stays out
 * of the way rather than write a second one.
 */
#include "preload.h"

#include "gmr.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

typedef const char *(*default_options_fn)(void);

/* The runtimes' (sanitizer/common_interface_defs.h); NULL without one. */
void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

/* Does a sanitizer option string turn abort_on_error on? The last
   setting wins, as in the runtime's own parser. */
static int sets_abort(const char *options, int current)
{
    static const char key[] = "abort_on_error=";
    const char *p;

    if (!options)
        return current;
    for (p = strstr(options, key); p; p = strstr(p + 1, key)) {
        const char *v = p + sizeof(key) - 1;

        if (p == options || strchr(" :,\t\n", p[-1]))
            current = v[0] == '1' || !strncmp(v, "true", 4) || !strncmp(v, "yes", 3);
    }
    return current;
}

/* abort_on_error, from the program's built-in defaults, then the
   environment, for each runtime that may be in the process. */
static int will_abort(void)
{
    static const char *const runtimes[][2] = {{"__asan_default_options", "ASAN_OPTIONS"},
                                              {"__ubsan_default_options", "UBSAN_OPTIONS"},
                                              {"__tsan_default_options", "TSAN_OPTIONS"}};
    size_t i;

    for (i = 0; i < sizeof(runtimes) / sizeof(runtimes[0]); i++) {
        default_options_fn defaults = (default_options_fn)dlsym(RTLD_DEFAULT, runtimes[i][0]);
        int on = sets_abort(defaults ? defaults() : NULL, 0);

        if (sets_abort(getenv(runtimes[i][1]), on))
            return 1;
    }
    return 0;
}

static void sanitizer_died(void)
{
    if (will_abort())
        return; /* the crash report of its SIGABRT follows */
    gmr_report("a sanitizer is ending the process (its report is above)");
}

void preload_watch_sanitizer(void)
{
    if (__sanitizer_set_death_callback)
        __sanitizer_set_death_callback(sanitizer_died);
}
