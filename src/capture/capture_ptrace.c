/*
 * capture_ptrace.c - the ptrace capture backend (capture_ptrace.h).
 *
 * A thread cannot ptrace its own process, so the watcher makes a tracer: a
 * task of its own that shares our memory (CLONE_VM) but is a process of
 * its own, with exit signal 0 (the host gets no SIGCHLD, and its
 * waitpid(-1) without __WALL never sees it). The tracer seizes one thread
 * at a time (PTRACE_SEIZE, PTRACE_INTERRUPT), waits for it to stop, reads
 * its registers and the live part of its stack (process_vm_readv, which
 * cannot fault), and lets it go (PTRACE_DETACH): the thread pauses for
 * microseconds and sees no signal; a system call it was in is restarted
 * by the kernel as under a debugger (sleeps are not cut short).
 *
 * The tracer runs with no C library state of its own (no TLS, the
 * watcher's errno is not its to write): it makes raw system calls only.
 * If it dies or hangs, the watcher kills it, and the kernel releases
 * every thread it held. Where ptrace is refused (the process is traced
 * already, or not dumpable, Yama, a seccomp filter: a filter that kills
 * kills only the tracer, which is a process of its own), it captures
 * nothing and says why: the caller uses signals.
 */
#include "capture_ptrace.h"

#include "arch/arch.h"
#include "base/procfs.h"
#include "signal/handlers.h"

#include <errno.h>
#include <linux/futex.h>
#include <linux/ptrace.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TRACER_STACK (128 * 1024)
#define STOP_WAIT_NS (100 * 1000000LL) /* for one thread to stop */
#define POLL_NS      10000L
#define YIELDS       200
#define REAP_MS      2000
#define REAP_POLL_NS 50000L
#define BOUNCE_BYTES (64 * 1024)

/* What the tracer runs: no sanitizer either, whose per-thread state (in
   the TLS the tracer shares with the watcher) is the watcher's. */
#define TRACER __attribute__((no_sanitize_address, no_sanitize_undefined))

/* A thread the tracer holds stopped (hold mode), and the signal that
   stopped it, given back when it lets go. */
struct held_thread {
    pid_t tid;
    int sig;
};

/* The tracer's whole state, at the bottom of its own mapping (its stack
   above): in hold mode it outlives ptrace_capture's frame. */
struct job {
    pid_t pid;
    struct slot **slots;
    size_t n;
    long long deadline_ns;
    size_t captured;
    int err;                   /* the first refusal, as an errno */
    _Atomic uint32_t finished; /* futex word */
    _Atomic int *release;      /* hold mode: set when the threads may go */
    long hold_ms;
    struct held_thread *held; /* n of them, in hold mode */
    size_t nheld;
    unsigned char *bounce; /* BOUNCE_BYTES, touched before the first thread stops */
    int bounced;           /* the thread at hand's copy is in it */
};

/* A system call without the C library: -errno on failure, errno unset. */
TRACER static long raw(long nr, long a, long b, long c, long d, long e, long f)
{
    return arch_syscall(nr, a, b, c, d, e, f);
}

