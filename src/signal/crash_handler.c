/*
 * crash_handler.c - SIGNAL CONTEXT. libgmr's handler for the fatal
 * signals (SEGV, BUS, FPE, ILL, ABRT), in front of the host's own
 * (sigchain.h). Same rules as handlers.c: async-signal-safe calls only,
 * no malloc, no locks, every wait bounded.
 *
 * In order:
 *  1. libgmr's watcher itself faulted: it stops for good, the host runs on;
 *  2. the host has a handler for the signal: it runs first, exactly as the
 *     kernel would have run it. If it returns with its handler still in
 *     place, the host dealt with the signal (a JVM's implicit null check),
 *     and so do we;
 *  3. the signal is fatal in the host's own view: its disposition is
 *     SIG_DFL (from the start, or reset by its handler, which then re-raised
 *     it or returns into the fault), or a fault arrived under SIG_IGN. The
 *     first thread to get here freezes the others (freeze.c), has the
 *     watcher write the report, or writes a short one itself
 *     (crash_fallback.c), and then dies as before: the default action back,
 *     the same siginfo queued again to itself, delivered when the handler
 *     returns, so the exit status, the core and its siginfo are the ones
 *     the host would have had.
 * If we were called by a handler the host installed behind our back (a
 * raw rt_sigaction, as the Go runtime does) that chains to us, we write the
 * report and return to it, so the host's own crash handling goes on.
 */
#include "crash_handler.h"

#include "arch/arch.h"
#include "base/log.h"
#include "base/lowlevel.h"
#include "base/signames.h"
#include "base/startup.h"
#include "base/tasks.h"
#include "crash_fallback.h"
#include "freeze.h"
#include "handlers.h"
#include "sigchain.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define STUCK_POLL_MS 100 /* how often the crashing thread looks at the watcher */
#define STUCK_POLLS   3   /* in a futex at one address this many looks in a row */

/* The crash being reported: written by the first crashing thread only. */
static struct crash_info crash;
/* How long a crashing thread waits for the watcher (the constructor's). */
static int wait_ms GMR_STARTUP;

const struct crash_info *crash_record(void)
{
    return &crash;
}

pid_t crash_thread(void)
{
    return atomic_load(&crash.tid);
}

void crash_set_wait_ms(int ms)
{
    wait_ms = ms;
}

int crash_wait_ms(void)
{
    return wait_ms;
}

void crash_after_fork(void)
{
    atomic_store(&crash.tid, 0);
    atomic_store(&crash.phase, CRASH_NONE);
}

/* Waits while phase is CRASH_REPORTING, at most ms; returns the phase. */
static int wait_report(long ms)
{
    long long until = ll_now_ms() + ms;
    int phase;

    while ((phase = atomic_load(&crash.phase)) == CRASH_REPORTING) {
        long long left = until - ll_now_ms();
        if (left <= 0)
            break;
        ll_futex_wait(&crash.phase, CRASH_REPORTING, left);
    }
    return phase;
}

/*
 * The watcher waits for a lock: in futex(), at the same address, look
 * after look. While the others are frozen, one of them may hold it (a
 * malloc arena's, say): they are let go, and the report goes on. Frozen
 * or not, the crashed thread itself may hold it (a crash inside malloc):
 * then there is no waiting it out.
 */
struct stuck {
    int taskdir;
    unsigned long long addr;
    int looks;
};

static int watcher_stuck(struct stuck *st)
{
    unsigned long long addr;
    long nr;

    if (st->taskdir < 0 || task_syscall(st->taskdir, handler_watcher(), &nr, &addr) < 0 ||
        nr != SYS_futex || addr == (uintptr_t)handler_waits_on()) {
        st->looks = 0;
        return 0;
    }
    st->looks = st->looks && addr == st->addr ? st->looks + 1 : 1;
    st->addr = addr;
    return st->looks >= STUCK_POLLS;
}

/* Waits for the watcher's report, at most ms; returns the phase, or
   CRASH_WATCHER_STUCK if it waits for a lock nobody will let go. */
static int wait_watcher(long ms)
{
    long long until = ll_now_ms() + ms;
    struct stuck st = {open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC), 0, 0};
    int phase;

    while ((phase = atomic_load(&crash.phase)) == CRASH_REPORTING) {
        long long left = until - ll_now_ms();
        if (left <= 0)
            break;
        ll_futex_wait(&crash.phase, CRASH_REPORTING, left < STUCK_POLL_MS ? left : STUCK_POLL_MS);
        if (!watcher_stuck(&st))
            continue;
        if (freeze_holding()) {
            freeze_release();
            st.looks = 0;
            continue;
        }
        phase = CRASH_WATCHER_STUCK;
        break;
    }
    if (st.taskdir >= 0)
        close(st.taskdir);
    return phase;
}

