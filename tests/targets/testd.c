/*
 * testd.c - a test daemon for libgmr's integration tests.
 *
 * Starts one thread per park style, each parked three static functions
 * deep in a chain named after it (alpha_outer -> alpha_middle ->
 * alpha_leaf), so a report can be checked thread by thread. The main
 * thread keeps working: it counts and writes the count to a file, so a
 * test can tell the host went on running after its reports.
 *
 *   testd [--threads N] [--block-all] [--progress FILE] [--lifetime SECONDS]
 *         [--own-usr2] [--own-rt N] [--fork] [--daemonize-fds] [--own-inotify DIR]
 *         [--spawn COMMAND] [--title TITLE]
 *
 * Prints "ready <pid>" on stdout once every thread is parked. With
 * --block-all, one more thread ("kilo") blocks every signal first.
 *
 * Host behaviours libgmr must live with:
 *   --own-usr2       installs its own SIGUSR2 handler, which prints "usr2";
 *   --fork           forks (no exec) once its threads run; the child prints
 *                    "child <pid>" and lives on with its one thread;
 *   --daemonize-fds  closes every descriptor above 2, then dup2()s a pipe
 *                    holding HOST_DATA over descriptors 3..200, and checks
 *                    on every tick that nobody read from it ("stolen" on
 *                    stderr and exit 4 if someone did);
 *   --own-rt N       installs its own handler for SIGRTMAX-N (libgmr's
 *                    capture signal for N=3), printing "rt <tid>";
 *   --own-inotify DIR  closes every descriptor above 2 and watches DIR with
 *                    an inotify instance of its own, moved to the number
 *                    libgmr's had (so with its watch number too); prints
 *                    "host-inotify" each time it reads events from it
 *                    (every half second);
 *   --spawn COMMAND  runs COMMAND with /bin/sh -c once ready;
 *   --drop-to U:G    calls setgid(G) and setuid(U) once its threads run, as
 *                    a daemon dropping root does (glibc makes every thread,
 *                    libgmr's too, take part);
 *   --listen         listens on a TCP port of 127.0.0.1 and connects to it
 *                    (prints "port <n>");
 *   --weird-name     names a thread with a newline and bytes that are not
 *                    UTF-8;
 *   --title TITLE    writes TITLE over its argv and environ strings, as
 *                    PostgreSQL and nginx set their process titles (its
 *                    /proc/PID/environ then shows no GMR_* setting).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline, noclone))
/* Keeps calls from becoming jumps, so every function keeps its frame. */
#define KEEP_FRAME() __asm__ volatile("" ::: "memory")

static atomic_int parked;
static int pipe_fds[2];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t never = PTHREAD_COND_INITIALIZER;
static sem_t sem;
static volatile unsigned long spin_sink;

static void park_sleep(void)
{
    struct timespec ts = {3600, 0};
    nanosleep(&ts, NULL);
}

static void park_cond(void)
{
    pthread_mutex_lock(&lock);
    pthread_cond_wait(&never, &lock);
    pthread_mutex_unlock(&lock);
}

static void park_read(void)
{
    char c;
    if (read(pipe_fds[0], &c, 1) < 0 && errno != EINTR)
        abort();
}

static void park_poll(void)
{
    struct pollfd p = {pipe_fds[0], POLLIN, 0};
    poll(&p, 1, -1);
}

static void park_epoll(void)
{
    static int ep = -1;
    struct epoll_event ev;

    if (ep < 0)
        ep = epoll_create1(EPOLL_CLOEXEC);
    epoll_wait(ep, &ev, 1, -1);
}

static void park_pause(void)
{
    pause();
}

static void park_select(void)
{
    fd_set r;
    FD_ZERO(&r);
    FD_SET(pipe_fds[0], &r);
    select(pipe_fds[0] + 1, &r, NULL, NULL, NULL);
}

static void park_spin(void)
{
    unsigned long i;
    for (i = 0; i < 100000000; i++)
        spin_sink += i;
}

static void park_sem(void)
{
    sem_wait(&sem);
}

