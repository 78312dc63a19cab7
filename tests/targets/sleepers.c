/*
 * sleepers.c - threads in blocking calls that say whether a report cut
 * them short (tests/integration/test_capture_ptrace.py).
 *
 *   sleepers calls [SECONDS]   one thread each in sleep, nanosleep,
 *       clock_nanosleep, read on a pipe, accept, poll and
 *       pthread_cond_timedwait, each one call of SECONDS (default 3);
 *       prints "ready <pid>", then a line per call when all are done:
 *       "<call> cut" if it returned early or with EINTR, "<call> whole"
 *   sleepers blocked           one thread, "all-blocked", blocks every
 *       signal and sleeps; prints "ready <pid>", sleeps until killed
 *   sleepers children          forks a child that sleeps 2 s, then reaps
 *       with waitpid(-1, ..., 0) until ECHILD; prints "ready <pid>" first
 *       and "reaped N" last
 *   sleepers seccomp           as blocked, after a seccomp filter on every
 *       thread (TSYNC) that kills the process that calls ptrace
 *   sleepers crash             an all-blocked thread and a napper (70 ms
 *       naps); prints "ready <pid>", then dereferences NULL 200 ms later
 *   sleepers crash-goes-on     the same, but first installs a SIGSEGV
 *       handler behind libgmr's back (a raw rt_sigaction, as the Go
 *       runtime does) that chains to the handler it found, then recovers
 *       with siglongjmp; 300 ms later prints "recovered", "napper cut N"
 *       (naps cut short), "napper ran" or "napper stuck" and "blocked ran"
 *       or "blocked stuck" (did each nap again after the crash?), and
 *       exits 0
 */
#include <errno.h>
#include <setjmp.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int seconds = 3;
static int pipe_fds[2], listener;
static pthread_barrier_t go;

struct call {
    const char *name;
    void (*run)(struct call *);
    int cut;
};

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void do_sleep(struct call *c)
{
    c->cut = sleep((unsigned)seconds) != 0;
}

static void do_nanosleep(struct call *c)
{
    struct timespec ts = {seconds, 0}, rem;

    c->cut = nanosleep(&ts, &rem) != 0;
}

static void do_clock_nanosleep(struct call *c)
{
    struct timespec ts = {seconds, 0}, rem;

    c->cut = clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &rem) != 0;
}

static void do_read(struct call *c)
{
    char b;

    c->cut = read(pipe_fds[0], &b, 1) < 0; /* the main thread writes when time is up */
}

static void do_accept(struct call *c)
{
    c->cut = accept(listener, NULL, NULL) < 0; /* the main thread connects when time is up */
}

static void do_poll(struct call *c)
{
    struct pollfd p = {.fd = -1};
    double start = now();

    c->cut = poll(&p, 1, seconds * 1000) != 0 || now() - start < seconds - 0.05;
}

static void do_cond(struct call *c)
{
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
    struct timespec until;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += seconds;
    pthread_mutex_lock(&m);
    c->cut = pthread_cond_timedwait(&cv, &m, &until) != ETIMEDOUT;
    pthread_mutex_unlock(&m);
}

static void *runner(void *arg)
{
    struct call *c = arg;

    pthread_setname_np(pthread_self(), c->name);
    pthread_barrier_wait(&go);
    c->run(c);
    return NULL;
}

static int calls(void)
{
    struct call all[] = {
        {"sleep", do_sleep, 0},
        {"nanosleep", do_nanosleep, 0},
        {"clock_nanosleep", do_clock_nanosleep, 0},
        {"read", do_read, 0},
        {"accept", do_accept, 0},
        {"poll", do_poll, 0},
        {"cond_timedwait", do_cond, 0},
    };
    size_t n = sizeof(all) / sizeof(all[0]), i;
    pthread_t t[sizeof(all) / sizeof(all[0])];
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int client;

    listener = socket(AF_INET, SOCK_STREAM, 0);
    if (pipe(pipe_fds) || listener < 0 || bind(listener, (struct sockaddr *)&a, sizeof(a)) ||
        listen(listener, 1) || getsockname(listener, (struct sockaddr *)&a, &len))
        return 1;
    pthread_barrier_init(&go, NULL, (unsigned)n + 1);
    for (i = 0; i < n; i++)
        pthread_create(&t[i], NULL, runner, &all[i]);
    pthread_barrier_wait(&go);
    printf("ready %d\n", (int)getpid());
    fflush(stdout);
    /* Time up: end the two calls that have no timeout of their own. */
    for (double end = now() + seconds + 0.5; now() < end;)
        usleep(10000);
    client = socket(AF_INET, SOCK_STREAM, 0);
    if (write(pipe_fds[1], "x", 1) != 1 || client < 0 ||
        connect(client, (struct sockaddr *)&a, sizeof(a)))
        return 1;
    for (i = 0; i < n; i++) {
        pthread_join(t[i], NULL);
        printf("%s %s\n", all[i].name, all[i].cut ? "cut" : "whole");
    }
    return 0;
}

