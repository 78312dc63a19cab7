/*
 * waits.c - threads stuck in known ways, for the Waits section
 * (tests/integration/test_waits.py). Each thread is named for what it
 * does (pthread_setname_np); "ready <pid>" is printed once every one is
 * blocked, then the process waits to be killed.
 *
 *   waits deadlock2   dl-a holds mutex A and wants B; dl-b holds B, wants A
 *   waits deadlock3   dl-a, dl-b, dl-c: each holds one of three mutexes and
 *                     wants the next one's
 *   waits kinds       for each mutex kind (normal, errchk, recursive,
 *                     robust, pi): hold-KIND holds one and sleeps, wait-KIND
 *                     wants it
 *   waits others      cond-waiter, sem-waiter, barrier-waiter; rw-writer
 *                     holds a rwlock for writing and sleeps, rw-reader
 *                     wants it; pshared-waiter wants a process-shared mutex
 *                     a child process holds; pipe-reader reads a pipe whose
 *                     write end only that child holds; acceptor accepts on
 *                     a TCP socket; sock-reader reads from a connected TCP
 *                     socket; joiner joins sleeper-j, which sleeps;
 *                     poller polls the listening socket, epoller waits on
 *                     an epoll instance watching it, child-waiter waits
 *                     for the child
 *
 *   waits many N      N threads each reading a pipe of its own, whose
 *                     write end a child holds; N more waiting, in pairs,
 *                     for a mutex the other of the pair holds while it
 *                     sleeps (bench/waits.py)
 *
 * "child <pid>", "listen <port>" and "peer <port>" lines say what the
 * test should find named.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static void name(const char *n)
{
    pthread_setname_np(pthread_self(), n);
}

static void *forever(void)
{
    for (;;)
        sleep(3600);
    return NULL;
}

static void start(void *(*fn)(void *), void *arg)
{
    pthread_t t;

    if (pthread_create(&t, NULL, fn, arg))
        exit(1);
    pthread_detach(t);
}

/* ---- deadlocks ---- */

static pthread_mutex_t ring[3] = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
                                  PTHREAD_MUTEX_INITIALIZER};
static pthread_barrier_t all_hold;
static int ring_size;

static void *ring_member(void *arg)
{
    long i = (long)arg;
    char n[16];

    snprintf(n, sizeof(n), "dl-%c", (char)('a' + i));
    name(n);
    pthread_mutex_lock(&ring[i]);
    pthread_barrier_wait(&all_hold);
    pthread_mutex_lock(&ring[(i + 1) % ring_size]);
    return NULL;
}

static void deadlock(int n)
{
    long i;

    ring_size = n;
    pthread_barrier_init(&all_hold, NULL, (unsigned)n);
    for (i = 0; i < n; i++)
        start(ring_member, (void *)i);
}

/* ---- mutex kinds ---- */

struct held {
    pthread_mutex_t m;
    char holder[16], waiter[16];
    sem_t taken;
};

static void *holder(void *arg)
{
    struct held *h = arg;

    name(h->holder);
    pthread_mutex_lock(&h->m);
    sem_post(&h->taken);
    return forever();
}

static void *waiter(void *arg)
{
    struct held *h = arg;

    name(h->waiter);
    pthread_mutex_lock(&h->m);
    return NULL;
}

static void kind(const char *label, int type, int robust, int pi)
{
    struct held *h = calloc(1, sizeof(*h));
    pthread_mutexattr_t a;

    if (!h)
        exit(1);
    pthread_mutexattr_init(&a);
    pthread_mutexattr_settype(&a, type);
    if (robust)
        pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    if (pi)
        pthread_mutexattr_setprotocol(&a, PTHREAD_PRIO_INHERIT);
    pthread_mutex_init(&h->m, &a);
    snprintf(h->holder, sizeof(h->holder), "hold-%s", label);
    snprintf(h->waiter, sizeof(h->waiter), "wait-%s", label);
    sem_init(&h->taken, 0, 0);
    start(holder, h);
    sem_wait(&h->taken);
    start(waiter, h);
}

static void kinds(void)
{
    kind("normal", PTHREAD_MUTEX_NORMAL, 0, 0);
    kind("errchk", PTHREAD_MUTEX_ERRORCHECK, 0, 0);
    kind("recursive", PTHREAD_MUTEX_RECURSIVE, 0, 0);
    kind("robust", PTHREAD_MUTEX_NORMAL, 1, 0);
    kind("pi", PTHREAD_MUTEX_NORMAL, 0, 1);
}

/* ---- the others ---- */

static pthread_mutex_t cond_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static sem_t sem;
static pthread_barrier_t barrier;
static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static sem_t rw_taken;
static pthread_mutex_t *shared;
static int pipe_read_end, listener, client;
static pthread_t sleeper_j;
static pid_t child;

static void *cond_waiter(void *arg)
{
    (void)arg;
    name("cond-waiter");
    pthread_mutex_lock(&cond_lock);
    for (;;)
        pthread_cond_wait(&cond, &cond_lock);
    return NULL;
}

static void *sem_waiter(void *arg)
{
    (void)arg;
    name("sem-waiter");
    while (sem_wait(&sem) < 0)
        ;
    return NULL;
}

static void *barrier_waiter(void *arg)
{
    (void)arg;
    name("barrier-waiter");
    pthread_barrier_wait(&barrier);
    return NULL;
}

static void *rw_writer(void *arg)
{
    (void)arg;
    name("rw-writer");
    pthread_rwlock_wrlock(&rw);
    sem_post(&rw_taken);
    return forever();
}

static void *rw_reader(void *arg)
{
    (void)arg;
    name("rw-reader");
    pthread_rwlock_rdlock(&rw);
    return NULL;
}

