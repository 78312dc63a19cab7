/*
 * watcher.c - the watcher thread's loop.
 *
 * Waiting: ppoll on the trigger file's inotify descriptor (if any) and the
 * control channel's socket (control.h: gmr-report asks there), with
 * every signal blocked but the wake-up signal (wait_mask says which). A trigger handler
 * sets a bit in hs.pending and tgkill()s us; if we are busy, the signal
 * stays pending and ends the next ppoll at once. Taking all bits with one exchange
 * coalesces any number of triggers that arrived during a report into at
 * most one more report. Without a wake signal (none was free, or the host
 * has taken both) we look at hs.pending once a second.
 *
 * Symbol tables and debug information are loaded by each report and let
 * go at its end (symbolize.c); what they said about each address stays
 * for CACHE_TTL_MS after a report, so the reports an operator takes in a
 * row are fast, and is then released too (one wake-up, no polling).
 *
 * After fork() the child has no watcher thread: watcher_after_fork, run
 * from the fork handler, resets what belonged to the parent's watcher and
 * starts a new one, so a forked worker reports as itself.
 */
#include "watcher.h"

#include "api.h"
#include "capture.h"
#include "control.h"
#include "deps.h"
#include "fdtable.h"
#include "handlers.h"
#include "log.h"
#include "lowlevel.h"
#include "report.h"
#include "sigchain.h"
#include "trigger_file.h"
#include "unwind.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define WATCHER_STACK          (2 * 1024 * 1024)
#define CACHE_TTL_MS           (60 * 1000)
#define NO_WAKE_SIGNAL_POLL_MS 1000

struct watcher {
    struct report_ctx ctx;
    struct package_cache package;
    struct trigger_file tf;
    struct control control;
    struct control_request asked; /* a client waiting for its report (fd -1: none) */
    long long timeout_at_ms;      /* GMR_TIMEOUT deadline on CLOCK_MONOTONIC, 0 = none */
    long long release_at_ms;      /* when to drop the symbol caches, 0 = nothing held */
    int running;
};

static struct watcher the_watcher;

/* The sooner of a wait (ms, -1 = none) and the time left until `at`. */
static long long sooner(long long wait_ms, long long at, long long now)
{
    long long left;

    if (!at)
        return wait_ms;
    left = at > now ? at - now : 0;
    return wait_ms < 0 || left < wait_ms ? left : wait_ms;
}

static void release_caches(struct watcher *w)
{
    symbolizer_free(w->ctx.sym);
    w->ctx.sym = NULL;
    w->release_at_ms = 0;
}

/* Milliseconds the next ppoll may sleep; -1 for no limit. */
static long long wait_limit(const struct watcher *w, long long now)
{
    long long wait_ms = trigger_file_wait_ms(&w->tf);

    wait_ms = sooner(wait_ms, w->timeout_at_ms, now);
    wait_ms = sooner(wait_ms, w->release_at_ms, now);
    wait_ms = sooner(wait_ms, w->control.resume_at_ms, now); /* the channel back in the poll */
    if (!handler_wake_signal() && (wait_ms < 0 || wait_ms > NO_WAKE_SIGNAL_POLL_MS))
        wait_ms = NO_WAKE_SIGNAL_POLL_MS;
    return wait_ms;
}

/*
 * The watcher's signal mask: everything blocked but the faults. A fault in
 * a thread that blocks it ends the process on the spot, with no handler:
 * left unblocked, a fault of ours reaches handler_crash, which keeps the
 * host alive. (glibc's sigfillset leaves out its own SIGCANCEL and
 * SIGSETXID, which setuid() in a threaded host needs every thread, ours
 * too, to take.)
 */
static void watcher_mask(sigset_t *mask)
{
    sigfillset(mask);
    sigdelset(mask, SIGSEGV);
    sigdelset(mask, SIGBUS);
    sigdelset(mask, SIGFPE);
    sigdelset(mask, SIGILL);
    sigdelset(mask, SIGABRT);
}

static void restore_mask(void)
{
    sigset_t mask;

    watcher_mask(&mask);
    pthread_sigmask(SIG_SETMASK, &mask, NULL);
}

