/*
 * tasks.h - this process's threads as /proc shows them, read without
 * malloc, so that a crashing thread's handler can use it as well as the
 * watcher: listing the threads, and asking whether a signal sent to one
 * would reach our handler and nothing else.
 */
#ifndef GMR_TASKS_H
#define GMR_TASKS_H

#include <stdint.h>
#include <sys/types.h>

struct task_list {
    int fd; /* /proc/self/task */
    long pos, len;
    char buf[2048];
};

/* 0, or -1 if /proc/self/task cannot be opened. */
int tasks_open(struct task_list *l);
/* The next thread id; 0 at the end of the list, -1 on a read error. */
pid_t tasks_next(struct task_list *l);
/* Back to the start, to see threads created since. */
void tasks_rewind(struct task_list *l);
void tasks_close(struct task_list *l);

enum task_reach {
    REACH_YES,     /* not blocked: our handler will take it */
    REACH_BLOCKED, /* blocked: it would stay pending, or a signalfd would read it */
    REACH_SIGWAIT, /* in sigwaitinfo/sigtimedwait for it: host code would get it */
    REACH_PENDING, /* one of ours is pending there already */
    REACH_GONE,    /* the thread has exited */
};

/*
 * Could `sig`, sent to thread `tid`, reach our handler without host code
 * seeing it? `taskdir` is /proc/self/task. *filtered is set if the thread
 * runs under a seccomp filter (so a stack copy should avoid
 * process_vm_readv). Async-signal-safe.
 */
enum task_reach task_reach(int taskdir, pid_t tid, int sig, int *filtered);

/* /proc/self/task/TID/syscall: the system call the thread is in (-1:
   none) and its first argument. 0, or -1 if running or unreadable. */
int task_syscall(int taskdir, pid_t tid, long *nr, unsigned long long *arg0);

/* Is the thread waiting for a vfork child (vfork, or clone with
   CLONE_VFORK), which it cannot leave to take a signal? */
int task_in_vfork(int taskdir, pid_t tid);

#endif
