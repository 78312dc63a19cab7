/*
 * exitrace.c - a program that exits while libgmr writes its report.
 *
 *   exitrace DIR [THREADS] [DELAY_US]
 *
 * Parks THREADS threads (default 40) 24 frames deep, so a report takes a
 * while and is large, watches DIR (the log directory, which must exist)
 * with inotify, prints "ready <pid>" and sends itself SIGUSR2. A thread
 * of its own waits for the first file to appear in DIR, waits DELAY_US
 * (default 0) microseconds more and calls exit(0): libgmr's watcher is
 * then in the middle of writing the report, between creating the file
 * and giving it its name. If no file appears within 20 s it exits 3.
 */
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#define NOINLINE     __attribute__((noinline, noclone))
#define KEEP_FRAME() __asm__ volatile("" ::: "memory")
#define DEPTH        24

static atomic_int parked;
static volatile int forever = 1;
static int inotify_fd;
static long delay_us;

static NOINLINE int dive(int depth)
{
    struct timespec ts = {3600, 0};

    if (depth == 0) {
        atomic_fetch_add(&parked, 1);
        while (forever) /* the compiler may not know it is forever */
            nanosleep(&ts, NULL);
        return 0;
    }
    depth = dive(depth - 1) + 1;
    KEEP_FRAME();
    return depth;
}

static void *sleeper(void *arg)
{
    (void)arg;
    dive(DEPTH);
    return NULL;
}

static void *exiter(void *arg)
{
    struct pollfd p = {inotify_fd, POLLIN, 0};
    char events[4096];
    struct timespec start, now;
    int i;

    (void)arg;
    for (i = 0; poll(&p, 1, 10) != 1; i++) /* libgmr's signals interrupt it */
        if (i == 2000)
            exit(3);
    if (read(inotify_fd, events, sizeof(events)) <= 0)
        exit(3);
    clock_gettime(CLOCK_MONOTONIC, &start);
    do /* spin: a sleep would be late by more than the window */
        clock_gettime(CLOCK_MONOTONIC, &now);
    while ((now.tv_sec - start.tv_sec) * 1000000 + (now.tv_nsec - start.tv_nsec) / 1000 < delay_us);
    exit(0);
}

int main(int argc, char **argv)
{
    int i, threads = argc > 2 ? atoi(argv[2]) : 40;
    struct timespec tick = {0, 1000000};
    pthread_t t;

    if (argc < 2)
        return 2;
    delay_us = argc > 3 ? atol(argv[3]) : 0;
    alarm(60); /* never outlive a broken test run */
    inotify_fd = inotify_init1(IN_CLOEXEC);
    if (inotify_fd < 0 || inotify_add_watch(inotify_fd, argv[1], IN_CREATE | IN_MOVED_TO) < 0) {
        perror("exitrace: inotify");
        return 1;
    }
    for (i = 0; i < threads; i++)
        pthread_create(&t, NULL, sleeper, NULL);
    while (atomic_load(&parked) < threads)
        nanosleep(&tick, NULL);
    pthread_create(&t, NULL, exiter, NULL);
    printf("ready %d\n", (int)getpid());
    fflush(stdout);
    kill(getpid(), SIGUSR2);
    for (;;)
        pause();
}