static volatile int blocked_naps;

static void *all_blocked(void *arg)
{
    sigset_t all;

    (void)arg;
    pthread_setname_np(pthread_self(), "all-blocked");
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    for (;;) {
        struct timespec ts = {0, 90000000L};

        nanosleep(&ts, NULL);
        blocked_naps++;
    }
    return NULL;
}

static int deny_ptrace(void)
{
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_ptrace, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {sizeof(code) / sizeof(code[0]), code};

    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
        return -1;
    return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog);
}

static int blocked(int seccomp)
{
    pthread_t t;

    if (seccomp && deny_ptrace() != 0)
        return 1;
    pthread_create(&t, NULL, all_blocked, NULL);
    usleep(100000);
    printf("ready %d\n", (int)getpid());
    fflush(stdout);
    for (;;)
        pause();
}

static int children(void)
{
    pid_t child = fork();
    int reaped = 0, status;

    if (child == 0) {
        sleep(2);
        _exit(0);
    }
    printf("ready %d\n", (int)getpid());
    fflush(stdout);
    for (;;) {
        pid_t r = waitpid(-1, &status, 0);

        if (r > 0)
            reaped++;
        else if (errno != EINTR)
            break;
    }
    printf("reaped %d\n", reaped);
    return 0;
}

/* ---- crash, crash-goes-on ---- */

static volatile int naps, napper_cuts;

static void *napper(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "napper");
    for (;;) {
        struct timespec ts = {0, 70000000L}; /* not a divisor of the 300 ms before the crash */
        double start = now();

        if (nanosleep(&ts, NULL) != 0 || now() - start < 0.069)
            napper_cuts++;
        naps++;
    }
    return NULL;
}

#define SA_RESTORER 0x04000000 /* the kernel's flag (asm/signal.h), not in the C library's */

/* The kernel's view of a signal action (what rt_sigaction takes). */
struct kernel_action {
    void (*handler)(int, siginfo_t *, void *);
    unsigned long flags;
    void (*restorer)(void);
    unsigned long mask;
};

static struct kernel_action found;
static int *volatile nowhere; /* NULL, and the compiler cannot know it */
static sigjmp_buf recover;

static void chaining_handler(int sig, siginfo_t *si, void *uc)
{
    if (found.handler && (void *)found.handler != (void *)SIG_IGN)
        found.handler(sig, si, uc);
    siglongjmp(recover, 1);
}

/* Installs chaining_handler as the Go runtime would: with the kernel's
   own call, keeping the restorer of the action it found (the C
   library's), so that whoever interposes sigaction never sees it. */
static int install_behind_back(void)
{
    struct kernel_action mine;

    if (syscall(SYS_rt_sigaction, SIGSEGV, NULL, &found, sizeof(found.mask)) != 0)
        return -1;
    memset(&mine, 0, sizeof(mine));
    mine.handler = chaining_handler;
    mine.flags = SA_SIGINFO | SA_ONSTACK | SA_RESTORER | SA_NODEFER;
    mine.restorer = found.restorer;
    if (!found.restorer) /* nothing installed before us: the C library's own */
        return sigaction(SIGSEGV,
                         &(struct sigaction){.sa_sigaction = chaining_handler,
                                             .sa_flags = SA_SIGINFO | SA_NODEFER},
                         NULL);
    return (int)syscall(SYS_rt_sigaction, SIGSEGV, &mine, NULL, sizeof(mine.mask));
}

static int crash(int goes_on)
{
    pthread_t t;
    int before, blocked_before;

    if (goes_on && install_behind_back() != 0)
        return 1;
    pthread_create(&t, NULL, all_blocked, NULL);
    pthread_create(&t, NULL, napper, NULL);
    usleep(100000);
    printf("ready %d\n", (int)getpid());
    fflush(stdout);
    usleep(200000);
    if (sigsetjmp(recover, 1) == 0)
        *nowhere = 1;
    before = naps;
    blocked_before = blocked_naps;
    usleep(300000);
    printf("recovered\nnapper cut %d\nnapper %s\nblocked %s\n", napper_cuts,
           naps > before ? "ran" : "stuck", blocked_naps > blocked_before ? "ran" : "stuck");
    return 0;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "calls";

    if (argc > 2)
        seconds = atoi(argv[2]);
    if (!strcmp(mode, "calls"))
        return calls();
    if (!strcmp(mode, "blocked"))
        return blocked(0);
    if (!strcmp(mode, "seccomp"))
        return blocked(1);
    if (!strcmp(mode, "children"))
        return children();
    if (!strcmp(mode, "crash"))
        return crash(0);
    if (!strcmp(mode, "crash-goes-on"))
        return crash(1);
    return 2;
}
