/*
 * hostile.c - small hosts that break easy assumptions, one per mode, for
 * the hostile-host suite (tests/integration/test_hostile.py). Each is run
 * with and without libgmr, and must end the same way both times.
 *
 *   hostile MODE [ARG]
 *
 * Prints "ready <pid>" once set up (unless the mode ends at once), and
 * ends on SIGTERM with status 0 unless the mode says otherwise.
 *
 *   heap-stacks     a thread on a stack malloc'd from [heap], while another
 *                   thread moves the break up and down by megabytes (one
 *                   malloc arena, large blocks from brk, trimmed at once);
 *                   and a thread on one half of a guard-less mapping whose
 *                   other half is unmapped and mapped again in a loop
 *   crash-exit      one thread dereferences NULL; another, told just
 *                   before, calls exit(0) 40 ms later
 *   crash-busy      the same, while a report of 200 threads is being
 *                   written: ARG, a trigger file, is touched first
 *   sigwait         blocks every signal in every thread; one thread takes
 *                   them with sigwaitinfo and prints "got signal N (code C)"
 *   vfork-round     threads that block every signal in bursts, one waiting
 *                   in vfork for a child that sleeps 3 s, two plain ones
 *   fork-early      forks 40 children in its first milliseconds; each loads a
 *                   library (the dynamic loader's state must be whole in
 *                   the child), raises SIGUSR2 on itself after 300 ms and
 *                   exits 0 once its report is in GMR_LOG_DIR (at most 15 s
 *                   later); prints "children <n>" and exits 0 once they are
 *                   done
 *   mce             sends itself SIGBUS with si_code BUS_MCEERR_AO, then
 *                   prints "still running" and exits 0
 *   early-crash     dereferences NULL first thing in main
 *   emfile          lowers RLIMIT_NOFILE to 64 and opens descriptors until
 *                   EMFILE, with four parked threads
 *   jvm-like        installs a SIGSEGV handler after start, as the JVM does:
 *                   it resumes past a fault it expects (an implicit null
 *                   check, printing "null check ok"); any other fault it
 *                   first passes to the handler that was there before it
 *                   (signal chaining), and if there was none, writes
 *                   crash-log.txt and aborts
 *   rust-like       installs a SIGSEGV handler only where the disposition is
 *                   the default, as the Rust runtime does; it prints "has
 *                   overflowed its stack" and aborts; then recurses forever
 *   sleeper         the main thread sleeps 5 s in a loop, printing "cut"
 *                   each time a sleep returns early
 *   ignore-usr2     ignores SIGUSR2, then execs `hostile sleeper`, as
 *                   haproxy's master does across its re-exec
 *   takeover        installs its own SIGUSR2 handler after start (prints
 *                   "usr2" when it runs)
 *   drop-caps       as root, drops to uid and gid 65534 the way setpriv
 *                   does: keeps its capabilities across setresuid, raises
 *                   them again in the main thread only (capset), then
 *                   setresgid and setgroups, which every thread must be
 *                   able to do; prints "dropped uid U gid G"; with ARG
 *                   "wait", then waits for SIGTERM; status 77 if not root
 *   churn           a randomized capture stress: threads that switch
 *                   alternate stacks on and off, change their masks, vfork,
 *                   exit and are replaced, on heap and mmap'd stacks; ends
 *                   with status 3 after ARG seconds
 */
#include <dirent.h>
#include <grp.h>
#include <linux/capability.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline, noclone))

static atomic_int stop;
static char *self_path;

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, ms % 1000 * 1000000};

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static void on_term(int sig)
{
    (void)sig;
    atomic_store(&stop, 1);
}

/* Says so, ready to be stopped by SIGTERM. */
static void ready(void)
{
    signal(SIGTERM, on_term);
    printf("ready %d\n", (int)getpid());
    fflush(stdout);
}

/* Waits for SIGTERM, then exits 0. */
static int wait_for_term(void)
{
    while (!atomic_load(&stop))
        sleep_ms(20);
    return 0;
}