TRACER static long long now_ns(void)
{
    struct timespec ts = {0, 0};

    raw(SYS_clock_gettime, CLOCK_MONOTONIC, (long)&ts, 0, 0, 0, 0);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

TRACER static void nap(long ns)
{
    struct timespec ts = {0, ns};

    raw(SYS_nanosleep, (long)&ts, 0, 0, 0, 0, 0);
}

/* Copies n bytes from `from` (ours, or the host's: we share its memory)
   to `to` with the kernel, which cannot fault; returns bytes or -errno. */
TRACER static long copy(const struct job *j, void *to, const void *from, size_t n)
{
    struct iovec local = {to, n}, remote = {(void *)(uintptr_t)from, n};

    return raw(SYS_process_vm_readv, j->pid, (long)&local, 1, (long)&remote, 1, 0);
}

/*
 * The live part of the stack, as the signal handler copies it; while the
 * thread is stopped, into the bounce buffer when it fits. The slot's copy
 * area is fresh memory, whose first touch is a page fault per page (tens
 * of microseconds each in some virtual machines): taken after the thread
 * is let go (move_copy), they are not part of its pause.
 */
TRACER static void copy_stack(struct job *j, struct slot *s)
{
    uintptr_t sp = arch_sp(s->regs) & ~(uintptr_t)7;
    uintptr_t end = s->maps ? map_set_stack_end(s->maps, sp) : 0;
    size_t want = slot_copy_want(s, sp, end);
    long n;

    j->bounced = want <= BOUNCE_BYTES;
    n = copy(j, j->bounced ? j->bounce : s->copy, (void *)sp, want);

    slot_copy_done(s, sp, end, want, n < 0 ? -1 : n, n < 0 ? (int)-n : 0);
}

/* The bounced copy, into the slot, once the thread runs again. */
TRACER static void move_copy(const struct job *j, struct slot *s)
{
    if (!j->bounced || !s->copy_len)
        return;
    if (copy(j, s->copy, j->bounce, s->copy_len) != (long)s->copy_len) {
        s->copy_len = 0;
        s->copy_errno = EFAULT;
    }
}

/* Waits for the seized thread to stop. 1 stopped, 0 gone or too slow.
   A thread stops within microseconds: yield the CPU to it first, and
   sleep only if it takes longer. */
TRACER static int stopped(pid_t tid, int *status, long long until)
{
    int spins = 0;

    for (;;) {
        long r = raw(SYS_wait4, tid, (long)status, __WALL | WNOHANG, 0, 0, 0);

        if (r == tid)
            return WIFSTOPPED(*status);
        if (r < 0 || now_ns() > until)
            return 0;
        if (spins++ < YIELDS)
            raw(SYS_sched_yield, 0, 0, 0, 0, 0, 0);
        else
            nap(POLL_NS);
    }
}

/* One thread: 1 captured, 0 not (gone, or did not stop), -errno refused.
   In hold mode it stays stopped, in j->held. Its pause is counted from
   its stop (the tracer waits for it, yielding) to the call that lets it
   go; how soon it then runs is the scheduler's. */
TRACER static int capture_one(struct job *j, struct slot *s)
{
    long long start = now_ns(), held;
    int status = 0;
    long r, sig = 0;

    r = raw(SYS_ptrace, PTRACE_SEIZE, s->tid, 0, 0, 0, 0);
    if (r < 0)
        return r == -ESRCH ? 0 : (int)r;
    if (raw(SYS_ptrace, PTRACE_INTERRUPT, s->tid, 0, 0, 0, 0) < 0 ||
        !stopped(s->tid, &status, start + STOP_WAIT_NS))
        return 0; /* still seized: the tracer's exit lets it go */
    held = now_ns();
    /* A signal on its way in stopped it first (a signal-delivery stop has
       no event; ours is PTRACE_EVENT_STOP): hand it back on detach. */
    if ((status >> 16) == 0)
        sig = WSTOPSIG(status);
    j->bounced = 0;
    r = arch_ptrace_regs(s->tid, s->regs);
    if (r == 0)
        copy_stack(j, s);
    s->pause_ns = (long)(now_ns() - held);
    if (j->release && r == 0)
        j->held[j->nheld++] = (struct held_thread){s->tid, (int)sig};
    else
        raw(SYS_ptrace, PTRACE_DETACH, s->tid, 0, sig, 0, 0);
    if (r < 0)
        return 0;
    move_copy(j, s);
    atomic_store(&s->state, SLOT_DONE);
    return 1;
}

/* Hold mode: keeps the threads stopped until *release is set (a private
   futex word: ours shares the host's memory, so the host's wake reaches
   it) or hold_ms pass, then lets each go with the signal it stopped for. */
TRACER static void hold(struct job *j)
{
    long long until = now_ns() + j->hold_ms * 1000000LL;
    size_t i;

    while (!atomic_load(j->release)) {
        long long left = until - now_ns();
        struct timespec ts = {0, 0};

        if (left <= 0)
            break;
        ts.tv_sec = left / 1000000000LL;
        ts.tv_nsec = left % 1000000000LL;
        raw(SYS_futex, (long)j->release, FUTEX_WAIT_PRIVATE, 0, (long)&ts, 0, 0);
    }
    for (i = 0; i < j->nheld; i++)
        raw(SYS_ptrace, PTRACE_DETACH, j->held[i].tid, 0, j->held[i].sig, 0, 0);
}

/* The kernel's signal action, as rt_sigaction takes it. */
struct kernel_action {
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)(void);
    unsigned long mask;
};

