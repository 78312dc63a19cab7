/*
 * lowlevel.h - the few system calls libgmr's threads and its signal
 * handlers share: this thread's id, monotonic time, and futex waits and
 * wake-ups. All async-signal-safe.
 */
#ifndef GMR_LOWLEVEL_H
#define GMR_LOWLEVEL_H

#include <linux/futex.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

static inline pid_t ll_gettid(void)
{
    return (pid_t)syscall(SYS_gettid);
}

static inline long long ll_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static inline long long ll_now_ms(void)
{
    return ll_now_us() / 1000;
}

/* Sleeps while *word == seen, at most ms (a wake-up or a signal may end
   it sooner: callers look again). */
static inline void ll_futex_wait(void *word, uint32_t seen, long long ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};

    syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, seen, &ts, NULL, 0);
}

static inline void ll_futex_wake(void *word, int waiters)
{
    syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, waiters, NULL, NULL, 0);
}

#endif