static void *pshared_waiter(void *arg)
{
    (void)arg;
    name("pshared-waiter");
    pthread_mutex_lock(shared);
    return NULL;
}

static void *pipe_reader(void *arg)
{
    char c;

    (void)arg;
    name("pipe-reader");
    return read(pipe_read_end, &c, 1) < 0 ? NULL : NULL;
}

static void *acceptor(void *arg)
{
    (void)arg;
    name("acceptor");
    accept(listener, NULL, NULL);
    return NULL;
}

static void *sock_reader(void *arg)
{
    char c;

    (void)arg;
    name("sock-reader");
    return recv(client, &c, 1, 0) < 0 ? NULL : NULL;
}

static void *sleeper(void *arg)
{
    (void)arg;
    name("sleeper-j");
    return forever();
}

static void *joiner(void *arg)
{
    (void)arg;
    name("joiner");
    pthread_join(sleeper_j, NULL);
    return NULL;
}

static void *poller(void *arg)
{
    struct pollfd p = {.fd = listener, .events = POLLIN};

    (void)arg;
    name("poller");
    while (poll(&p, 1, -1) < 0) /* EINTR: a report's capture signal ends a poll */
        ;
    return NULL;
}

static void *epoller(void *arg)
{
    struct epoll_event ev = {.events = EPOLLIN};
    int ep = epoll_create1(0);

    (void)arg;
    name("epoller");
    ev.data.fd = listener;
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev))
        return NULL;
    while (epoll_wait(ep, &ev, 1, -1) < 0)
        ;
    return NULL;
}

static void *child_waiter(void *arg)
{
    (void)arg;
    name("child-waiter");
    waitpid(child, NULL, 0);
    return NULL;
}

static int tcp_listener(int *port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int s = socket(AF_INET, SOCK_STREAM, 0);

    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) || listen(s, 4) ||
        getsockname(s, (struct sockaddr *)&a, &len))
        exit(1);
    *port = ntohs(a.sin_port);
    return s;
}

/* A child that holds the shared mutex and the pipe's write end, and sleeps. */
static pid_t child_holding(int write_end, int read_end)
{
    int told[2];
    char c = 0;
    pid_t pid;

    if (pipe(told))
        exit(1);
    pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* gone with the test's process */
        close(read_end);
        close(told[0]);
        pthread_mutex_lock(shared);
        if (write(told[1], &c, 1) != 1)
            _exit(1);
        for (;;)
            pause();
    }
    close(write_end);
    close(told[1]);
    if (pid < 0 || read(told[0], &c, 1) != 1)
        exit(1);
    close(told[0]);
    return pid;
}

static void others(void)
{
    pthread_mutexattr_t a;
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fds[2], port, peer_port;

    sem_init(&sem, 0, 0);
    sem_init(&rw_taken, 0, 0);
    pthread_barrier_init(&barrier, NULL, 2);
    shared = mmap(NULL, sizeof(*shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shared == MAP_FAILED || pipe(fds))
        exit(1);
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutex_init(shared, &a);
    child = child_holding(fds[1], fds[0]);
    pipe_read_end = fds[0];
    listener = tcp_listener(&port);
    tcp_listener(&peer_port); /* kept open: the client is queued on it */
    client = socket(AF_INET, SOCK_STREAM, 0);
    to.sin_port = htons((unsigned short)peer_port);
    if (client < 0 || connect(client, (struct sockaddr *)&to, sizeof(to)))
        exit(1);
    printf("child %d\nlisten %d\npeer %d\n", (int)child, port, peer_port);
    start(cond_waiter, NULL);
    start(sem_waiter, NULL);
    start(barrier_waiter, NULL);
    start(rw_writer, NULL);
    sem_wait(&rw_taken);
    start(rw_reader, NULL);
    start(pshared_waiter, NULL);
    start(pipe_reader, NULL);
    start(acceptor, NULL);
    start(sock_reader, NULL);
    if (pthread_create(&sleeper_j, NULL, sleeper, NULL))
        exit(1);
    start(joiner, NULL);
    start(poller, NULL);
    start(epoller, NULL);
    start(child_waiter, NULL);
}

static void *pipe_reader_n(void *arg)
{
    char c;

    name("pipe-reader");
    while (read((int)(long)arg, &c, 1) < 0)
        ;
    return NULL;
}

static void many(int n)
{
    int i, told[2];
    int *write_ends = calloc((size_t)n, sizeof(*write_ends));
    char c = 0;

    if (!write_ends || pipe(told))
        exit(1);
    for (i = 0; i < n; i++) {
        int fds[2];

        if (pipe(fds))
            exit(1);
        write_ends[i] = fds[1];
        start(pipe_reader_n, (void *)(long)fds[0]);
    }
    if (fork() == 0) { /* holds every write end */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (write(told[1], &c, 1) != 1)
            _exit(1);
        for (;;)
            pause();
    }
    if (read(told[0], &c, 1) != 1)
        exit(1);
    for (i = 0; i < n; i++)
        close(write_ends[i]);
    free(write_ends);
    for (i = 0; i < n / 2; i++)
        kind("many", PTHREAD_MUTEX_NORMAL, 0, 0);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "deadlock2";

    signal(SIGPIPE, SIG_IGN);
    if (!strcmp(mode, "deadlock2"))
        deadlock(2);
    else if (!strcmp(mode, "deadlock3"))
        deadlock(3);
    else if (!strcmp(mode, "kinds"))
        kinds();
    else if (!strcmp(mode, "others"))
        others();
    else if (!strcmp(mode, "many"))
        many(argc > 2 ? atoi(argv[2]) : 100);
    else
        return 2;
    usleep(300 * 1000); /* for every thread to be in its wait */
    printf("ready %d\n", (int)getpid());
    fflush(stdout);
    for (;;)
        pause();
}