#define KERNEL_SA_RESTORER 0x04000000UL /* asm/signal.h */
#define TRACER_FAULTED     100          /* its exit status: 100 + the signal */

/* A fault of the tracer's own ends it, with no core dump: before Linux
   5.16 a core dump ends every task that shares its memory, the host. */
TRACER static void tracer_fault(int sig)
{
    raw(SYS_exit_group, TRACER_FAULTED + sig, 0, 0, 0, 0, 0);
}

/* Every signal blocked but the faults, which tracer_fault takes: the
   tracer's table of actions is its own copy (no CLONE_SIGHAND). A blocked
   fault would be forced to its default action, a core dump. */
TRACER static void mask_signals(void)
{
    static const int faults[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGABRT, SIGSYS};
    /* The restorer is never used: the handler does not return. */
    struct kernel_action a = {tracer_fault, KERNEL_SA_RESTORER, (void (*)(void))tracer_fault, 0};
    unsigned long mask = ~0UL;
    size_t i;

    for (i = 0; i < sizeof(faults) / sizeof(faults[0]); i++) {
        raw(SYS_rt_sigaction, faults[i], (long)&a, 0, sizeof(a.mask), 0, 0);
        mask &= ~(1UL << (faults[i] - 1));
    }
    raw(SYS_rt_sigprocmask, SIG_SETMASK, (long)&mask, 0, sizeof(mask), 0, 0);
}

TRACER static int tracer(void *arg)
{
    struct job *j = arg;
    size_t i;

    mask_signals();
    raw(SYS_prctl, PR_SET_TIMERSLACK, 1, 0, 0, 0, 0); /* its naps are short */
    /* Gone with the watcher: a host that dies meanwhile takes it along. */
    raw(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0, 0);
    for (i = 0; i < j->n && now_ns() < j->deadline_ns; i++) {
        int r = capture_one(j, j->slots[i]);

        if (r > 0)
            j->captured++;
        else if (r < 0 && !j->err)
            j->err = -r;
        if (r < 0 && !j->captured)
            break; /* refused from the first: signals it is */
    }
    atomic_store(&j->finished, 1);
    raw(SYS_futex, (long)&j->finished, FUTEX_WAKE, 1, 0, 0, 0);
    if (j->nheld)
        hold(j);
    return 0;
}

/* Why the kernel said EPERM, as far as this process can tell. */
static const char *eperm_reason(void)
{
    static const char *const yama[] = {
        "ptrace was refused (EPERM)",
        "ptrace was refused (EPERM: Yama's ptrace_scope is 1: only a process's ancestors may "
        "trace it, and the tracer is its child)",
        "ptrace was refused (EPERM: Yama's ptrace_scope is 2: only with CAP_SYS_PTRACE)",
        "ptrace was refused (EPERM: Yama's ptrace_scope is 3: no ptrace at all)",
    };
    char text[4096];
    const char *tracer;
    size_t len;
    long scope;

    if (procfs_read("/proc/self/status", text, sizeof(text)) > 0 &&
        (tracer = procfs_field(text, "TracerPid:", &len)) && strtol(tracer, NULL, 10) > 0)
        return "ptrace was refused (EPERM: the process is traced already)";
    if (prctl(PR_GET_DUMPABLE) == 0)
        return "ptrace was refused (EPERM: the process is not dumpable)";
    if (procfs_read("/proc/sys/kernel/yama/ptrace_scope", text, sizeof(text)) > 0) {
        scope = strtol(text, NULL, 10);
        if (scope >= 1 && scope <= 3)
            return yama[scope];
    }
    return yama[0];
}

static const char *refusal(int err)
{
    switch (err) {
    case EPERM:
        return eperm_reason();
    case ENOSYS:
        return "ptrace is not available (ENOSYS: a seccomp filter?)";
    default:
        return "ptrace failed";
    }
}

/* The tracer's mapping: its job and the threads it may hold, its bounce
   buffer (page aligned), its stack. */
static size_t head_size(size_t n, int holds)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t bytes = sizeof(struct job) + (holds ? n * sizeof(struct held_thread) : 0);

    return (bytes + page - 1) / page * page;
}

/* Waits for the tracer to end (or kills it at `give_up`) and frees its
   mapping. */
