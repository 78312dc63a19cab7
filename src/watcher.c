/*
 * watcher.c - the watcher thread's loop.
 *
 * Waiting: ppoll on the trigger file's inotify descriptor (if any) and the
 * control channel's socket (control.h: gmr-report asks there), with
 * every signal blocked but the wake-up signal (wait_mask says which). A trigger handler
 * sets a pending bit (handler_wake_watcher) and tgkill()s us; if we are busy, the signal
 * stays pending and ends the next ppoll at once. Taking all bits with one exchange
 * coalesces any number of triggers that arrived during a report into at
 * most one more report. Without a wake signal (none was free, or the host
 * has taken both) we look at the pending bits once a second.
 *
 * Symbol tables and debug information are loaded by each report and let
 * go at its end (symbolize.c); what they said about each address stays
 * for CACHE_TTL_MS after a report, so the reports an operator takes in a
 * row are fast, and is then released too (one wake-up, no polling).
 *
 * A process that ends within START_DELAY_MS of its start (a shell's
 * /bin/true, a compiler's helpers: a build runs thousands) pays for a
 * sleeping thread and no more: the watcher takes its own descriptor
 * table, watches the trigger file and opens the control channel only
 * then (start_serving), or at once when a report is asked for sooner
 * (a signal, a crash, gmr_report()); with a trigger file or GMR_TIMEOUT,
 * at once. gmr-report waits for a process too young to have its channel
 * (tools/channel.c).
 *
 * After fork() the child has no watcher thread: watcher_after_fork, run
 * from the fork handler, resets what belonged to the parent's watcher and
 * starts a new one, so a forked worker reports as itself.
 */
#include "watcher.h"

#include "signal/altstack.h"
#include "api.h"
#include "capture/capture.h"
#include "capture/capture_ptrace.h"
#include "trigger/control.h"
#include "symbols/deps.h"
#include "base/fdtable.h"
#include "signal/freeze.h"
#include "signal/crash_handler.h"
#include "signal/handlers.h"
#include "base/log.h"
#include "base/lowlevel.h"
#include "report/report.h"
#include "signal/sigchain.h"
#include "base/startup.h"
#include "trigger/trigger_file.h"
#include "symbols/unwind.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define WATCHER_STACK          (2 * 1024 * 1024)
#define START_DELAY_MS         50
#define CACHE_TTL_MS           (60 * 1000)
#define NO_WAKE_SIGNAL_POLL_MS 1000

struct watcher {
    struct report_ctx ctx;
    struct control control;
    struct control_request asked; /* a client waiting for its report (fd -1: none) */
    long long timeout_at_ms;      /* GMR_TIMEOUT deadline on CLOCK_MONOTONIC, 0 = none */
    long long release_at_ms;      /* when to drop the symbol caches, 0 = nothing held */
    struct ptrace_held held;      /* tracers holding threads for a crash report */
    /* Last: the constructor writes only the fields above (watcher_start),
       so that a process that ends at once never touches these pages. */
    struct package_cache package;
    struct trigger_file tf;
};

static struct watcher the_watcher;

/* What the constructor hands the watcher (watcher_start), apart from
   the_watcher, on the startup page (startup.h): the thread copies it in. */
static GMR_STARTUP struct {
    const struct gmr_config *cfg;
    const char *service;
    int capture_signal;
    long long timeout_at_ms;
    int running;      /* a watcher thread was started (in this process) */
    pthread_t thread; /* joined only to follow the caller's credentials */
} start;

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

/* Room for the trigger signal's thread to copy its own stack into
   (handlers.c). Reserved, not touched: it costs no memory until used,
   and report.c gives the used pages back. A forked child keeps its
   parent's copy of it. */
