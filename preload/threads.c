/*
 * threads.c - LD_PRELOAD glue: libgmr's pthread_create.
 *
 * A thread's alternate signal stack must be set by the thread itself, so
 * to give one to every thread the program creates (the crash handler needs
 * it when a stack overflows), we stand in for pthread_create: the new
 * thread first installs its alternate stack, then runs the program's
 * function. Everything else is the real pthread_create's, found with
 * dlsym(RTLD_NEXT). With GMR_CRASH=0 we pass straight through.
 */
#include "preload.h"

#include "signal/altstack.h"
#include "base/startup.h"
#include "../src/watcher.h"

#include <dlfcn.h>
#include <errno.h>
#include <gmr.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

typedef int (*create_fn)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);

struct start {
    void *(*fn)(void *);
    void *arg;
    _Atomic int busy; /* a slot of `slots` in use */
};

/* The new thread's function and argument reach the trampoline in one of
   these, taken and given back within pthread_create, or from malloc when
   all are in use: the watcher's start, and most threads', allocate
   nothing (a process's first malloc costs it a new heap). */
#define SLOTS 4
static GMR_STARTUP struct start slots[SLOTS];

static _Atomic(create_fn) real_create;
GMR_STARTUP int preload_altstacks;

static create_fn real(void)
{
    create_fn fn = atomic_load(&real_create);

    if (!fn) {
        fn = (create_fn)dlsym(RTLD_NEXT, "pthread_create");
        atomic_store(&real_create, fn);
    }
    return fn;
}

#if defined(__SANITIZE_ADDRESS__)
void __asan_unpoison_memory_region(void const volatile *addr, size_t size);

#define STACK_CLEANED (16 * 1024) /* more than trampoline and altstack_install use */

/*
 * Under AddressSanitizer we run before its own thread start (its
 * pthread_create calls ours), on a stack glibc may have reused: in a
 * forked child, the parent's watcher stack still carries that thread's
 * redzones. Clear the part we use, as ASan will clear all of it a moment
 * later.
 */
__attribute__((no_sanitize("address"))) static void clean_stack_shadow(void)
{
    char *frame = __builtin_frame_address(0);

    __asan_unpoison_memory_region(frame - STACK_CLEANED, STACK_CLEANED);
}
#else
static void clean_stack_shadow(void)
{
}
#endif

static struct start *take_start(void)
{
    int i;

    for (i = 0; i < SLOTS; i++) {
        int idle = 0;

        if (atomic_compare_exchange_strong(&slots[i].busy, &idle, 1))
            return &slots[i];
    }
    return calloc(1, sizeof(struct start));
}

static void give_back(struct start *s)
{
    if (s >= slots && s < slots + SLOTS)
        atomic_store(&s->busy, 0);
    else
        free(s);
}

__attribute__((no_sanitize("address"))) static void *trampoline(void *p)
{
    struct start s = {((struct start *)p)->fn, ((struct start *)p)->arg, 0};

    clean_stack_shadow();
    give_back(p);
    altstack_install();
    return s.fn(s.arg);
}

GMR_API int pthread_create(pthread_t *thread, const pthread_attr_t *attr, void *(*fn)(void *),
                           void *arg)
{
    create_fn create = real();
    struct start *s;
    int err;

    if (!create)
        return EAGAIN; /* no pthread_create further down: cannot happen with glibc */
    if (!preload_altstacks || fn == watcher_main || !(s = take_start()))
        return create(thread, attr, fn, arg);
    s->fn = fn;
    s->arg = arg;
    err = create(thread, attr, trampoline, s);
    if (err)
        give_back(s);
    return err;
}
