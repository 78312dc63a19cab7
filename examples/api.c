/*
 * api.c - using libgmr's API from a program that runs with or without it.
 *
 * The functions are declared weak: when libgmr.so is preloaded (or linked)
 * they resolve to it, otherwise they are NULL and the program runs on.
 * It adds a "Job Queue" section, lists its coroutines (ucontext-based) so
 * the Green Threads section shows their stacks, and asks for a report
 * itself with gmr_report().
 *
 *   LD_PRELOAD=libgmr.so GMR_LOG_DIR=/tmp/gmr ./api
 *
 * Prints "api report: ..." about its own report, then "ready <pid>".
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* REG_RIP and friends in <ucontext.h> */
#endif
#include <gmr.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#pragma weak gmr_register_section
#pragma weak gmr_register_green_threads
#pragma weak gmr_report
#pragma weak gmr_emit_str
#pragma weak gmr_emit_int
#pragma weak gmr_emit_text
#pragma weak gmr_emit_begin_list
#pragma weak gmr_emit_end_list

/* ---- a job queue, shown in a section of its own ---- */

struct job {
    int id;
    const char *what;
};

static struct job jobs[] = {
    {101, "resize thumbnails"}, {102, "send invoices"}, {103, "rebuild index"}};

static void emit_queue(struct gmr_emitter *e, void *arg)
{
    struct job *q = arg;
    size_t i;

    gmr_emit_int(e, "pending", (long long)(sizeof(jobs) / sizeof(jobs[0])));
    gmr_emit_str(e, "oldest", q[0].what);
    gmr_emit_begin_list(e, "jobs");
    for (i = 0; i < sizeof(jobs) / sizeof(jobs[0]); i++)
        gmr_emit_str(e, NULL, q[i].what);
    gmr_emit_end_list(e);
    gmr_emit_text(e, "The queue is drained by the coroutines below.");
}

/* ---- coroutines, listed in Green Threads ---- */

#define COROUTINES 3
#define CO_STACK   (64 * 1024)

struct coroutine {
    ucontext_t ctx;
    char name[32];
    const char *state;
    char *stack;
};

static ucontext_t scheduler;
static struct coroutine coroutines[COROUTINES];

static __attribute__((noinline)) void wait_for_socket(struct coroutine *co)
{
    co->state = "waiting on socket";
    swapcontext(&co->ctx, &scheduler); /* suspended here, for good */
    __asm__ volatile("" ::: "memory");
}

static __attribute__((noinline)) void fetch_page(struct coroutine *co)
{
    wait_for_socket(co);
    __asm__ volatile("" ::: "memory");
}

static void coroutine_main(unsigned hi, unsigned lo)
{
    struct coroutine *co = (struct coroutine *)(((uintptr_t)hi << 32) | lo);

    fetch_page(co);
}

static void list_coroutines(gmr_green_visit_fn visit, void *visit_arg, void *arg)
{
    struct coroutine *cos = arg;
    int i;

    for (i = 0; i < COROUTINES; i++) {
        const greg_t *r = cos[i].ctx.uc_mcontext.gregs;
        struct gmr_green_thread g = {cos[i].name,           cos[i].state,
                                     (uintptr_t)r[REG_RIP], (uintptr_t)r[REG_RSP],
                                     (uintptr_t)r[REG_RBP], (uintptr_t)r[REG_RBX],
                                     (uintptr_t)r[REG_R12], (uintptr_t)r[REG_R13],
                                     (uintptr_t)r[REG_R14], (uintptr_t)r[REG_R15]};
        visit(&g, visit_arg);
    }
}

/* Its own function: swapcontext returns twice, like setjmp, and must not
   share a frame with a loop counter. */
static __attribute__((noinline)) void start_coroutine(struct coroutine *co, int i)
{
    uintptr_t p = (uintptr_t)co;

    snprintf(co->name, sizeof(co->name), "fetcher-%d", i);
    co->stack = malloc(CO_STACK);
    getcontext(&co->ctx);
    co->ctx.uc_stack.ss_sp = co->stack;
    co->ctx.uc_stack.ss_size = CO_STACK;
    co->ctx.uc_link = &scheduler;
    makecontext(&co->ctx, (void (*)(void))coroutine_main, 2, (unsigned)(p >> 32), (unsigned)p);
    swapcontext(&scheduler, &co->ctx); /* runs until it suspends */
}

static void start_coroutines(void)
{
    int i;

    for (i = 0; i < COROUTINES; i++)
        start_coroutine(&coroutines[i], i);
}

int main(int argc, char **argv)
{
    struct timespec tick = {0, 100 * 1000 * 1000};
    int lifetime = argc > 2 && !strcmp(argv[1], "--lifetime") ? atoi(argv[2]) : 60, i;

    start_coroutines();
    if (!gmr_register_section) {
        printf("api report: libgmr is not loaded; running without reports\n");
    } else {
        gmr_register_section("Job Queue", emit_queue, jobs);
        gmr_register_green_threads(list_coroutines, coroutines);
        if (gmr_report("api example started") == 0)
            printf("api report: written\n");
        else
            perror("api report: gmr_report");
    }
    printf("ready %d\n", (int)getpid());
    fflush(stdout);
    for (i = 0; i < lifetime * 10; i++)
        nanosleep(&tick, NULL);
    return 0;
}