void crash_reported(int phase)
{
    atomic_store(&crash.phase, phase);
    ll_futex_wake(&crash.phase, 0x7fffffff);
}

/* Raised by the CPU or the kernel for this very instruction, so it comes
   back if the instruction runs again (and cannot be ignored)? An action-
   optional machine-check (BUS_MCEERR_AO) is sent by the kernel but is
   not a fault of this instruction. */
static int is_fault(int sig, const siginfo_t *si)
{
    return si && si->si_code > 0 && !(sig == SIGBUS && si->si_code == BUS_MCEERR_AO);
}

static int is_handler(const struct sigaction *sa)
{
    return (sa->sa_flags & SA_SIGINFO) || (sa->sa_handler != SIG_DFL && sa->sa_handler != SIG_IGN);
}

/* abort() raising SIGABRT in this thread: once the host's handler has put
   the default back and returned, abort() takes it from there (behind our
   back, with glibc's own sigaction) and the process dies of it. */
static int self_abort(int sig, const siginfo_t *si)
{
    return sig == SIGABRT && si && si->si_code == SI_TKILL && si->si_pid == getpid();
}

static int pending_here(int sig)
{
    sigset_t set;

    return sigpending(&set) == 0 && sigismember(&set, sig) == 1;
}

/*
 * Lets the signal take its course as if we had never been there: the
 * kernel's default action back, and the same siginfo queued again to
 * this thread (sending to oneself may carry any si_code). It is blocked
 * now, and delivered the moment the handler returns and the interrupted
 * context's mask, with the signal unblocked, is restored: the process
 * dies at the instruction it was interrupted at, with that siginfo, as a
 * fault re-executed would have, and an asynchronous signal too.
 */
static void requeue(int sig, const siginfo_t *si, ucontext_t *uc)
{
    pid_t pid = getpid(), me = ll_gettid();
    siginfo_t again;

    if (si) {
        again = *si;
        again.si_signo = sig;
    }
    if ((!si || syscall(SYS_rt_tgsigqueueinfo, pid, me, sig, &again) < 0) &&
        syscall(SYS_tgkill, pid, me, sig) < 0)
        kill(pid, sig);
    if (uc)
        sigdelset(&uc->uc_sigmask, sig);
}

static void die_as_before(int sig, const siginfo_t *si, ucontext_t *uc)
{
    sigchain_release(sig);
    requeue(sig, si, uc);
}

/*
 * A child that shares our memory, or was made without fork's handlers
 * (vfork, clone, _Fork), has no watcher, and its parent's state must not
 * be touched: it dies as it would have, with its own default action.
 */
static void die_in_child(int sig, const siginfo_t *si, ucontext_t *uc)
{
    struct sigaction dfl;

    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    sys_sigaction(sig, &dfl, NULL);
    log_raw("no report: this process was made without fork's handlers (vfork, clone or "
            "_Fork), and has no libgmr watcher",
            NULL, NULL, NULL);
    requeue(sig, si, uc);
}

/*
 * A fatal signal sent with kill() landed on the watcher (the program's
 * own threads all block it: a sigwaitinfo daemon's). It is not ours: sent
 * again to the process, for a thread of the program to take, and kept
 * blocked here until the watcher's next report is written.
 */
static void pass_on(int sig, ucontext_t *uc)
{
    kill(getpid(), sig);
    if (uc)
        sigaddset(&uc->uc_sigmask, sig);
}

static void record(int sig, const siginfo_t *si, const ucontext_t *uc)
{
    struct slot *s = &crash.slot;

    crash.signo = sig;
    crash.code = si ? si->si_code : SI_USER;
    crash.addr = si ? (uintptr_t)si->si_addr : 0;
    crash.sender = si && si->si_code <= 0 ? si->si_pid : 0;
    s->tid = ll_gettid();
    s->frozen = 1;
    arch_regs_from_ucontext(s->regs, uc);
}

/* Parks the calling thread for good: the handler cannot return into the
   instruction that faulted, and the thread must not end the process. */
static void park_forever(void)
{
    for (;;)
        pause();
}

/*
 * libgmr's own thread faulted. During a crash report: the crashing thread
 * is told to write its fallback report and end the process. At any other
 * time a fault of ours must not end the host: the watcher's thread ends,
 * and the process runs on without reports.
 *
 * It ends with the exit system call, not pthread_exit (which would unwind
 * a stack that just faulted): the kernel clears the thread's tid, so the C
 * library counts it as gone. Parked instead, it would still be asked to
 * take part in the host's setuid() and kin, without the capabilities they
 * need, and glibc aborts the process when one thread's call fails; and it
 * would keep a process whose other threads have all ended alive.
 */