static pthread_t start(void *(*fn)(void *), void *arg, void *stack, size_t size)
{
    pthread_attr_t attr;
    pthread_t t;

    pthread_attr_init(&attr);
    if (stack)
        pthread_attr_setstack(&attr, stack, size);
    if (pthread_create(&t, &attr, fn, arg) != 0) {
        perror("pthread_create");
        exit(90);
    }
    pthread_attr_destroy(&attr);
    return t;
}

static void *parked(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop))
        sleep_ms(50);
    return NULL;
}

/* ---- heap-stacks ---- */

static NOINLINE int deep(int n)
{
    volatile char pad[512];

    pad[0] = (char)n;
    if (n > 0)
        return deep(n - 1) + pad[0];
    sleep_ms(1);
    return pad[0];
}

static void *on_its_stack(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop))
        deep(20);
    return NULL;
}

static void *move_break(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop)) {
        char *p = malloc(8 << 20);
        if (!p)
            break;
        memset(p, 1, 4096);
        sleep_ms(1);
        free(p); /* trimmed: the break goes down again */
        sleep_ms(1);
    }
    return NULL;
}

#define HALF (256 * 1024)

/* The other half comes and goes, as a coroutine's stack does. Mapped
   back only where nobody else has mapped something meanwhile. */
static void *remap_upper(void *arg)
{
    char *base = arg;

    while (!atomic_load(&stop)) {
        munmap(base + HALF, HALF);
        sleep_ms(1);
        if (mmap(base + HALF, HALF, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) != base + HALF)
            break;
        sleep_ms(1);
    }
    return NULL;
}

static int heap_stacks(void)
{
    char *heap, *pair;
    pthread_t t[4];
    int i;

    /* Every thread in the brk heap, big blocks from it too, and the top
       given back as soon as it is free. */
    mallopt(M_ARENA_MAX, 1);
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 128 * 1024);
    mallopt(M_TOP_PAD, 0);
    heap = malloc(HALF); /* at the top of the heap: the break moves just above it */
    if (!heap)
        return 91;
    t[0] = start(on_its_stack, NULL, heap, HALF);
    t[1] = start(move_break, NULL, NULL, 0);
    pair = mmap(NULL, 2 * HALF, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (pair == MAP_FAILED)
        return 92;
    t[2] = start(on_its_stack, NULL, pair, HALF);
    t[3] = start(remap_upper, pair, NULL, 0);
    ready();
    wait_for_term();
    for (i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    printf("done\n");
    return 0;
}

/* ---- crash-exit, crash-busy ---- */

static atomic_int crashing;

static void *exit_soon(void *arg)
{
    (void)arg;
    while (!atomic_load(&crashing))
        sleep_ms(1);
    sleep_ms(40);
    exit(0);
}

static int crash_exit(const char *trigger)
{
    int i;

    start(exit_soon, NULL, NULL, 0);
    for (i = 0; trigger && i < 200; i++)
        start(parked, NULL, NULL, 0);
    ready();
    sleep_ms(300);
    if (trigger) {
        close(open(trigger, O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
        sleep_ms(80); /* the watcher is well into the report */
    }
    atomic_store(&crashing, 1);
    *(volatile int *)(uintptr_t)atoi("0") = 1;
    return 0;
}

/* ---- sigwait ---- */

static int sigwait_daemon(void)
{
    sigset_t all;
    siginfo_t si;
    int i, sig;

    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, NULL);
    for (i = 0; i < 2; i++)
        start(parked, NULL, NULL, 0);
    ready();
    for (;;) {
        sig = sigwaitinfo(&all, &si);
        if (sig < 0)
            continue;
        printf("got signal %d (code %d)\n", sig, si.si_code);
        fflush(stdout);
        if (sig == SIGTERM)
            break;
    }
    atomic_store(&stop, 1);
    return 0;
}

/* ---- vfork-round ---- */

static void *block_in_bursts(void *arg)
{
    sigset_t all, none;

    (void)arg;
    sigfillset(&all);
    sigemptyset(&none);
    while (!atomic_load(&stop)) {
        pthread_sigmask(SIG_SETMASK, &all, NULL);
        sleep_ms(30);
        pthread_sigmask(SIG_SETMASK, &none, NULL);
        sleep_ms(1);
    }
    return NULL;
}

static void *vfork_parent(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop)) {
        /* The child sleeps before it execs: the parent waits in vfork. */
        pid_t pid = vfork();
        if (pid == 0) {
            struct timespec ts = {3, 0};
            nanosleep(&ts, NULL);
            _exit(0);
        }
        if (pid > 0)
            waitpid(pid, NULL, 0);
    }
    return NULL;
}

