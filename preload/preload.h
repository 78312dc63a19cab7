/*
 * preload.h - what the LD_PRELOAD glue files share.
 */
#ifndef GMR_PRELOAD_H
#define GMR_PRELOAD_H

#include "base/startup.h"

#include <dlfcn.h>
#include <stdatomic.h>

/* next_fn_<name>(): the next definition of `name` (libc's, for the calls
   we stand in front of), looked up once. */
#define PRELOAD_NEXT(type, name)                                                                   \
    static GMR_STARTUP _Atomic(type) next_##name;                                                  \
    static type next_fn_##name(void)                                                               \
    {                                                                                              \
        type fn = atomic_load(&next_##name);                                                       \
        if (!fn) {                                                                                 \
            fn = (type)dlsym(RTLD_NEXT, #name);                                                    \
            atomic_store(&next_##name, fn);                                                        \
        }                                                                                          \
        return fn;                                                                                 \
    }

/* Set by the constructor when crash reports are on: new threads get an
   alternate signal stack (threads.c). */
extern int preload_altstacks;

/* Looks up the sigaction() and signal() calls ours stand in front of
   (sigaction.c). First thing in the constructor. */
void preload_resolve_signal_calls(void);
/* With a sanitizer runtime in the process: a report when it ends it. */
void preload_watch_sanitizer(void);

#endif
