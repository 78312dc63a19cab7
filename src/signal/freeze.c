/*
 * freeze.c - SIGNAL CONTEXT. Both halves of a crash freeze (freeze.h): the
 * crashing thread's, run in handler_crash, and each frozen thread's, run
 * in handler_capture. System calls only: open, getdents64, read, close
 * (tasks.c), rt_tgsigqueueinfo, rt_sigprocmask, futex.
 *
 * Each frozen thread writes its registers into fz.records, the tid
 * last; the watcher copies them, and reads the stacks in place, while the
 * threads wait (if they are let go early, it reads them as they run on,
 * which the fault-free reader allows).
 */
#include "freeze.h"

#include "arch/arch.h"
#include "base/lowlevel.h"
#include "base/tasks.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define FREEZE_PASSES   4  /* re-listings for threads created meanwhile */
#define FREEZE_STALL_MS 50 /* no thread stopped for this long: stop waiting */

static struct {
    _Atomic uint32_t count; /* futex word: threads frozen so far */
    _Atomic int on;         /* a freeze is being set up or held */
    _Atomic int release;    /* futex word: set to let the frozen threads go */
    _Atomic uint32_t held;  /* threads held by the watcher's tracer instead */
    pid_t pid;              /* the process whose threads are frozen */
    long hold_ms;           /* how long a frozen thread waits at most */
    struct frozen records[FREEZE_RECORDS];
} fz;

static int send_freeze(pid_t tid, int signo)
{
    siginfo_t si;

    memset(&si, 0, sizeof(si));
    si.si_signo = signo;
    si.si_code = SI_QUEUE;
    si.si_pid = fz.pid;
    si.si_uid = getuid();
    si.si_value.sival_ptr = (void *)(uintptr_t)FREEZE_PAYLOAD;
    return (int)syscall(SYS_rt_tgsigqueueinfo, fz.pid, tid, signo, &si);
}

/* One pass over the thread list: sends to every thread that would take
   the signal in our handler. A thread already frozen blocks every signal,
   and one with our signal pending says so, so neither is sent another. */
static uint32_t freeze_pass(struct task_list *l, int signo, pid_t me, pid_t watcher)
{
    uint32_t sent = 0;
    pid_t tid;
    int filtered;

    tasks_rewind(l);
    while ((tid = tasks_next(l)) > 0) {
        if (tid == me || tid == watcher)
            continue;
        if (task_reach(l->fd, tid, signo, &filtered) == REACH_YES && send_freeze(tid, signo) == 0)
            sent++;
    }
    return sent;
}

/* Waits until `sent` threads are frozen, the deadline passes, or none has
   stopped for FREEZE_STALL_MS (one that exited, or sits in vfork). */
static void wait_frozen(uint32_t sent, long long until)
{
    long long last = ll_now_ms();
    uint32_t got, seen = atomic_load(&fz.count);

    while ((got = atomic_load(&fz.count)) < sent) {
        long long now = ll_now_ms(), stop;
        if (got != seen) {
            seen = got;
            last = now;
        }
        stop = last + FREEZE_STALL_MS < until ? last + FREEZE_STALL_MS : until;
        if (now >= stop)
            return;
        ll_futex_wait(&fz.count, got, stop - now);
    }
}

uint32_t freeze_others(pid_t pid, pid_t watcher, int signo, long wait_ms, long hold_ms)
{
    pid_t me = ll_gettid();
    long long until = ll_now_ms() + wait_ms;
    struct task_list l;
    uint32_t sent = 0, n;
    int pass;

    if (signo <= 0 || tasks_open(&l) < 0)
        return 0;
    fz.pid = pid;
    fz.hold_ms = hold_ms;
    for (n = 0; n < atomic_load(&fz.count) && n < FREEZE_RECORDS; n++)
        atomic_store(&fz.records[n].tid, 0); /* a freeze before, released */
    atomic_store(&fz.count, 0);
    atomic_store(&fz.held, 0);
    atomic_store(&fz.release, 0);
    atomic_store(&fz.on, 1);
    for (pass = 0; pass < FREEZE_PASSES; pass++) {
        n = freeze_pass(&l, signo, me, watcher);
        sent += n;
        /* Let this pass's threads stop before looking again, so that a
           thread they were creating shows up in the next listing. */
        wait_frozen(sent, until);
        if (n == 0)
            break;
    }
    tasks_close(&l);
    return atomic_load(&fz.count);
}

void freeze_self(const ucontext_t *uc)
{
    long long until = ll_now_ms() + fz.hold_ms;
    struct frozen *rec;
    uint32_t idx;
    sigset_t all;

    if (!atomic_load(&fz.on))
        return;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, NULL); /* the handler's return restores the mask */
    idx = atomic_fetch_add(&fz.count, 1);
    if (idx < FREEZE_RECORDS) {
        rec = &fz.records[idx];
        arch_regs_from_ucontext(rec->regs, uc);
        atomic_store(&rec->tid, ll_gettid());
    }
    ll_futex_wake(&fz.count, 1);
    /* Normally the process dies of the crash while we wait. The deadline
       is for a crash the host then handles itself (freeze_release). */
    while (!atomic_load(&fz.release) && ll_now_ms() < until)
        ll_futex_wait(&fz.release, 0, until - ll_now_ms());
}

void freeze_release(void)
{
    atomic_store(&fz.on, 0);
    atomic_store(&fz.release, 1);
    ll_futex_wake(&fz.release, 0x7fffffff);
}

int freeze_released(void)
{
    return atomic_load(&fz.release);
}

int freeze_holding(void)
{
    return atomic_load(&fz.on) && (atomic_load(&fz.count) || atomic_load(&fz.held));
}

const struct frozen *freeze_records(uint32_t *n)
{
    uint32_t count = atomic_load(&fz.count);

    *n = count < FREEZE_RECORDS ? count : FREEZE_RECORDS;
    return fz.records;
}

void freeze_add_held(uint32_t n)
{
    atomic_fetch_add(&fz.held, n);
}

_Atomic int *freeze_release_word(void)
{
    return &fz.release;
}

void freeze_after_fork(void)
{
    atomic_store(&fz.on, 0);
    atomic_store(&fz.held, 0);
}