static int vfork_round(void)
{
    start(block_in_bursts, NULL, NULL, 0);
    start(block_in_bursts, NULL, NULL, 0);
    start(vfork_parent, NULL, NULL, 0);
    start(parked, NULL, NULL, 0);
    sleep_ms(100);
    ready();
    return wait_for_term();
}

/* ---- fork-early ---- */

/* Has a report of this process been written in dir? */
static int has_report(const char *dir)
{
    char suffix[32];
    struct dirent *d;
    DIR *dp = dir ? opendir(dir) : NULL;
    int found = 0;

    if (!dp)
        return 0;
    snprintf(suffix, sizeof(suffix), "_%d", (int)getpid());
    while (!found && (d = readdir(dp)))
        found = strlen(d->d_name) > strlen(suffix) &&
                !strcmp(d->d_name + strlen(d->d_name) - strlen(suffix), suffix);
    closedir(dp);
    return found;
}

static int fork_early(void)
{
    pid_t kids[40];
    int i, n = 0, status, clean = 0;

    for (i = 0; i < 40; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            void *lib = dlopen("libanl.so.1", RTLD_NOW);
            int waited;

            if (lib)
                dlclose(lib);
            sleep_ms(300);
            kill(getpid(), SIGUSR2);
            for (waited = 0; waited < 15000 && !has_report(getenv("GMR_LOG_DIR")); waited += 20)
                sleep_ms(20);
            _exit(0);
        }
        if (pid > 0)
            kids[n++] = pid;
        usleep(100);
    }
    for (i = 0; i < n; i++)
        if (waitpid(kids[i], &status, 0) == kids[i] && WIFEXITED(status) && !WEXITSTATUS(status))
            clean++;
    printf("children %d\n", clean);
    return 0;
}

/* ---- mce ---- */

static int mce(void)
{
    siginfo_t si;

    memset(&si, 0, sizeof(si));
    si.si_signo = SIGBUS;
    si.si_code = BUS_MCEERR_AO;
    si.si_addr = &si;
    syscall(SYS_rt_tgsigqueueinfo, getpid(), syscall(SYS_gettid), SIGBUS, &si);
    printf("still running\n");
    return 0;
}

/* ---- jvm-like ---- */

static atomic_int null_checked;
static struct sigaction before_us;

/* Where the handler resumes after the expected fault, as a JVM resumes
   compiled code in a stub that throws NullPointerException. */
static NOINLINE __attribute__((noreturn)) void after_null_check(void)
{
    printf("null check ok\n");
    fflush(stdout);
    *(volatile int *)(uintptr_t)atoi("16") = 1; /* the real crash */
    abort();
}

static void jvm_handler(int sig, siginfo_t *si, void *ucv)
{
    ucontext_t *uc = ucv;
    int fd;

    if (si->si_addr == NULL && !atomic_exchange(&null_checked, 1)) {
        uc->uc_mcontext.gregs[REG_RIP] = (greg_t)(uintptr_t)after_null_check;
        uc->uc_mcontext.gregs[REG_RSP] = ((uc->uc_mcontext.gregs[REG_RSP] - 512) & ~15) - 8;
        return;
    }
    if (before_us.sa_flags & SA_SIGINFO) {
        before_us.sa_sigaction(sig, si, ucv);
        return;
    }
    if (before_us.sa_handler != SIG_DFL && before_us.sa_handler != SIG_IGN) {
        before_us.sa_handler(sig);
        return;
    }
    fd = open("crash-log.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
        if (write(fd, "fatal error\n", 12) != 12)
            _exit(95);
        close(fd);
    }
    abort();
}

