/*
 * target.c - the process the benchmark reports on.
 *
 *   target N DEPTH parked|busy [SHM]
 *
 * Starts N threads, each DEPTH (1 to 20) named functions deep (frame_01
 * calls frame_02 ... down to frame_DEPTH), then parked in a condition
 * wait, or busy. Busy threads measure the largest gap in their own
 * progress (CLOCK_MONOTONIC) per measurement window: the benchmark writes
 * a window number into SHM (a file: u64 window, then per thread u64 window
 * seen and u64 largest gap in ns), and each thread, on seeing it change,
 * publishes its largest gap of the window that ended.
 *
 * Prints "ready <pid>".
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define NOINLINE     __attribute__((noinline, noclone))
#define KEEP_FRAME() __asm__ volatile("" ::: "memory")

struct shared {
    _Atomic uint64_t window;
    struct {
        _Atomic uint64_t window;
        _Atomic uint64_t max_gap_ns;
    } thread[];
};

static int depth, busy;
static struct shared *shm;
static atomic_int started;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t never = PTHREAD_COND_INITIALIZER;

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void spin(int index)
{
    uint64_t last = now_ns(), max = 0, window = shm ? atomic_load(&shm->window) : 0;

    for (;;) {
        uint64_t now = now_ns();
        if (now - last > max)
            max = now - last;
        last = now;
        if (shm && atomic_load_explicit(&shm->window, memory_order_relaxed) != window) {
            atomic_store(&shm->thread[index].max_gap_ns, max);
            atomic_store(&shm->thread[index].window, window);
            window = atomic_load(&shm->window);
            max = 0;
            last = now_ns();
        }
    }
}

static void park(int index)
{
    atomic_fetch_add(&started, 1);
    if (busy)
        spin(index);
    pthread_mutex_lock(&lock);
    for (;;)
        pthread_cond_wait(&never, &lock);
}

/* frame_NN: the NN-th function of the chain, parking at DEPTH. */
#define FRAME(n, next)                                                                             \
    static NOINLINE void frame_##n(int level, int index)                                           \
    {                                                                                              \
        if (level >= depth)                                                                        \
            park(index);                                                                           \
        else                                                                                       \
            next(level + 1, index);                                                                \
        KEEP_FRAME();                                                                              \
    }

static NOINLINE void frame_21(int level, int index)
{
    (void)level;
    park(index);
}
FRAME(20, frame_21)
FRAME(19, frame_20)
FRAME(18, frame_19)
FRAME(17, frame_18)
FRAME(16, frame_17)
FRAME(15, frame_16)
FRAME(14, frame_15)
FRAME(13, frame_14)
FRAME(12, frame_13)
FRAME(11, frame_12)
FRAME(10, frame_11)
FRAME(09, frame_10)
FRAME(08, frame_09)
FRAME(07, frame_08)
FRAME(06, frame_07)
FRAME(05, frame_06)
FRAME(04, frame_05)
FRAME(03, frame_04)
FRAME(02, frame_03)
FRAME(01, frame_02)

static void *thread_main(void *arg)
{
    frame_01(1, (int)(intptr_t)arg);
    return NULL;
}

static void map_shared(const char *path, int n)
{
    size_t size = sizeof(struct shared) + (size_t)n * sizeof(shm->thread[0]);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

    if (fd < 0 || ftruncate(fd, (off_t)size) < 0)
        exit(1);
    shm = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (shm == MAP_FAILED)
        exit(1);
}

int main(int argc, char **argv)
{
    struct timespec tick = {0, 1000 * 1000};
    pthread_attr_t attr;
    int n, i;

    if (argc < 4) {
        fprintf(stderr, "usage: target N DEPTH parked|busy [SHM]\n");
        return 2;
    }
    n = atoi(argv[1]);
    depth = atoi(argv[2]);
    busy = !strcmp(argv[3], "busy");
    if (n < 1 || depth < 1 || depth > 20)
        return 2;
    if (argc > 4)
        map_shared(argv[4], n);
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    for (i = 0; i < n; i++) {
        pthread_t t;
        if (pthread_create(&t, &attr, thread_main, (void *)(intptr_t)i) != 0) {
            perror("target: pthread_create");
            return 1;
        }
    }
    while (atomic_load(&started) < n)
        nanosleep(&tick, NULL);
    printf("ready %d\n", (int)getpid());
    fflush(stdout);
    for (;;)
        pause();
}
