/*
 * frames.c - threads parked in code elfutils does not know, for the frame
 * kinds test (tests/integration/test_frame_kinds.py).
 *
 *   frames [--perf-map]
 *
 * Starts three threads and prints "ready <pid>":
 *   vdso-spin   spins on clock_gettime, so it is mostly inside the vDSO;
 *   in-handler  raised SIGUSR1 on itself and sits in its handler, under
 *               sig_parked (handler) -> the signal trampoline ->
 *               sig_interrupted (the code it interrupted);
 *   jit-spin    runs a loop in anonymous executable memory, code it wrote
 *               itself as a JIT compiler would: it keeps a frame pointer
 *               (push rbp; mov rbp, rsp) but has no unwind information, and
 *               was called from jit_caller.
 * With --perf-map it publishes /tmp/perf-<pid>.map naming the loop
 * "jit_spin_loop", as a JVM or node would, and removes it on SIGTERM.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline, noclone))

static atomic_int started, stop;
static char perf_map[64];

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, ms % 1000 * 1000000};

    nanosleep(&ts, NULL);
}

static void *vdso_spin(void *arg)
{
    struct timespec ts;

    (void)arg;
    prctl(PR_SET_NAME, "vdso-spin");
    atomic_fetch_add(&started, 1);
    while (!atomic_load(&stop))
        clock_gettime(CLOCK_MONOTONIC, &ts);
    return NULL;
}

static NOINLINE void sig_parked(int sig)
{
    (void)sig;
    atomic_fetch_add(&started, 1);
    while (!atomic_load(&stop))
        sleep_ms(50);
}

static NOINLINE void sig_interrupted(void)
{
    pthread_kill(pthread_self(), SIGUSR1);
    __asm__ volatile("" ::: "memory");
}

static void *in_handler(void *arg)
{
    struct sigaction sa;

    (void)arg;
    prctl(PR_SET_NAME, "in-handler");
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = sig_parked;
    sigaction(SIGUSR1, &sa, NULL);
    sig_interrupted();
    return NULL;
}

/* push rbp; mov rbp, rsp; jmp . */
static const unsigned char loop_code[] = {0x55, 0x48, 0x89, 0xe5, 0xeb, 0xfe};

static NOINLINE void jit_caller(void (*code)(void))
{
    code();
    __asm__ volatile("" ::: "memory");
}

static void *jit_spin(void *arg)
{
    unsigned char *page = arg;

    prctl(PR_SET_NAME, "jit-spin");
    atomic_fetch_add(&started, 1);
    jit_caller((void (*)(void))(uintptr_t)page);
    return NULL;
}

static void publish(const unsigned char *code)
{
    FILE *f;

    snprintf(perf_map, sizeof(perf_map), "/tmp/perf-%d.map", (int)getpid());
    f = fopen(perf_map, "w");
    if (!f) {
        perf_map[0] = '\0';
        return;
    }
    fprintf(f, "%lx %zx jit_spin_loop\n", (unsigned long)(uintptr_t)code, sizeof(loop_code));
    fclose(f);
}

static void on_term(int sig)
{
    (void)sig;
    atomic_store(&stop, 1);
}

int main(int argc, char **argv)
{
    unsigned char *page =
        mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    pthread_t t;

    if (page == MAP_FAILED)
        return 90;
    memcpy(page, loop_code, sizeof(loop_code));
    mprotect(page, 4096, PROT_READ | PROT_EXEC);
    if (argc > 1 && !strcmp(argv[1], "--perf-map"))
        publish(page);
    signal(SIGTERM, on_term);
    pthread_create(&t, NULL, vdso_spin, NULL);
    pthread_create(&t, NULL, in_handler, NULL);
    pthread_create(&t, NULL, jit_spin, page);
    while (atomic_load(&started) < 3)
        sleep_ms(10);
    sleep_ms(50);
    printf("ready %d\n", (int)getpid());
    fflush(stdout);
    while (!atomic_load(&stop))
        sleep_ms(20);
    if (perf_map[0])
        unlink(perf_map);
    return 0;
}