static int jvm_like(void)
{
    struct sigaction sa;

    start(parked, NULL, NULL, 0);
    sleep_ms(100);
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = jvm_handler;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigfillset(&sa.sa_mask);
    sigdelset(&sa.sa_mask, SIGSEGV);
    sigdelset(&sa.sa_mask, SIGBUS);
    sigaction(SIGSEGV, &sa, &before_us);
    *(volatile int *)(uintptr_t)atoi("0") = 1; /* an implicit null check */
    return 99;
}

/* ---- rust-like ---- */

static void overflow_handler(int sig, siginfo_t *si, void *uc)
{
    static const char msg[] = "\nthread 'main' has overflowed its stack\nfatal runtime error: "
                              "stack overflow\n";
    (void)sig;
    (void)si;
    (void)uc;
    if (write(2, msg, sizeof(msg) - 1) < 0)
        _exit(96);
    abort();
}

static volatile int forever = 1;

static NOINLINE int recurse(int depth)
{
    volatile char pad[256];

    pad[0] = (char)depth;
    if (!forever)
        return depth;
    return recurse(depth + 1) + pad[0];
}

static int rust_like(void)
{
    struct sigaction old, sa;
    stack_t ss;

    if (sigaction(SIGSEGV, NULL, &old) == 0 && !(old.sa_flags & SA_SIGINFO) &&
        old.sa_handler == SIG_DFL) {
        memset(&sa, 0, sizeof(sa));
        sa.sa_sigaction = overflow_handler;
        sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
        sigaction(SIGSEGV, &sa, NULL);
        if (sigaltstack(NULL, &ss) == 0 && (ss.ss_flags & SS_DISABLE)) {
            ss.ss_size = 64 * 1024;
            ss.ss_sp =
                mmap(NULL, ss.ss_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            ss.ss_flags = 0;
            sigaltstack(&ss, NULL);
        }
    }
    return recurse(0);
}

/* ---- drop-caps ---- */

static int drop_caps(const char *arg)
{
    struct __user_cap_header_struct head = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct caps[2];

    if (geteuid() != 0)
        return 77;
    if (prctl(PR_SET_KEEPCAPS, 1) < 0 || setresuid(65534, 65534, 65534) < 0 ||
        syscall(SYS_capget, &head, caps) < 0) {
        perror("drop-caps: setresuid");
        return 1;
    }
    caps[0].effective = caps[0].permitted; /* this thread only */
    caps[1].effective = caps[1].permitted;
    if (syscall(SYS_capset, &head, caps) < 0 || setresgid(65534, 65534, 65534) < 0 ||
        setgroups(0, NULL) < 0) {
        perror("drop-caps: setresgid");
        return 1;
    }
    printf("dropped uid %d gid %d\n", (int)geteuid(), (int)getegid());
    if (strcmp(arg, "wait"))
        return 0;
    ready();
    return wait_for_term();
}

/* ---- sleeper, ignore-usr2, takeover ---- */

static int sleeper(void)
{
    ready();
    while (!atomic_load(&stop)) {
        if (sleep(5) && !atomic_load(&stop)) {
            printf("cut\n");
            fflush(stdout);
        }
    }
    return 0;
}

static void on_usr2(int sig)
{
    static const char msg[] = "usr2\n";

    (void)sig;
    if (write(1, msg, sizeof(msg) - 1) < 0)
        _exit(97);
}

static int takeover(void)
{
    start(parked, NULL, NULL, 0);
    sleep_ms(100);
    signal(SIGUSR2, on_usr2);
    ready();
    return wait_for_term();
}

/* ---- emfile ---- */

static int emfile(void)
{
    struct rlimit rl = {64, 64};
    int i, opened = 0;

    for (i = 0; i < 4; i++)
        start(parked, NULL, NULL, 0);
    sleep_ms(200); /* runs out later, as a server under load does */
    setrlimit(RLIMIT_NOFILE, &rl);
    while (open("/dev/null", O_RDONLY) >= 0)
        opened++;
    printf("opened %d (%s)\n", opened, strerror(errno));
    ready();
    return wait_for_term();
}

/* ---- churn ---- */

static unsigned rnd(unsigned *seed)
{
    *seed = *seed * 1103515245u + 12345u;
    return *seed >> 16;
}

static NOINLINE void vfork_true(void)
{
    pid_t pid = vfork();

    if (pid == 0) {
        execl("/bin/true", "true", (char *)NULL);
        _exit(127);
    }
    if (pid > 0)
        waitpid(pid, NULL, 0);
}

static void *churner(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    int i, rounds = (int)(rnd(&seed) % 50) + 10;

    for (i = 0; i < rounds && !atomic_load(&stop); i++) {
        switch (rnd(&seed) % 6) {
        case 0: { /* an alternate stack of its own, then none */
            stack_t ss = {0}, off = {.ss_flags = SS_DISABLE};
            ss.ss_size = 32 * 1024;
            ss.ss_sp = malloc(ss.ss_size);
            sigaltstack(&ss, NULL);
            sleep_ms(rnd(&seed) % 5);
            sigaltstack(&off, NULL);
            free(ss.ss_sp);
            break;
        }
        case 1: { /* every signal blocked for a while */
            sigset_t all, old;
            sigfillset(&all);
            pthread_sigmask(SIG_SETMASK, &all, &old);
            sleep_ms(rnd(&seed) % 10);
            pthread_sigmask(SIG_SETMASK, &old, NULL);
            break;
        }
        case 2:
            vfork_true();
            break;
        case 3:
            deep((int)(rnd(&seed) % 40));
            break;
        default:
            sleep_ms(rnd(&seed) % 3);
        }
    }
    return NULL;
}

static void *churn_spawner(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;

    while (!atomic_load(&stop)) {
        size_t size = 128 * 1024;
        void *stack = NULL;
        pthread_t t;
        int kind = (int)(rnd(&seed) % 3);

        if (kind == 1)
            stack = malloc(size);
        else if (kind == 2)
            stack = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        t = start(churner, (void *)(uintptr_t)rnd(&seed), stack, size);
        pthread_join(t, NULL);
        if (kind == 1)
            free(stack);
        else if (kind == 2)
            munmap(stack, size);
    }
    return NULL;
}

static int churn(int seconds)
{
    pthread_t t[6];
    int i;

    for (i = 0; i < 6; i++)
        t[i] = start(churn_spawner, (void *)(uintptr_t)(i * 7919 + getpid()), NULL, 0);
    ready();
    sleep_ms(seconds * 1000L);
    atomic_store(&stop, 1);
    for (i = 0; i < 6; i++)
        pthread_join(t[i], NULL);
    printf("churned\n");
    return 3;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    const char *arg = argc > 2 ? argv[2] : "";

    setvbuf(stdout, NULL, _IOLBF, 0);
    self_path = argv[0];
    if (!strcmp(mode, "early-crash"))
        *(volatile int *)(uintptr_t)atoi("0") = 1;
    if (!strcmp(mode, "heap-stacks"))
        return heap_stacks();
    if (!strcmp(mode, "crash-exit"))
        return crash_exit(NULL);
    if (!strcmp(mode, "crash-busy"))
        return crash_exit(arg);
    if (!strcmp(mode, "sigwait"))
        return sigwait_daemon();
    if (!strcmp(mode, "vfork-round"))
        return vfork_round();
    if (!strcmp(mode, "fork-early"))
        return fork_early();
    if (!strcmp(mode, "mce"))
        return mce();
    if (!strcmp(mode, "jvm-like"))
        return jvm_like();
    if (!strcmp(mode, "rust-like"))
        return rust_like();
    if (!strcmp(mode, "sleeper"))
        return sleeper();
    if (!strcmp(mode, "drop-caps"))
        return drop_caps(arg);
    if (!strcmp(mode, "ignore-usr2")) {
        signal(SIGUSR2, SIG_IGN);
        execl(self_path, self_path, "sleeper", (char *)NULL);
        return 98;
    }
    if (!strcmp(mode, "takeover"))
        return takeover();
    if (!strcmp(mode, "emfile"))
        return emfile();
    if (!strcmp(mode, "churn"))
        return churn(atoi(arg[0] ? arg : "5"));
    fprintf(stderr, "hostile: unknown mode %s\n", mode);
    return 2;
}