/*
 * While waiting, the signal that wakes us too (see handler_wake_watcher):
 * the capture signal while it is ours, which nobody sends to a process.
 * Not the trigger signal: a program that blocks it in all its threads
 * (a sigwaitinfo daemon) means to take it itself, and a kill() would then
 * come to us instead, some of the time. Only if the host has taken the
 * capture signal is the trigger signal the wake-up, for want of another.
 */
static void wait_mask(sigset_t *mask)
{
    int sig = handler_wake_signal();

    sigfillset(mask); /* faults too: none can happen in ppoll, and one sent by
                         kill() is then left to the program's threads */
    if (sig)
        sigdelset(mask, sig);
}

static void sleep_until_something(struct watcher *w, long long now)
{
    struct pollfd pfd[2];
    long long wait_ms = wait_limit(w, now);
    struct timespec ts, *tsp = NULL;
    nfds_t n = 0;
    sigset_t mask;

    if (trigger_file_fd(&w->tf) >= 0)
        pfd[n++] = (struct pollfd){trigger_file_fd(&w->tf), POLLIN, 0};
    if (control_fd(&w->control) >= 0)
        pfd[n++] = (struct pollfd){control_fd(&w->control), POLLIN, 0};
    wait_mask(&mask);
    if (wait_ms >= 0) {
        ts.tv_sec = wait_ms / 1000;
        ts.tv_nsec = wait_ms % 1000 * 1000000;
        tsp = &ts;
    }
    ppoll(n ? pfd : NULL, n, tsp, &mask);
}

/* Sleeps until at least one trigger bit is set; returns them all. */
static unsigned wait_trigger(struct watcher *w)
{
    for (;;) {
        unsigned bits = 0;
        long long now = ll_now_ms();

        if (trigger_file_check(&w->tf))
            bits |= TRIGGER_FILE;
        if (w->timeout_at_ms && now >= w->timeout_at_ms) {
            w->timeout_at_ms = 0;
            bits |= TRIGGER_TIMEOUT;
        }
        control_listen(&w->control); /* again if the host closed it */
        if (w->asked.fd < 0 && control_take(&w->control, &w->asked))
            bits |= TRIGGER_REQUEST;
        bits |= atomic_exchange(&hs.pending, 0);
        if (bits)
            return bits;
        if (w->release_at_ms && now >= w->release_at_ms)
            release_caches(w);
        sleep_until_something(w, now);
    }
}

/* GMR_TIMEOUT_ABORT: the report is written; end the process as abort()
   would, without a crash report on top. */
static void abort_after_timeout(void)
{
    log_msg("GMR_TIMEOUT: the process ran too long; aborting (GMR_TIMEOUT_ABORT=1)");
    sigchain_release(SIGABRT);
    abort();
}

/* Room for the trigger signal's thread to copy its own stack into
   (handlers.c). Reserved, not touched: it costs no memory until used,
   and report.c gives the used pages back. A forked child keeps its
   parent's copy of it. */
