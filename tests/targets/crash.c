/*
 * crash.c - a program that dies the way real ones do, for the crash tests.
 *
 *   crash MODE
 *
 * Starts three named worker threads, prints "ready <pid>", waits a little
 * (so libgmr's watcher has started), then, in the main thread down
 * crash_outer -> crash_middle -> crash_leaf:
 *   segv      dereferences NULL            overflow  recurses without end
 *   abort     calls abort()                doublefree frees twice (glibc aborts)
 *   fpe       divides by zero              ill       executes ud2
 *   bus       touches a truncated mapping  kill      kill(getpid(), SIGSEGV)
 *   two       two threads dereference NULL at the same moment
 *   own       installs its own SIGSEGV handler, which exits 42, then segv
 *   watcher   registers a section that itself crashes, then segv
 *   section   registers a section that crashes, and lives on (a report
 *             asked for by signal then faults in libgmr's thread)
 *   hang      never ends (for GMR_TIMEOUT)
 */
#include <gmr.h>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#pragma weak gmr_register_section

#define NOINLINE     __attribute__((noinline, noclone))
#define KEEP_FRAME() __asm__ volatile("" ::: "memory")

static const char *mode;
static volatile int zero;
static int *volatile null_ptr;
static pthread_barrier_t together;

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, ms % 1000 * 1000000};
    nanosleep(&ts, NULL);
}

static volatile int forever = 1;

static NOINLINE int recurse(int depth)
{
    volatile char pad[256];

    pad[0] = (char)depth;
    if (!forever) /* always true, but the compiler may not know it */
        return depth;
    return recurse(depth + 1) + pad[0];
}

static void bus_error(void)
{
    char path[] = "/tmp/gmr-crash-XXXXXX";
    int fd = mkstemp(path);
    volatile char *p;

    if (fd < 0 || ftruncate(fd, 4096) < 0)
        exit(3);
    p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    unlink(path);
    if (p == MAP_FAILED || ftruncate(fd, 0) < 0)
        exit(3);
    p[0] = 1; /* beyond the end of the file now */
}

static void on_segv(int sig)
{
    (void)sig;
    if (write(STDOUT_FILENO, "host handler\n", 13) < 0)
        _exit(43);
    _exit(42);
}

static NOINLINE void crash_leaf(void)
{
    char *volatile twice;

    if (!strcmp(mode, "segv") || !strcmp(mode, "own") || !strcmp(mode, "watcher"))
        *null_ptr = 1;
    else if (!strcmp(mode, "overflow"))
        recurse(0);
    else if (!strcmp(mode, "abort"))
        abort();
    else if (!strcmp(mode, "doublefree")) {
        twice = malloc(64);
        free(twice);
        free(twice);
    } else if (!strcmp(mode, "fpe"))
        printf("%d\n", 7 / zero); /* not 1 / x, which compilers turn into a compare */
    else if (!strcmp(mode, "ill"))
        __asm__ volatile("ud2");
    else if (!strcmp(mode, "bus"))
        bus_error();
    else if (!strcmp(mode, "kill"))
        kill(getpid(), SIGSEGV);
    else if (!strcmp(mode, "two")) {
        pthread_barrier_wait(&together);
        *null_ptr = 2;
    }
    KEEP_FRAME();
}

static NOINLINE void crash_middle(void)
{
    crash_leaf();
    KEEP_FRAME();
}

static NOINLINE void crash_outer(void)
{
    crash_middle();
    KEEP_FRAME();
}

static NOINLINE void second_crasher(void)
{
    pthread_barrier_wait(&together);
    *null_ptr = 3;
    KEEP_FRAME();
}

static void *worker(void *arg)
{
    pthread_setname_np(pthread_self(), (const char *)arg);
    if (!strcmp((const char *)arg, "crasher-2"))
        second_crasher();
    for (;;)
        sleep_ms(1000);
    return NULL;
}

static void crashing_section(struct gmr_emitter *e, void *arg)
{
    (void)e;
    (void)arg;
    *null_ptr = 4;
}

int main(int argc, char **argv)
{
    static const char *const names[] = {"worker-a", "worker-b", "worker-c"};
    pthread_t t;
    int i;

    if (argc != 2) {
        fprintf(stderr, "usage: crash MODE\n");
        return 2;
    }
    mode = argv[1];
    pthread_barrier_init(&together, NULL, 2);
    for (i = 0; i < 3; i++)
        pthread_create(&t, NULL, worker, (void *)names[i]);
    if (!strcmp(mode, "two"))
        pthread_create(&t, NULL, worker, "crasher-2");
    if (!strcmp(mode, "own")) {
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_segv;
        sigaction(SIGSEGV, &sa, NULL);
    }
    if ((!strcmp(mode, "watcher") || !strcmp(mode, "section")) && gmr_register_section)
        gmr_register_section("Crashes", crashing_section, NULL);
    printf("ready %d\n", (int)getpid());
    fflush(stdout);
    sleep_ms(300);
    if (!strcmp(mode, "hang") || !strcmp(mode, "section"))
        for (;;)
            sleep_ms(1000);
    crash_outer();
    return 0;
}
