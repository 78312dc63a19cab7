/*
 * ptrace_floor.c - what one ptrace capture of a thread costs on this
 * machine, with nothing of libgmr's around it: the floor under
 * GMR_CAPTURE=ptrace (make bench prints it beside libgmr's own figures).
 *
 *   ptrace_floor N [COPY_BYTES]
 *
 * Starts N threads parked in a condition wait, then a tracer task made as
 * libgmr makes its own (clone with CLONE_VM, exit signal 0) that takes
 * each thread in turn: PTRACE_SEIZE and PTRACE_INTERRUPT, waits for the
 * stop (yielding), PTRACE_GETREGS, process_vm_readv of COPY_BYTES (default
 * 4096) from its stack pointer up into one buffer, PTRACE_DETACH. Prints one line of
 * medians in microseconds:
 *
 *   threads N total_ms T ask S stop W regs G copy C detach D
 *
 * ask: seize and interrupt; stop: from then until the tracer saw the stop;
 * regs, copy, detach: each call. The tracer shares the main thread's TLS
 * (clone without CLONE_SETTLS): its syscall() calls may set that errno,
 * harmless here, where the main thread only waits for it.
 */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TRACER_STACK (256 * 1024)

enum { ASK, STOP, REGS, COPY, DETACH, PHASES };

struct job {
    pid_t pid;
    pid_t *tids;
    int n;
    size_t copy_bytes;
    char *copy;
    long long *ns[PHASES]; /* per thread */
    long long total_ns;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t never = PTHREAD_COND_INITIALIZER;
static pid_t *tids;
static int started;

static long long now_ns(void)
{
    struct timespec ts;

    syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void *parked(void *arg)
{
    pthread_mutex_lock(&lock);
    tids[(long)arg] = (pid_t)syscall(SYS_gettid);
    started++;
    for (;;)
        pthread_cond_wait(&never, &lock);
    return NULL;
}

static long sys(long nr, long a, long b, long c, long d)
{
    return syscall(nr, a, b, c, d);
}

static int take(struct job *j, int i)
{
    struct user_regs_struct u;
    long long t0 = now_ns(), t1, t2, t3, t4, t5;
    pid_t tid = j->tids[i];
    int status = 0;

    if (sys(SYS_ptrace, PTRACE_SEIZE, tid, 0, 0) < 0 ||
        sys(SYS_ptrace, PTRACE_INTERRUPT, tid, 0, 0) < 0)
        return -1;
    t1 = now_ns();
    while (sys(SYS_wait4, tid, (long)&status, __WALL | WNOHANG, 0) != tid)
        sched_yield();
    t2 = now_ns();
    sys(SYS_ptrace, PTRACE_GETREGS, tid, 0, (long)&u);
    t3 = now_ns();
    {
        struct iovec local = {j->copy, j->copy_bytes};
        struct iovec remote = {(void *)u.rsp, j->copy_bytes};
        syscall(SYS_process_vm_readv, j->pid, &local, 1, &remote, 1, 0);
    }
    t4 = now_ns();
    sys(SYS_ptrace, PTRACE_DETACH, tid, 0, 0);
    t5 = now_ns();
    j->ns[ASK][i] = t1 - t0;
    j->ns[STOP][i] = t2 - t1;
    j->ns[REGS][i] = t3 - t2;
    j->ns[COPY][i] = t4 - t3;
    j->ns[DETACH][i] = t5 - t4;
    return 0;
}

static int tracer(void *arg)
{
    struct job *j = arg;
    long long start = now_ns();
    int i;

    for (i = 0; i < j->n; i++)
        if (take(j, i) < 0)
            syscall(SYS_exit, 1);
    j->total_ns = now_ns() - start;
    return 0;
}

static int cmp(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;

    return (x > y) - (x < y);
}

static double median_us(long long *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp);
    return (double)v[n / 2] / 1000.0;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 1000, i, status;
    struct job j;
    char *stack;
    pthread_t t;
    pid_t child;

    if (n < 1)
        return 2;
    tids = calloc((size_t)n, sizeof(*tids));
    memset(&j, 0, sizeof(j));
    j.pid = getpid();
    j.tids = tids;
    j.n = n;
    j.copy_bytes = argc > 2 ? (size_t)atol(argv[2]) : 4096;
    j.copy = malloc(j.copy_bytes);
    for (i = 0; i < PHASES; i++)
        j.ns[i] = calloc((size_t)n, sizeof(long long));
    for (i = 0; i < n; i++)
        if (pthread_create(&t, NULL, parked, (void *)(long)i) != 0)
            return 1;
    for (;;) {
        pthread_mutex_lock(&lock);
        i = started;
        pthread_mutex_unlock(&lock);
        if (i == n)
            break;
        usleep(1000);
    }
    usleep(200000); /* all of them asleep */
    stack = mmap(NULL, TRACER_STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    child =
        clone(tracer, stack + TRACER_STACK, CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_UNTRACED, &j);
    if (child < 0 || waitpid(child, &status, __WALL) != child || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0) {
        fprintf(stderr, "ptrace_floor: the tracer failed (ptrace refused?)\n");
        return 1;
    }
    printf("threads %d total_ms %.1f ask %.1f stop %.1f regs %.1f copy %.1f detach %.1f\n", n,
           (double)j.total_ns / 1e6, median_us(j.ns[ASK], n), median_us(j.ns[STOP], n),
           median_us(j.ns[REGS], n), median_us(j.ns[COPY], n), median_us(j.ns[DETACH], n));
    return 0;
}