static void watcher_crashed(int sig)
{
    /* Nothing of the host waits on us from now on: the state change wakes
       the API's waiting callers (handler_news). */
    handler_set_watcher_state(WATCHER_CRASHED);
    if (atomic_load(&crash.tid)) {
        crash_reported(CRASH_WATCHER_FAILED);
        park_forever();
    }
    log_raw("libgmr's watcher thread crashed (SIG", signal_fatal_name(sig),
            "); this process writes no more reports. Please report this to libgmr.", NULL);
    /* Its tid stays known (the API tells a lock it held by it), but
       nothing is sent to it any more: every wake-up first asks whether
       there is a watcher (handler_no_watcher_reason). */
    for (;;)
        syscall(SYS_exit, 0);
}

/* The signal that freezes the others: the capture signal, while it is
   still ours (0: none). */
static int freeze_signal(void)
{
    int sig = handler_capture_signal();

    return sig > 0 && handler_owns(sig, handler_capture) ? sig : 0;
}

/* Freezes the others and has the report written; returns why it was
   not, or NULL. */
static const char *report_crash(void)
{
    const char *missing = handler_no_watcher_reason();

    if (!missing && ll_gettid() == handler_watcher())
        missing = "the signal was delivered to libgmr's watcher thread, which cannot report it";
    int starting = handler_watcher_state() == WATCHER_STARTING, phase;

    atomic_store(&crash.phase, CRASH_REPORTING);
    freeze_others(handler_pid(), handler_watcher(), freeze_signal(), FREEZE_WAIT_MS,
                  wait_ms + FREEZE_HOLD_MS);
    if (missing)
        return missing;
    handler_wake_watcher(TRIGGER_CRASH);
    phase = wait_watcher(wait_ms);
    if (phase == CRASH_DONE)
        return NULL;
    if (phase == CRASH_WATCHER_FAILED)
        return "libgmr's watcher crashed while writing the report";
    if (phase == CRASH_WATCHER_STUCK)
        return "libgmr's watcher waited for a lock that the crashed thread holds (a crash "
               "inside malloc, say)";
    return starting ? "libgmr's watcher was still starting and did not answer in time"
                    : "libgmr's watcher did not answer in time";
}

/* The signal is fatal: report it, then die as before (or, `chained`,
   return to the host handler that called us). */
static void fatal(int sig, siginfo_t *si, ucontext_t *uc, int chained)
{
    pid_t me = ll_gettid(), first = 0;
    const char *why;
    sigset_t all, old;

    /* Nothing else runs on this thread now. Returning to the kernel
       restores the interrupted mask from uc; to a host handler, `old`. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    if (!atomic_compare_exchange_strong(&crash.tid, &first, me)) {
        /* Another thread is reporting its crash: let it finish, then die
           of our own signal (whichever comes first ends the process). */
        wait_report(wait_ms + 1000);
        goto out;
    }
    record(sig, si, uc);
    why = report_crash();
    if (why)
        crash_fallback_report(&crash, handler_pid(), handler_service(), why);
    if (chained) {
        freeze_release();
        atomic_store(&crash.phase, CRASH_NONE);
        atomic_store(&crash.tid, 0); /* the host goes on: a later crash is reported too */
    }
out:
    if (chained)
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    else
        die_as_before(sig, si, uc);
}

/* Runs the host's handler as the kernel would have (our kernel action
   carries its flags and mask, see sigchain.c). */
static void run_host(int sig, siginfo_t *si, ucontext_t *uc, const struct sigaction *host)
{
    if (host->sa_flags & SA_RESETHAND)
        sigchain_reset_view(sig);
    if (host->sa_flags & SA_SIGINFO)
        host->sa_sigaction(sig, si, uc);
    else
        host->sa_handler(sig);
}

void handler_crash(int sig, siginfo_t *si, void *ucv)
{
    ucontext_t *uc = ucv;
    struct sigaction view;
    int saved = errno, ran_host = 0;

    if (getpid() != handler_pid()) {
        die_in_child(sig, si, uc);
        errno = saved;
        return;
    }
    if (ll_gettid() == handler_watcher()) {
        if (is_fault(sig, si))
            watcher_crashed(sig);
        pass_on(sig, uc);
        errno = saved;
        return;
    }
    if (!handler_owns(sig, handler_crash)) {
        fatal(sig, si, uc, 1); /* a host handler installed behind our back chained to us */
        errno = saved;
        return;
    }
    sigchain_view(sig, &view);
    if (is_handler(&view)) {
        run_host(sig, si, uc, &view);
        ran_host = 1;
        sigchain_view(sig, &view);
    }
    if (is_handler(&view) || (view.sa_handler == SIG_IGN && !is_fault(sig, si)) ||
        (ran_host && !is_fault(sig, si) && !pending_here(sig) && !self_abort(sig, si))) {
        /* The host handles it, ignores it, or reset it and carries on. */
        errno = saved;
        return;
    }
    fatal(sig, si, uc, 0);
    errno = saved;
}