static void reserve_trigger_copy(void)
{
    struct slot *s = handler_trigger_slot(NULL, NULL);
    void *p;

    if (s->copy)
        return;
    p = mmap(NULL, CAPTURE_STACK_MAX, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return;
    s->copy_cap = CAPTURE_STACK_MAX;
    s->copy = p;
}

/* What a process that lives past START_DELAY_MS, or asks for a report,
   needs: descriptors of its own, the trigger file's watch, the channel. */
static void start_serving(struct watcher *w)
{
    if (w->ctx.cfg->crash)
        altstack_install(); /* not made for a process that ended sooner (threads.c) */
    fdtable_unshare();
    if (!w->tf.path[0]) /* a forked child keeps its parent's settings */
        trigger_file_open(&w->tf, w->ctx.cfg->trigger_file, w->ctx.cfg->trigger_interval_ms);
    control_listen(&w->control);
    reserve_trigger_copy();
}

/* The first START_DELAY_MS: asleep, woken early only by a report asked
   for (the wake signal, with its pending bit). Not with a trigger
   file (a touch must not go unseen: file times tick too coarsely to tell
   one just before the start from one just after) nor with a GMR_TIMEOUT
   deadline (kept to the millisecond). */
static void wait_to_serve(const struct watcher *w)
{
    struct timespec delay = {0, START_DELAY_MS * 1000000L};
    sigset_t mask;

    if (w->timeout_at_ms || config_given(w->ctx.cfg, CFG_TRIGGER_FILE) || handler_pending())
        return;
    wait_mask(&mask);
    ppoll(NULL, 0, &delay, &mask);
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
        bits |= handler_take_pending();
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

/* The first watcher of a process sets itself up from `start`; a forked
   child's has its parent's state (watcher_after_fork). */
static void take_start(struct watcher *w)
{
    if (w->ctx.cfg)
        return;
    w->ctx.cfg = start.cfg;
    w->ctx.service = start.service;
    w->ctx.capture_signal = start.capture_signal;
    w->ctx.package = &w->package;
    w->ctx.held = &w->held;
    w->ctx.program_sections = api_emit_sections;
    w->ctx.list_green = api_green_threads;
    /* Held as long as the frozen threads, and let go with them. */
    w->held.release = freeze_release_word();
    w->held.hold_ms = crash_wait_ms() + FREEZE_HOLD_MS;
    w->control.fd = -1;
    w->asked.fd = -1;
    w->tf.fd = -1;
    w->timeout_at_ms = start.timeout_at_ms;
}

/* The end of a watcher asked to make way for another (watcher_follow_begin):
   what it held is let go; the next one starts afresh, keeping the
   settings (the trigger file's path, the symbol caches' absence). */
static void *quit(struct watcher *w)
{
    release_caches(w);
    if (w->asked.fd >= 0)
        control_answer(&w->asked, NULL, "libgmr's watcher is restarting; ask again");
    /* Its own descriptors: closed here (they die with its own table
       anyway, but not if it had none). */
    trigger_file_after_fork(&w->tf);
    control_after_fork(&w->control, &w->asked);
    fdtable_after_fork();
    handler_unpost(TRIGGER_QUIT);
    return NULL;
}

void *watcher_main(void *arg)
{
    struct watcher *w = arg;
    char written[4096];

    w->ctx.self_tid = (pid_t)syscall(SYS_gettid);
    handler_set_watcher(w->ctx.self_tid); /* first: watcher_follow_begin waits for it */
    take_start(w);
    prctl(PR_SET_NAME, "gmr-watcher");
    handler_set_watcher_state(WATCHER_READY);
    wait_to_serve(w);
    if (handler_pending() == TRIGGER_QUIT)
        return quit(w); /* asked to end before it served */
    start_serving(w);
    for (;;) {
        struct report_request req;
        uint32_t ticket = 0;

        memset(&req, 0, sizeof(req));
        req.bits = wait_trigger(w);
        if (req.bits & TRIGGER_REQUEST)
            answer_request(w);
        if ((req.bits & TRIGGER_QUIT) && !(req.bits & ~(unsigned)(TRIGGER_QUIT | TRIGGER_REQUEST)))
            return quit(w);
        if (req.bits & TRIGGER_QUIT)
            handler_post(TRIGGER_QUIT); /* after the report asked for with it */
        req.bits &= ~(unsigned)(TRIGGER_REQUEST | TRIGGER_QUIT);
        if (!req.bits)
            continue;
        if (req.bits & TRIGGER_API)
            ticket =
                api_take_requests(req.reason, sizeof(req.reason), &req.api_calls, &req.api_caller);
        write_report(w, &req, written, sizeof(written));
        if (req.bits & TRIGGER_API)
            api_requests_served(ticket);
        if (req.bits & TRIGGER_CRASH) {
            crash_reported(CRASH_DONE); /* the crashing thread ends the process */
            ptrace_let_go(&w->held);    /* or, if the host goes on, lets them go */
        }
        if ((req.bits & TRIGGER_TIMEOUT) && w->ctx.cfg->timeout_abort)
            abort_after_timeout();
    }
    return NULL;
}

static int spawn(struct watcher *w)
{
    sigset_t all, old;
    pthread_attr_t attr;
    int err;

    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, WATCHER_STACK);
    /* The thread inherits this mask: it is born with the host's signals
       blocked, so none meant for the host can land on it, even before it
       runs. */
    watcher_mask(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    handler_set_watcher_state(WATCHER_STARTING);
    err = pthread_create(&start.thread, &attr, watcher_main, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (err) {
        handler_set_watcher_state(WATCHER_NO_THREAD);
        log_msg("cannot start the watcher thread: %s; no reports", strerror(err));
        return -1;
    }
    start.running = 1;
    return 0;
}

int watcher_start(const struct gmr_config *cfg, const char *service, int capture_signal)
{
    start.cfg = cfg;
    start.service = service;
    start.capture_signal = capture_signal;
    if (cfg->timeout_ms)
        start.timeout_at_ms = ll_now_ms() + cfg->timeout_ms;
    return spawn(&the_watcher);
}

void watcher_after_fork(void)
{
    struct watcher *w = &the_watcher;
    int loader_safe = deps_fork_child();

    if (!start.running)
        return;
    w->held.n = 0; /* the parent's tracers, not this child's */
    take_start(w); /* forked before the parent's watcher first ran */
    if (!loader_safe) {
        /* The parent's watcher may have been inside the loader: starting
           another in this child risks its half-done state. Say so if
           asked for a report (handler_trigger), not now: most such
           children exec. */
        handler_set_watcher_state(WATCHER_FORKED);
        start.running = 0;
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

/* The watcher's tid. A program that changes its ids first thing (setpriv)
   can come here before the watcher thread has run at all: glibc counts it
   among the threads already, so wait (briefly) until it says who it is. */
static pid_t started_tid(void)
{
    struct timespec nap = {0, 1000 * 1000};
    pid_t tid = handler_watcher();
    int i;

    for (i = 0; tid <= 0 && i < 2000; i++) {
        nanosleep(&nap, NULL);
        tid = handler_watcher();
    }
    return tid;
}

/* The capabilities of a thread of ours (0: this one), or -1. */
static int caps_of(pid_t tid, struct __user_cap_data_struct data[2])
{
    struct __user_cap_header_struct head = {_LINUX_CAPABILITY_VERSION_3, tid};

    memset(data, 0, 2 * sizeof(*data));
    return (int)syscall(SYS_capget, &head, data);
}

/*
 * setuid() and its kin (preload/setxid.c) are about to change the
 * process's credentials. glibc has every thread make the same call, and
 * aborts the process if one fails where the caller's did not. A thread's
 * capabilities are its own: a program that gave one thread capabilities
 * the others lack (setpriv, capsh: PR_SET_KEEPCAPS, setresuid, capset,
 * setresgid) would find the watcher, with the capabilities it was born
 * with, failing its setresgid. So when the caller's capabilities and the
 * watcher's differ, the watcher ends first (a report under way is
 * finished), and watcher_follow_end starts another from the caller: it
 * has the caller's credentials, as a thread the program started would.
 * Not in a vfork() child (another pid), where the watcher is not ours.
 */
int watcher_follow_begin(void)
{
    struct __user_cap_data_struct mine[2], its[2];
    pid_t tid;
    int err;

    /* Not while a crash is reported, nor once the watcher has faulted: it
       is parked for good and would never end. */
    if (!start.running || getpid() != handler_pid() || crash_thread() ||
        handler_watcher_state() == WATCHER_CRASHED)
        return 0;
    tid = started_tid();
    if (tid <= 0 || ll_gettid() == tid)
        return 0;
    if (caps_of(0, mine) < 0 || caps_of(tid, its) < 0 || !memcmp(mine, its, sizeof(mine)))
        return 0;
    handler_wake_watcher(TRIGGER_QUIT);
    err = pthread_join(start.thread, NULL);
    if (err) {
        log_msg("cannot wait for the watcher to end (%s); the credential change may fail",
                strerror(err));
        return 0;
    }
    handler_set_watcher(0);
    handler_set_watcher_state(WATCHER_NOT_STARTED);
    start.running = 0;
    return 1;
}

void watcher_follow_end(int stopped)
{
    if (stopped)
        spawn(&the_watcher);
}
