/*
 * altstack.c - per-thread alternate signal stacks: where the handlers of
 * this folder run. Not itself signal context: it runs as a thread starts
 * and ends (preload/threads.c), never inside a handler.
 *
 * Each stack is its own mapping with a guard page below it, touched only
 * when a signal handler runs on it. A thread-specific key's destructor
 * takes it down when the thread exits (pthread_exit included): it is
 * disabled first, then unmapped, and only if it is still ours - the
 * program may have put its own in place since.
 */
#include "altstack.h"

#include "base/startup.h"

#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <sys/mman.h>
#include <unistd.h>

/* The program's own handlers run on it too, when it asks for SA_ONSTACK
   without a stack of its own (and would have run on its 8 MiB thread
   stack): so, room for a deep one. Reserved, touched only as used. */
#define ALTSTACK_SIZE (256 * 1024)
#define GUARD         4096

static GMR_STARTUP pthread_key_t key;
static GMR_STARTUP pthread_once_t key_once = PTHREAD_ONCE_INIT;

static void take_down(void *mem)
{
    stack_t now, off = {.ss_flags = SS_DISABLE};

    if (sigaltstack(NULL, &now) < 0)
        return;
    if (now.ss_sp == (char *)mem + GUARD) {
        if (now.ss_flags & SS_ONSTACK)
            return; /* exiting from a handler on it: leave it be */
        sigaltstack(&off, NULL);
    }
    munmap(mem, ALTSTACK_SIZE + GUARD);
}

static void make_key(void)
{
    pthread_key_create(&key, take_down);
}

void altstack_install(void)
{
    stack_t now, ss;
    void *mem;

    if (sigaltstack(NULL, &now) < 0 || !(now.ss_flags & SS_DISABLE))
        return; /* the thread has one already */
    mem = mmap(NULL, ALTSTACK_SIZE + GUARD, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mem == MAP_FAILED)
        return;
    mprotect(mem, GUARD, PROT_NONE);
    ss.ss_sp = (char *)mem + GUARD;
    ss.ss_size = ALTSTACK_SIZE;
    ss.ss_flags = 0;
    if (sigaltstack(&ss, NULL) < 0) {
        munmap(mem, ALTSTACK_SIZE + GUARD);
        return;
    }
    pthread_once(&key_once, make_key);
    pthread_setspecific(key, mem);
}
