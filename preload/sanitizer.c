/*
 * sanitizer.c - LD_PRELOAD glue: a report when a sanitizer ends the process.
 *
 * AddressSanitizer (and UBSan or TSan with halt_on_error) ends a process
 * that broke a rule with _exit(), after printing its own report: no signal,
 * so no crash report. Their runtimes offer a death callback, called after
 * their report and before the exit: there libgmr asks for a report, as
 * gmr_report() would, and waits for it, so the log shows the sanitizer's
 * report, then every thread's stack, then the sanitizer's own exit status.
 * Found with dlsym, so nothing changes where no sanitizer runtime is loaded.
 */
#include "preload.h"

#include "gmr.h"

#include <dlfcn.h>

typedef void (*death_callback)(void);
typedef void (*set_death_callback_fn)(death_callback);

static void sanitizer_died(void)
{
    gmr_report("a sanitizer is ending the process (its report is above)");
}

void preload_watch_sanitizer(void)
{
    set_death_callback_fn set =
        (set_death_callback_fn)dlsym(RTLD_DEFAULT, "__sanitizer_set_death_callback");

    if (set)
        set(sanitizer_died);
}