static void reserve_trigger_copy(void)
{
    void *p;

    if (hs.trigger.slot.copy)
        return;
    p = mmap(NULL, CAPTURE_STACK_MAX, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return;
    hs.trigger.slot.copy_cap = CAPTURE_STACK_MAX;
    hs.trigger.slot.copy = p;
}

static void write_report(struct watcher *w, struct report_request *req, char *written, size_t len)
{
    deps_load(); /* the first report loads libunwind and elfutils */
    if (!w->ctx.sym)
        w->ctx.sym = symbolizer_new(w->ctx.cfg->debuginfod);
    w->ctx.trigger_fd = w->tf.fd;
    report_write(&w->ctx, req, written, len);
    restore_mask(); /* a fatal signal passed on meanwhile stayed blocked */
    w->release_at_ms = ll_now_ms() + CACHE_TTL_MS;
}

/* A report for the client of the control channel: on its connection only
   (gmr-report), or, for the deadline of gmr-run --timeout, a timeout
   report where this process writes its reports. */
static void answer_request(struct watcher *w)
{
    struct report_request req;
    char written[4096];

    memset(&req, 0, sizeof(req));
    req.bits = TRIGGER_REQUEST | (w->asked.to_sink ? TRIGGER_TIMEOUT : 0);
    req.reply = &w->asked;
    write_report(w, &req, written, sizeof(written));
    control_answer(&w->asked, NULL, "the report could not be delivered"); /* if not yet answered */
}

static void *watcher_main(void *arg)
{
    struct watcher *w = arg;
    char written[4096];

    prctl(PR_SET_NAME, "gmr-watcher");
    w->ctx.self_tid = (pid_t)syscall(SYS_gettid);
    fdtable_unshare();
    if (!w->tf.path[0]) /* a forked child keeps its parent's settings */
        trigger_file_open(&w->tf, w->ctx.cfg->trigger_file, w->ctx.cfg->trigger_interval_ms);
    control_listen(&w->control);
    reserve_trigger_copy();
    atomic_store(&hs.watcher_tid, w->ctx.self_tid);
    atomic_store(&hs.watcher_state, WATCHER_READY);
    for (;;) {
        struct report_request req;
        uint32_t ticket = 0;

        memset(&req, 0, sizeof(req));
        req.bits = wait_trigger(w);
        if (req.bits & TRIGGER_REQUEST)
            answer_request(w);
        req.bits &= ~(unsigned)TRIGGER_REQUEST;
        if (!req.bits)
            continue;
        if (req.bits & TRIGGER_API)
            ticket =
                api_take_requests(req.reason, sizeof(req.reason), &req.api_calls, &req.api_caller);
        write_report(w, &req, written, sizeof(written));
        if (req.bits & TRIGGER_API)
            api_requests_served(ticket);
        if (req.bits & TRIGGER_CRASH)
            handler_crash_reported(CRASH_DONE); /* the crashing thread ends the process */
        if ((req.bits & TRIGGER_TIMEOUT) && w->ctx.cfg->timeout_abort)
            abort_after_timeout();
    }
    return NULL;
}

static int spawn(struct watcher *w)
{
    sigset_t all, old;
    pthread_attr_t attr;
    pthread_t thread;
    int err;

    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, WATCHER_STACK);
    /* The thread inherits this mask: it is born with the host's signals
       blocked, so none meant for the host can land on it, even before it
       runs. */
    watcher_mask(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    atomic_store(&hs.watcher_state, WATCHER_STARTING);
    err = pthread_create(&thread, &attr, watcher_main, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (err) {
        atomic_store(&hs.watcher_state, WATCHER_NO_THREAD);
        log_msg("cannot start the watcher thread: %s; no reports", strerror(err));
        return -1;
    }
    w->running = 1;
    return 0;
}

int watcher_start(const struct gmr_config *cfg, const char *service, int capture_signal)
{
    struct watcher *w = &the_watcher;

    memset(w, 0, sizeof(*w));
    w->ctx.cfg = cfg;
    w->ctx.service = service;
    w->ctx.capture_signal = capture_signal;
    w->ctx.package = &w->package;
    w->tf.fd = -1;
    w->control.fd = -1;
    w->asked.fd = -1;
    if (cfg->timeout_ms)
        w->timeout_at_ms = ll_now_ms() + cfg->timeout_ms;
    return spawn(w);
}

void watcher_after_fork(void)
{
    struct watcher *w = &the_watcher;
    int loader_safe = deps_fork_child();

    if (!w->running)
        return;
    if (!loader_safe) {
        /* The parent's watcher may have been inside the loader: starting
           another in this child risks its half-done state. Say so if
           asked for a report (handler_trigger), not now: most such
           children exec. */
        atomic_store(&hs.watcher_state, WATCHER_FORKED);
        w->running = 0;
        trigger_file_after_fork(&w->tf); /* its copy of our descriptor */
        control_after_fork(&w->control, &w->asked);
        return;
    }
    /* The parent's watcher may have been anywhere, holding its objects'
       locks: abandon them (they are copies) and start afresh. */
    w->ctx.sym = NULL;
    w->release_at_ms = 0;
    unwind_after_fork();
    trigger_file_after_fork(&w->tf);
    control_after_fork(&w->control, &w->asked); /* and the parent's client */
    if (w->ctx.cfg->timeout_ms)
        w->timeout_at_ms = ll_now_ms() + w->ctx.cfg->timeout_ms;
    spawn(w);
}

int watcher_running(void)
{
    return the_watcher.running;
}