static void reap(pid_t t, char *mem, size_t len, long long give_up)
{
    int status = 0;

    while (now_ns() < give_up) {
        pid_t r = waitpid(t, &status, __WALL | WNOHANG);

        if (r == t || (r < 0 && errno != EINTR))
            goto out;
        nap(REAP_POLL_NS);
    }
    kill(t, SIGKILL); /* the kernel lets go of every thread it held */
    while (waitpid(t, &status, __WALL) < 0 && errno == EINTR)
        ;
out:
    munmap(mem, len);
}

/* Waits until the tracer says it is done, dies, or overstays `give_up`.
   Returns 1 done, 0 died, -1 overstayed; *reaped if it was (*status). */
static int wait_done(struct job *j, pid_t t, int *status, long long give_up, int *reaped)
{
    struct timespec ts;

    *reaped = 0;
    handler_set_waits_on(&j->finished); /* not a lock: see crash_handler.c */
    while (!atomic_load(&j->finished) && now_ns() < give_up) {
        if (waitpid(t, status, __WALL | WNOHANG) == t) {
            *reaped = 1;
            break;
        }
        ts.tv_sec = 0;
        ts.tv_nsec = 1000000L;
        syscall(SYS_futex, &j->finished, FUTEX_WAIT, 0, &ts, NULL, 0);
    }
    handler_set_waits_on(NULL);
    if (atomic_load(&j->finished))
        return 1;
    return *reaped ? 0 : -1;
}

static void outcome(const struct job *j, int done, int status, struct ptrace_outcome *out)
{
    out->captured = j->captured;
    out->err = j->err;
    if (!j->captured && j->err)
        out->why = refusal(j->err);
    else if (done < 0)
        out->why = "the tracer did not finish within the capture timeout";
    else if (WIFSIGNALED(status))
        out->why = j->captured ? "the tracer was killed before it was done"
                               : "the tracer was killed (a seccomp filter that forbids ptrace?)";
    else if (WIFEXITED(status) && WEXITSTATUS(status) > TRACER_FAULTED)
        out->why = WEXITSTATUS(status) == TRACER_FAULTED + SIGSYS
                       ? "the tracer was stopped by a seccomp filter (SIGSYS)"
                       : "the tracer faulted";
}

void ptrace_capture(pid_t pid, struct slot **slots, size_t n, long timeout_ms,
                    struct ptrace_held *held, struct ptrace_outcome *out)
{
    int holds = held && held->n < PTRACE_HELD_MAX;
    size_t head = head_size(n, holds), len = head + BOUNCE_BYTES + TRACER_STACK;
    long long give_up;
    struct job *j;
    char *mem;
    int status = 0, done, reaped;
    pid_t t;

    memset(out, 0, sizeof(*out));
    mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) {
        out->why = "no memory for the tracer";
        return;
    }
    j = (struct job *)(void *)mem;
    j->pid = pid;
    j->slots = slots;
    j->n = n;
    j->deadline_ns = now_ns() + timeout_ms * 1000000LL;
    j->bounce = (unsigned char *)mem + head;
    memset(j->bounce, 0, BOUNCE_BYTES); /* its page faults now, not in a thread's pause */
    if (holds) {
        j->release = held->release;
        j->hold_ms = held->hold_ms;
        j->held = (struct held_thread *)(void *)(j + 1);
    }
    t = clone(tracer, mem + len, CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_UNTRACED, j);
    if (t < 0) {
        out->err = errno;
        out->why = "the tracer could not be started";
        munmap(mem, len);
        return;
    }
    give_up = now_ns() + (timeout_ms + REAP_MS) * 1000000LL;
    done = wait_done(j, t, &status, give_up, &reaped);
    outcome(j, done, status, out);
    if (done > 0 && holds && !reaped) { /* it holds them until *release: ptrace_let_go reaps it */
        held->tracer[held->n].pid = t;
        held->tracer[held->n].mem = mem;
        held->tracer[held->n].len = len;
        held->n++;
        return;
    }
    if (reaped)
        munmap(mem, len);
    else /* done: it is ending; overstayed: killed at once */
        reap(t, mem, len, done > 0 ? give_up : 0);
}

void ptrace_let_go(struct ptrace_held *held)
{
    long long give_up = now_ns() + (held->hold_ms + REAP_MS) * 1000000LL;
    size_t i;

    for (i = 0; i < held->n; i++)
        reap(held->tracer[i].pid, held->tracer[i].mem, held->tracer[i].len, give_up);
    held->n = 0;
}
