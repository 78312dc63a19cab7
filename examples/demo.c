/*
 * demo.c - a small multi-threaded "daemon" for `make demo`.
 *
 * A dispatcher hands jobs to a pool of workers through a queue guarded by
 * a mutex and a condition variable; a flusher wakes up now and then; a
 * checksum thread keeps a core busy. Each thread is named, so the report
 * reads like one from a real service.
 *
 * Prints "ready <pid>" once all threads run; exits after --lifetime
 * seconds (default 60).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WORKERS 3
#define QUEUE   16

struct queue {
    pthread_mutex_t lock;
    pthread_cond_t ready;
    int jobs[QUEUE];
    int head, tail;
};

static struct queue q = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, {0}, 0, 0};
static volatile unsigned long checksum;

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, ms % 1000 * 1000000};
    nanosleep(&ts, NULL);
}

static int next_job(void)
{
    int job;

    pthread_mutex_lock(&q.lock);
    while (q.head == q.tail)
        pthread_cond_wait(&q.ready, &q.lock);
    job = q.jobs[q.head++ % QUEUE];
    pthread_mutex_unlock(&q.lock);
    return job;
}

static void handle_job(int job)
{
    checksum += (unsigned long)job;
}

static void *worker(void *arg)
{
    char name[16];

    snprintf(name, sizeof(name), "worker-%d", (int)(long)arg);
    pthread_setname_np(pthread_self(), name);
    for (;;)
        handle_job(next_job());
    return NULL;
}

static void submit(int job)
{
    pthread_mutex_lock(&q.lock);
    if (q.tail - q.head < QUEUE)
        q.jobs[q.tail++ % QUEUE] = job;
    pthread_cond_signal(&q.ready);
    pthread_mutex_unlock(&q.lock);
}

static void *dispatcher(void *arg)
{
    int job = 0;

    (void)arg;
    pthread_setname_np(pthread_self(), "dispatcher");
    for (;;) {
        submit(job++);
        sleep_ms(500);
    }
    return NULL;
}

static void flush_journal(void)
{
    sleep_ms(2000);
}

static void *flusher(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "flusher");
    for (;;)
        flush_journal();
    return NULL;
}

static unsigned long crunch(unsigned long seed)
{
    unsigned long i, x = seed;

    for (i = 0; i < 50000000; i++)
        x = x * 6364136223846793005UL + 1442695040888963407UL;
    return x;
}

static void *checksummer(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "checksum");
    for (;;) {
        checksum ^= crunch(checksum);
        sleep_ms(1);
    }
    return NULL;
}

static void spawn(void *(*fn)(void *), void *arg)
{
    pthread_t t;

    if (pthread_create(&t, NULL, fn, arg) != 0) {
        perror("demo: pthread_create");
        exit(1);
    }
}

int main(int argc, char **argv)
{
    int lifetime = 60;
    time_t deadline;
    long i;

    if (argc > 2 && !strcmp(argv[1], "--lifetime"))
        lifetime = atoi(argv[2]);
    for (i = 0; i < WORKERS; i++)
        spawn(worker, (void *)(i + 1));
    spawn(dispatcher, NULL);
    spawn(flusher, NULL);
    spawn(checksummer, NULL);
    printf("ready %d\n", (int)getpid());
    fflush(stdout);
    /* Signals (libgmr's among them) cut sleeps short: sleep until the
       deadline, however often we are woken. */
    deadline = time(NULL) + lifetime;
    while (time(NULL) < deadline)
        sleep(1);
    return 0;
}
