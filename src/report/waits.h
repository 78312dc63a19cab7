/*
 * waits.h - why each thread is stuck: what it waits for, who holds that,
 * and the deadlocks that follow (waits.c).
 *
 * From the system call each thread sat in just before the capture
 * (/proc/self/task/TID/syscall, read before it was signalled), the
 * innermost functions of its stack, and the memory the call waits on, read
 * fault-free: a futex that is a glibc mutex names the thread that holds
 * it; a descriptor names what it is. Nothing is written, no lock is taken.
 * Threads that wait for a thread (a mutex's owner, a rwlock's writer, a
 * thread being joined) make a wait-for graph; its cycles are deadlocks.
 */
#ifndef GMR_WAITS_H
#define GMR_WAITS_H

#include <stddef.h>
#include <sys/types.h>

struct report;

enum wait_kind {
    WAIT_NONE, /* running, or not in a blocking call libgmr knows */
    WAIT_MUTEX,
    WAIT_RWLOCK,
    WAIT_COND,
    WAIT_SEMAPHORE,
    WAIT_BARRIER,
    WAIT_JOIN,
    WAIT_FUTEX, /* a futex that is none of the above, as far as can be told */
    WAIT_FD,    /* read, recv, accept, connect, write, send */
    WAIT_POLL,  /* poll, select, epoll_wait */
    WAIT_SLEEP,
    WAIT_CHILD,
    WAIT_SIGNAL,
};

struct wait {
    pid_t tid;
    enum wait_kind kind;
    unsigned long addr; /* the futex word, or 0 */
    int fd;             /* -1 if none */
    pid_t holder;       /* the thread of this process it waits for, or 0 */
    char text[480];     /* "waits for mutex 0x... held by Thread #12 (worker)" */
    int in_cycle;       /* one of a deadlock's threads */
    long nr;            /* the system call it was in, and its first argument */
    unsigned long long arg0;
};

struct waits {
    struct wait *v; /* one per captured thread, in the capture's order */
    size_t n;
    /* Deadlocks: each a run of tids in cycle[], from cycle_at[k] for
       cycle_len[k]; chains the same, ending in a thread that waits for no
       thread. */
    pid_t *cycle;
    size_t *cycle_at, *cycle_len, ncycles;
    pid_t *chain;
    size_t *chain_at, *chain_len, nchains;
    long long read_us; /* what the analysis took */
};

/* Analyzes every captured thread's wait; out is zeroed first. */
void waits_read(struct report *r, struct waits *out);
void waits_free(struct waits *w);
/* The deadlocks and chains of w->v (each wait's holder), into w. */
void waits_graph(struct waits *w);
const struct wait *waits_of(const struct waits *w, pid_t tid);
/* The deadlock `tid` is in: its tids from *run, how many (0: none). */
size_t waits_cycle_of(const struct waits *w, pid_t tid, const pid_t **run);
/* A deadlock or chain as a sentence: "Thread #1 (a) waits for mutex 0x...
   held by Thread #2 (b), which waits for ...". */
void waits_sentence(const struct report *r, const struct waits *w, const pid_t *run, size_t n,
                    int cycle, char *out, size_t cap);
const char *wait_kind_name(enum wait_kind kind);

#endif
