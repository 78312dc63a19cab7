/*
 * stress.c - workloads for libgmr's stress tests.
 *
 *   stress malloc N          N threads allocate and free without pause
 *   stress churn N           threads start and exit all the time, N at once
 *   stress many N            N threads, parked
 *   stress deep N            one thread N frames deep, parked
 *   stress altstack          one thread parked inside its own SIGUSR1
 *                            handler, on its own alternate stack
 *
 * Prints "ready <pid>". With a progress file as a third argument, the work
 * done so far (allocations, threads started) is written to it every 10 ms,
 * so a test can see the program go on working while reports are taken.
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NOINLINE     __attribute__((noinline, noclone))
#define KEEP_FRAME() __asm__ volatile("" ::: "memory")

static atomic_ulong work;
static atomic_int started;

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, ms % 1000 * 1000000};
    nanosleep(&ts, NULL);
}

static void *allocator(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    void *held[16] = {0};

    atomic_fetch_add(&started, 1);
    for (;;) {
        unsigned i = (seed = seed * 1103515245 + 12345) >> 16;
        free(held[i % 16]);
        held[i % 16] = malloc(16 + i % 4096);
        atomic_fetch_add(&work, 1);
    }
    return NULL;
}

/* Threads started by the churners and not yet ended. Without a bound they
 * pile up faster than they end under AddressSanitizer (whose thread exit is
 * slow) until mmap fails: the host, not libgmr, runs out of mappings. */
#define MAX_SHORT_LIVED 256
static atomic_int short_alive;

static void *short_lived(void *arg)
{
    (void)arg;
    sleep_ms(1);
    atomic_fetch_sub(&short_alive, 1);
    return NULL;
}

static void *churner(void *arg)
{
    pthread_attr_t attr;

    (void)arg;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    atomic_fetch_add(&started, 1);
    for (;;) {
        pthread_t t;
        if (atomic_load(&short_alive) >= MAX_SHORT_LIVED) {
            sleep_ms(1);
            continue;
        }
        atomic_fetch_add(&short_alive, 1);
        if (pthread_create(&t, &attr, short_lived, NULL) == 0) {
            atomic_fetch_add(&work, 1);
        } else {
            atomic_fetch_sub(&short_alive, 1);
            sleep_ms(1);
        }
    }
    return NULL;
}

static void *parked(void *arg)
{
    (void)arg;
    atomic_fetch_add(&started, 1);
    for (;;)
        sleep_ms(1000);
    return NULL;
}

static volatile int parked_forever = 1;

static NOINLINE int descend(int depth)
{
    if (depth == 0) {
        atomic_fetch_add(&started, 1);
        while (parked_forever) /* the compiler may not know it is forever */
            sleep_ms(1000);
        return 0;
    }
    depth = descend(depth - 1) + 1;
    KEEP_FRAME();
    return depth;
}

static void *deep(void *arg)
{
    descend((int)(intptr_t)arg);
    return NULL;
}

static NOINLINE void waiting_in_handler(void)
{
    atomic_fetch_add(&started, 1);
    for (;;)
        sleep_ms(1000);
}

static void on_usr1(int sig)
{
    (void)sig;
    waiting_in_handler();
}

static NOINLINE void before_the_signal(void)
{
    raise(SIGUSR1);
    KEEP_FRAME();
}

static void *on_own_altstack(void *arg)
{
    static char stack[256 * 1024];
    stack_t ss = {.ss_sp = stack, .ss_size = sizeof(stack)};
    struct sigaction sa;
    sigset_t usr1;

    (void)arg;
    sigaltstack(&ss, NULL);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_usr1;
    sa.sa_flags = SA_ONSTACK;
    sigaction(SIGUSR1, &sa, NULL);
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    pthread_sigmask(SIG_UNBLOCK, &usr1, NULL);
    before_the_signal();
    return NULL;
}

static void spawn(void *(*fn)(void *), void *arg, size_t stack)
{
    pthread_attr_t attr;
    pthread_t t;

    pthread_attr_init(&attr);
    if (stack)
        pthread_attr_setstacksize(&attr, stack);
    if (pthread_create(&t, &attr, fn, arg) != 0) {
        perror("stress: pthread_create");
        exit(1);
    }
    pthread_attr_destroy(&attr);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    int n = argc > 2 ? atoi(argv[2]) : 1, i, expect = n;
    int fd = argc > 3 ? open(argv[3], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : -1;
    sigset_t usr1;

    /* Only the altstack thread takes SIGUSR1. */
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &usr1, NULL);
    if (!strcmp(mode, "malloc"))
        for (i = 0; i < n; i++)
            spawn(allocator, (void *)(uintptr_t)(i + 1), 0);
    else if (!strcmp(mode, "churn"))
        for (i = 0; i < n; i++)
            spawn(churner, NULL, 0);
    else if (!strcmp(mode, "many"))
        for (i = 0; i < n; i++)
            spawn(parked, NULL, 64 * 1024);
    else if (!strcmp(mode, "deep")) {
        spawn(deep, (void *)(intptr_t)n, (size_t)n * 256 + 1024 * 1024);
        expect = 1;
    } else if (!strcmp(mode, "altstack")) {
        spawn(on_own_altstack, NULL, 0);
        expect = 1;
    } else {
        fprintf(stderr, "usage: stress malloc|churn|many|deep|altstack [N] [PROGRESS]\n");
        return 2;
    }
    while (atomic_load(&started) < expect)
        sleep_ms(1);
    printf("ready %d\n", (int)getpid());
    fflush(stdout);
    for (;;) {
        char text[32];
        int len = snprintf(text, sizeof(text), "%lu\n", atomic_load(&work));
        sleep_ms(10);
        if (fd >= 0 && pwrite(fd, text, (size_t)len, 0) != len)
            return 3;
    }
}