#define CHAIN(name, park)                                                                          \
    static NOINLINE void name##_leaf(void)                                                         \
    {                                                                                              \
        spin_sink = __LINE__; /* keeps identical leaves from being folded into one */              \
        atomic_fetch_add(&parked, 1);                                                              \
        for (;;) {                                                                                 \
            park();                                                                                \
            KEEP_FRAME();                                                                          \
        }                                                                                          \
    }                                                                                              \
    static NOINLINE void name##_middle(void)                                                       \
    {                                                                                              \
        name##_leaf();                                                                             \
        KEEP_FRAME();                                                                              \
    }                                                                                              \
    static NOINLINE void name##_outer(void)                                                        \
    {                                                                                              \
        name##_middle();                                                                           \
        KEEP_FRAME();                                                                              \
    }                                                                                              \
    static void *name##_thread(void *arg)                                                          \
    {                                                                                              \
        (void)arg;                                                                                 \
        pthread_setname_np(pthread_self(), #name);                                                 \
        name##_outer();                                                                            \
        return NULL;                                                                               \
    }

CHAIN(alpha, park_sleep)
CHAIN(bravo, park_cond)
CHAIN(charlie, park_read)
CHAIN(delta, park_poll)
CHAIN(echo, park_epoll)
CHAIN(foxtrot, park_pause)
CHAIN(golf, park_select)
CHAIN(hotel, park_spin)
CHAIN(india, park_sem)
CHAIN(juliet, park_sleep)
CHAIN(kilo, park_sleep)

static void *(*const chains[])(void *) = {
    alpha_thread,   bravo_thread, charlie_thread, delta_thread, echo_thread,
    foxtrot_thread, golf_thread,  hotel_thread,   india_thread, juliet_thread,
};

static void *blocking_thread(void *arg)
{
    sigset_t all;

    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    return kilo_thread(arg);
}

static void start(void *(*fn)(void *))
{
    pthread_t t;

    if (pthread_create(&t, NULL, fn, NULL) != 0) {
        perror("pthread_create");
        exit(1);
    }
}

#define HOST_DATA "host-data-0123456789"

static void on_usr2(int sig)
{
    (void)sig;
    if (write(STDOUT_FILENO, "usr2\n", 5) < 0)
        _exit(5);
}

static void own_usr2(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_usr2;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR2, &sa, NULL);
}

/* Prints "rt <tid>": which thread ran the handler. */
static void on_rt(int sig)
{
    char line[32];
    int n = snprintf(line, sizeof(line), "rt %ld\n", (long)syscall(SYS_gettid));

    (void)sig;
    if (write(STDOUT_FILENO, line, (size_t)n) < 0)
        _exit(5);
}

static void own_rt(int sig)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_rt;
    sa.sa_flags = SA_RESTART;
    sigaction(sig, &sa, NULL);
}

/* Daemon-style descriptor hygiene, then a pipe spread over many numbers. */
static int daemonize_fds(void)
{
    struct timespec settle = {0, 300 * 1000 * 1000};
    int fd, p[2];

    nanosleep(&settle, NULL); /* let preloaded libraries finish starting */
    for (fd = 3; fd < 1024; fd++)
        close(fd);
    if (pipe(p) < 0 || write(p[1], HOST_DATA, sizeof(HOST_DATA)) != sizeof(HOST_DATA))
        exit(1);
    for (fd = 3; fd <= 200; fd++)
        if (fd != p[0] && fd != p[1])
            dup2(p[0], fd);
    return p[0];
}

/* The number of an inotify descriptor already open (libgmr's), or -1. */
static int inotify_number(void)
{
    char path[64], target[64];
    int fd;

    for (fd = 3; fd < 1024; fd++) {
        ssize_t n;
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        n = readlink(path, target, sizeof(target) - 1);
        if (n > 0 && (target[n] = '\0', !strcmp(target, "anon_inode:inotify")))
            return fd;
    }
    return -1;
}

static int own_inotify(const char *dir)
{
    struct timespec settle = {0, 300 * 1000 * 1000};
    int fd, theirs;

    nanosleep(&settle, NULL); /* let preloaded libraries finish starting */
    theirs = inotify_number();
    for (fd = 3; fd < 1024; fd++)
        close(fd);
    fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0 || inotify_add_watch(fd, dir, IN_CREATE | IN_ATTRIB | IN_CLOSE_WRITE) < 0) {
        perror("testd: inotify");
        exit(1);
    }
    if (theirs >= 0 && theirs != fd) {
        dup2(fd, theirs);
        close(fd);
        fd = theirs;
    }
    return fd;
}

static void check_host_inotify(int fd)
{
    char buf[4096];

    if (read(fd, buf, sizeof(buf)) > 0) {
        printf("host-inotify\n");
        fflush(stdout);
    }
}

static void check_host_data(int fd)
{
    int avail = 0;

    if (ioctl(fd, FIONREAD, &avail) < 0 || avail != (int)sizeof(HOST_DATA)) {
        fprintf(stderr, "stolen: the host's pipe holds %d bytes\n", avail);
        exit(4);
    }
}

/* A listening socket and a connection to it, kept open. */
static void listen_and_connect(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof(a);
    int l = socket(AF_INET, SOCK_STREAM, 0), c = socket(AF_INET, SOCK_STREAM, 0);

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (l < 0 || c < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 4) < 0 ||
        getsockname(l, (struct sockaddr *)&a, &len) < 0 ||
        connect(c, (struct sockaddr *)&a, sizeof(a)) < 0) {
        perror("testd: listen");
        exit(1);
    }
    printf("port %d\n", ntohs(a.sin_port));
}

static void *weird_thread(void *arg)
{
    (void)arg;
    prctl(PR_SET_NAME, "new\nline\xff\x01");
    atomic_fetch_add(&parked, 1);
    for (;;)
        park_sleep();
    return NULL;
}

static void spawn(const char *command)
{
    pid_t pid = fork();

    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", command, (char *)NULL);
        _exit(127);
    }
    if (pid > 0)
        waitpid(pid, NULL, 0);
}

static void write_progress(int fd, unsigned long count)
{
    char text[32];
    int n = snprintf(text, sizeof(text), "%lu\n", count);

    if (pwrite(fd, text, (size_t)n, 0) != n)
        _exit(3);
}

/* The strings of argv and environ lie end to end: overwrite them all,
   after moving environ aside so that getenv still works. */
static void set_title(int argc, char **argv, const char *title)
{
    extern char **environ;
    char *start = argv[0], *end = argv[argc - 1] + strlen(argv[argc - 1]) + 1;
    size_t n = 0, i;
    char **copy;

    while (environ[n])
        n++;
    copy = calloc(n + 1, sizeof(*copy));
    for (i = 0; copy && i < n; i++) {
        if (environ[i] == end)
            end += strlen(environ[i]) + 1;
        copy[i] = strdup(environ[i]);
    }
    if (copy)
        environ = copy;
    memset(start, 0, (size_t)(end - start));
    snprintf(start, (size_t)(end - start), "%s", title);
}

int main(int argc, char **argv)
{
    int i, nthreads = 10, block_all = 0, progress = -1, lifetime = 300, expected;
    int usr2 = 0, do_fork = 0, daemonize = 0, host_fd = -1, drop_uid = -1, drop_gid = -1;
    int listen_tcp = 0, weird = 0;
    const char *command = NULL, *inotify_dir = NULL, *title = NULL;
    int rt = -1;
    int host_inotify = -1;
    struct timespec tick = {0, 10 * 1000 * 1000};
    unsigned long count = 0;

    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            nthreads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--block-all"))
            block_all = 1;
        else if (!strcmp(argv[i], "--progress") && i + 1 < argc)
            progress = open(argv[++i], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        else if (!strcmp(argv[i], "--lifetime") && i + 1 < argc)
            lifetime = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--own-usr2"))
            usr2 = 1;
        else if (!strcmp(argv[i], "--fork"))
            do_fork = 1;
        else if (!strcmp(argv[i], "--daemonize-fds"))
            daemonize = 1;
        else if (!strcmp(argv[i], "--own-rt") && i + 1 < argc)
            rt = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--own-inotify") && i + 1 < argc)
            inotify_dir = argv[++i];
        else if (!strcmp(argv[i], "--spawn") && i + 1 < argc)
            command = argv[++i];
        else if (!strcmp(argv[i], "--drop-to") && i + 1 < argc)
            sscanf(argv[++i], "%d:%d", &drop_uid, &drop_gid);
        else if (!strcmp(argv[i], "--listen"))
            listen_tcp = 1;
        else if (!strcmp(argv[i], "--weird-name"))
            weird = 1;
        else if (!strcmp(argv[i], "--title") && i + 1 < argc)
            title = argv[++i];
    }
    if (nthreads < 1 || nthreads > 10) {
        fprintf(stderr, "testd: --threads takes 1 to 10\n");
        return 2;
    }
    alarm((unsigned)lifetime); /* never outlive a broken test run */
    if (pipe(pipe_fds) < 0 || sem_init(&sem, 0, 0) < 0)
        return 1;
    for (i = 0; i < nthreads; i++)
        start(chains[i]);
    expected = nthreads;
    if (block_all) {
        start(blocking_thread);
        expected++;
    }
    while (atomic_load(&parked) < expected)
        nanosleep(&tick, NULL);
    if (usr2)
        own_usr2();
    if (title) {
        char keep[256];
        snprintf(keep, sizeof(keep), "%s", title);
        set_title(argc, argv, keep);
    }
    if (rt >= 0)
        own_rt(SIGRTMAX - rt);
    if (listen_tcp)
        listen_and_connect();
    if (weird) {
        start(weird_thread);
        while (atomic_load(&parked) < expected + 1)
            nanosleep(&tick, NULL);
    }
    if (drop_uid >= 0 && (setgid((gid_t)drop_gid) < 0 || setuid((uid_t)drop_uid) < 0)) {
        perror("testd: dropping privileges");
        return 6;
    }
    if (daemonize)
        host_fd = daemonize_fds();
    if (inotify_dir)
        host_inotify = own_inotify(inotify_dir);
    if (do_fork) {
        pid_t child = fork();
        if (child == 0) {
            alarm((unsigned)lifetime); /* not inherited: the child's own */
            printf("child %d\n", (int)getpid());
            fflush(stdout);
            for (;;)
                nanosleep(&tick, NULL);
        }
    }
    printf("ready %d\n", (int)getpid());
    fflush(stdout);
    if (command)
        spawn(command);
    for (;;) {
        nanosleep(&tick, NULL);
        ++count;
        if (progress >= 0)
            write_progress(progress, count);
        if (host_fd >= 0)
            check_host_data(host_fd);
        if (host_inotify >= 0 && count % 50 == 0) /* slowly: a thief would come first */
            check_host_inotify(host_inotify);
    }
}
