/*
 * waits.c - what each thread waits for, and the deadlocks (waits.h).
 *
 * A thread blocked in futex is told apart by the functions it is in (its
 * innermost frames: pthread_mutex_lock, pthread_cond_wait, sem_wait, ...)
 * or, without symbols, by the futex operation and the shape of the memory
 * it waits on. The memory is glibc's (x86_64, 2.25 and later,
 * sysdeps/nptl/bits/struct_mutex.h and struct_rwlock.h):
 *
 *   mutex   int __lock; unsigned __count; int __owner; unsigned __nusers;
 *           int __kind; ...           the futex is __lock, at its start
 *   rwlock  unsigned __readers, __writers, __wrphase_futex,
 *           __writers_futex, __pad3, __pad4; int __cur_writer, __shared;
 *           ...; unsigned __flags     the futex is __wrphase_futex or
 *                                     __writers_futex
 *   thread  pthread_join waits on the joined thread's tid, which the
 *           kernel clears when it ends
 *
 * A mutex's owner is __owner, or the low bits of __lock for robust and
 * priority-inheritance mutexes; a rwlock's writer is __cur_writer. An
 * owner that is not one of our threads is looked up in /proc (a
 * process-shared mutex, or a thread that died holding it).
 *
 * Blocking descriptor calls name the descriptor (a socket's addresses and
 * state, a pipe and who holds its other end, a path); poll, select and
 * epoll_wait name the descriptors they watch; sleeps their length; wait4
 * and waitid the child.
 *
 * The wait-for graph has one edge a thread at most (the thread it waits
 * for), so its cycles are found by following edges; a chain is a path
 * from a thread nobody waits for to one that waits for no thread.
 */
#include "waits.h"

#include "base/lowlevel.h"
#include "base/memread.h"
#include "base/netsock.h"
#include "base/procfs.h"
#include "model.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define TOP_FRAMES    12   /* how deep to look for the pthread function */
#define MAX_LISTED    8    /* descriptors named for poll, select, epoll */
#define MAX_PROCS     1024 /* processes searched for a pipe's other end */
#define MAX_HOLDERS   3
#define FUTEX_TID     0x3fffffffu
#define TIMER_ABSTIME 1

/* System call numbers, the kernel's (<sys/syscall.h>). A call some
   processors lack (aarch64 has no poll, select, pause, epoll_wait) gets a
   negative number of its own, which no thread is ever in. */
enum {
    SYS_READ = __NR_read,
    SYS_WRITE = __NR_write,
#ifdef __NR_poll
    SYS_POLL = __NR_poll,
#else
    SYS_POLL = -10,
#endif
    SYS_PREAD = __NR_pread64,
    SYS_PWRITE = __NR_pwrite64,
    SYS_READV = __NR_readv,
    SYS_WRITEV = __NR_writev,
#ifdef __NR_select
    SYS_SELECT = __NR_select,
#else
    SYS_SELECT = -11,
#endif
#ifdef __NR_pause
    SYS_PAUSE = __NR_pause,
#else
    SYS_PAUSE = -12,
#endif
    SYS_NANOSLEEP = __NR_nanosleep,
    SYS_CONNECT = __NR_connect,
    SYS_ACCEPT = __NR_accept,
    SYS_SENDTO = __NR_sendto,
    SYS_RECVFROM = __NR_recvfrom,
    SYS_SENDMSG = __NR_sendmsg,
    SYS_RECVMSG = __NR_recvmsg,
    SYS_WAIT4 = __NR_wait4,
    SYS_FCNTL = __NR_fcntl,
    SYS_FLOCK = __NR_flock,
    SYS_SIGTIMEDWAIT = __NR_rt_sigtimedwait,
    SYS_SIGSUSPEND = __NR_rt_sigsuspend,
    SYS_FUTEX = __NR_futex,
#ifdef __NR_epoll_wait
    SYS_EPOLL_WAIT = __NR_epoll_wait,
#else
    SYS_EPOLL_WAIT = -13,
#endif
    SYS_CLOCK_NANOSLEEP = __NR_clock_nanosleep,
    SYS_WAITID = __NR_waitid,
    SYS_PSELECT = __NR_pselect6,
    SYS_PPOLL = __NR_ppoll,
    SYS_EPOLL_PWAIT = __NR_epoll_pwait,
    SYS_ACCEPT4 = __NR_accept4,
    SYS_RECVMMSG = __NR_recvmmsg,
    SYS_SENDMMSG = __NR_sendmmsg,
#ifdef __NR_epoll_pwait2
    SYS_EPOLL_PWAIT2 = __NR_epoll_pwait2,
#else
    SYS_EPOLL_PWAIT2 = 441, /* Linux 5.11, the same number on every processor */
#endif
};

/* glibc's mutex kinds (pthreadP.h). */
#define KIND_TYPE    3
#define KIND_ROBUST  16
#define KIND_PI      32
#define KIND_PP      64
#define KIND_PSHARED 128
#define KIND_ELISION 256
#define KIND_NOELIDE 512
#define KIND_KNOWN                                                                                 \
    (KIND_TYPE | KIND_ROBUST | KIND_PI | KIND_PP | KIND_PSHARED | KIND_ELISION | KIND_NOELIDE)

#ifndef FUTEX_LOCK_PI2 /* linux/futex.h has the rest; this one since Linux 5.14 */
#define FUTEX_LOCK_PI2 13
#endif

struct sysc {
    long nr; /* -1: not in a system call; -2: running or unknown */
    unsigned long long a[6];
};

#define MAX_PIPE_ENDS 65536

/* A descriptor, in some process, that is a pipe. */
struct pipe_end {
    unsigned long inode;
    pid_t pid;
    int fd;
};

/* What one analysis needs, carried through it. */
struct ctx {
    struct report *r;
    struct sock_table socks;
    int socks_loaded;
    struct pipe_end *ends; /* every pipe descriptor /proc lets us see, read once */
    size_t nends;
    int ends_loaded;
};

static void put(struct wait *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct wait *w, const char *fmt, ...)
{
    size_t len = strlen(w->text);
    va_list ap;

    if (len + 1 >= sizeof(w->text))
        return;
    va_start(ap, fmt);
    /* NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): va_start is just above */
    vsnprintf(w->text + len, sizeof(w->text) - len, fmt, ap);
    va_end(ap);
}

static int parse_syscall(const char *text, struct sysc *s)
{
    unsigned long long sp, pc;

    s->nr = -2;
    if (!text[0] || !strncmp(text, "running", 7))
        return -1;
    if (sscanf(text, "%ld %llx %llx %llx %llx %llx %llx %llx %llx", &s->nr, &s->a[0], &s->a[1],
               &s->a[2], &s->a[3], &s->a[4], &s->a[5], &sp, &pc) == 9)
        return 0;
    if (sscanf(text, "%ld", &s->nr) == 1 && s->nr == -1)
        return 0;
    s->nr = -2;
    return -1;
}

static const struct thread_rec *thread_of(const struct report *r, pid_t tid)
{
    size_t i;

    for (i = 0; i < r->cap.n; i++)
        if (r->cap.threads[i].tid == tid)
            return &r->cap.threads[i];
    return NULL;
}

/* A process's name, "?" if it cannot be read. */
static void comm_of(long pid, char *out, size_t cap)
{
    char path[64];

    snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
    if (procfs_read(path, out, cap) <= 0)
        snprintf(out, cap, "?");
    out[strcspn(out, "\n")] = '\0';
}

/* "Thread #12 (worker)" */
static void name_thread(struct wait *w, const struct report *r, pid_t tid)
{
    const struct thread_rec *t = thread_of(r, tid);

    put(w, "Thread #%d (%s)", (int)tid, t ? t->name : "?");
}

/* ---- futexes ---- */

static const struct {
    const char *part;
    enum wait_kind kind;
} futex_users[] = {
    {"pthread_mutex_", WAIT_MUTEX},    {"__lll_lock_wait", WAIT_MUTEX},
    {"lll_robust", WAIT_MUTEX},        {"pthread_rwlock_", WAIT_RWLOCK},
    {"pthread_cond_", WAIT_COND},      {"__condvar", WAIT_COND},
    {"sem_wait", WAIT_SEMAPHORE},      {"sem_timedwait", WAIT_SEMAPHORE},
    {"sem_clockwait", WAIT_SEMAPHORE}, {"pthread_barrier_wait", WAIT_BARRIER},
    {"pthread_join", WAIT_JOIN},       {"pthread_timedjoin", WAIT_JOIN},
    {"pthread_clockjoin", WAIT_JOIN},
};

/* The pthread function the thread is in, from its innermost frames. */
static enum wait_kind futex_user(struct report *r, const struct thread_rec *t)
{
    const struct unwound *u = report_unwound(r, t);
    size_t i, j, k;

    if (!u || u->no_unwinder || !r->sym)
        return WAIT_NONE;
    for (i = 0; i < u->res.n && i < TOP_FRAMES; i++) {
        const struct sym_result *s = symbolize(r->sym, u->frames[i].pc, u->frames[i].exact);

        for (j = 0; s && j < s->n; j++)
            for (k = 0; s->frames[j].function && k < sizeof(futex_users) / sizeof(futex_users[0]);
                 k++)
                if (strstr(s->frames[j].function, futex_users[k].part))
                    return futex_users[k].kind;
    }
    return WAIT_NONE;
}

struct gl_mutex {
    int lock;
    unsigned count;
    int owner;
    unsigned nusers;
    int kind;
};

struct gl_rwlock {
    unsigned readers, writers, wrphase_futex, writers_futex, pad3, pad4;
    int cur_writer, shared;
    unsigned char elision, pad1[7];
    unsigned long pad2;
    unsigned flags;
};

/* Whose is `tid`: one of ours (the holder), another process's, or gone. */
static void name_owner(struct wait *w, const struct report *r, pid_t tid)
{
    char path[64], text[2048];
    const char *tgid, *name;
    size_t len, nlen;

    if (thread_of(r, tid)) {
        w->holder = tid;
        name_thread(w, r, tid);
        return;
    }
    snprintf(path, sizeof(path), "/proc/%d/status", (int)tid);
    if (procfs_read(path, text, sizeof(text)) < 0) {
        put(w, "thread %d, which no longer exists", (int)tid);
        return;
    }
    tgid = procfs_field(text, "Tgid:", &len);
    name = procfs_field(text, "Name:", &nlen);
    put(w, "thread %d of process %.*s (%.*s), not this one", (int)tid, tgid ? (int)len : 1,
        tgid ? tgid : "?", name ? (int)nlen : 1, name ? name : "?");
}

/* glibc keeps a robust or PI mutex's owner in __lock, others' in __owner. */
static pid_t mutex_owner(const struct gl_mutex *m)
{
    return m->kind & (KIND_ROBUST | KIND_PI) ? (pid_t)((unsigned)m->lock & FUTEX_TID) : m->owner;
}

static int mutex_shape(const struct gl_mutex *m)
{
    return !(m->kind & ~KIND_KNOWN) && m->lock != 0;
}

/* "recursive, robust" */
static void mutex_kind(int kind, char *out, size_t cap)
{
    static const char *const types[] = {NULL, "recursive", "error-checking", "adaptive"};
    const char *attrs[5];
    size_t n = 0, i, len = 0;

    attrs[n] = types[kind & KIND_TYPE];
    n += attrs[n] != NULL;
    if (kind & KIND_ROBUST)
        attrs[n++] = "robust";
    if (kind & KIND_PI)
        attrs[n++] = "priority-inheritance";
    if ((kind & KIND_PSHARED) && !(kind & KIND_ROBUST)) /* glibc marks every robust one so */
        attrs[n++] = "process-shared";
    out[0] = '\0';
    for (i = 0; i < n && len < cap; i++)
        len += (size_t)snprintf(out + len, cap - len, "%s%s", i ? ", " : "", attrs[i]);
}

static void mutex_wait(struct ctx *c, struct wait *w, unsigned long addr, int pi)
{
    struct gl_mutex m;
    char kind[96];
    pid_t owner;

    w->kind = WAIT_MUTEX;
    put(w, "waits for mutex 0x%lx", addr);
    if (memreader_read(c->r->mr, addr, &m, sizeof(m)) < 0) {
        put(w, " (unreadable), owner unknown");
        return;
    }
    if (m.kind & ~KIND_KNOWN) {
        put(w, " (its kind, %d, is not one glibc makes), owner unknown", m.kind);
        return;
    }
    if (pi)
        m.kind |= KIND_PI;
    mutex_kind(m.kind, kind, sizeof(kind));
    if (kind[0])
        put(w, " (%s)", kind);
    owner = mutex_owner(&m);
    if (owner <= 0) {
        put(w, ", owner unknown%s",
            m.kind & KIND_ELISION ? " (an elided lock records none)" : " (released just now?)");
        return;
    }
    put(w, " held by ");
    name_owner(w, c->r, owner);
}

static int rwlock_at(struct memreader *mr, unsigned long base, struct gl_rwlock *l)
{
    return memreader_read(mr, base, l, sizeof(*l)) == 0 && !l->pad3 && !l->pad4 &&
           (l->shared == 0 || l->shared == 1) && l->flags <= 2;
}

static void rwlock_wait(struct ctx *c, struct wait *w, unsigned long addr)
{
    struct gl_rwlock l;
    unsigned long base = addr - 8;

    w->kind = WAIT_RWLOCK;
    if (!rwlock_at(c->r->mr, base, &l) && !rwlock_at(c->r->mr, base = addr - 12, &l)) {
        put(w, "waits for a rwlock (futex 0x%lx), holder unknown", addr);
        return;
    }
    put(w, "waits for rwlock 0x%lx", base);
    if (l.cur_writer > 0) {
        put(w, " held for writing by ");
        name_owner(w, c->r, l.cur_writer);
    } else if (l.readers >> 3) {
        put(w, " held by %u reader%s", l.readers >> 3, (l.readers >> 3) == 1 ? "" : "s");
    }
}

static void join_wait(struct ctx *c, struct wait *w, unsigned long addr)
{
    int tid = 0;

    w->kind = WAIT_JOIN;
    if (memreader_read(c->r->mr, addr, &tid, sizeof(tid)) < 0 || tid <= 0) {
        put(w, "waits for a thread to end (pthread_join)");
        return;
    }
    put(w, "waits for ");
    name_owner(w, c->r, tid);
    put(w, " to end (pthread_join)");
}

static void futex_wait(struct ctx *c, struct wait *w, const struct thread_rec *t,
                       const struct sysc *s)
{
    unsigned long addr = (unsigned long)s->a[0];
    int op = (int)(s->a[1] & FUTEX_CMD_MASK);
    enum wait_kind kind = futex_user(c->r, t);
    struct gl_mutex m;
    unsigned long long sem = 0;

    w->addr = addr;
    if (op == FUTEX_LOCK_PI || op == FUTEX_LOCK_PI2)
        kind = WAIT_MUTEX;
    if (kind == WAIT_NONE && memreader_read(c->r->mr, addr, &m, sizeof(m)) == 0 &&
        mutex_shape(&m) && thread_of(c->r, mutex_owner(&m)))
        kind = WAIT_MUTEX; /* no symbols, but shaped as one, with an owner of ours */
    switch (kind) {
    case WAIT_MUTEX:
        mutex_wait(c, w, addr, op == FUTEX_LOCK_PI || op == FUTEX_LOCK_PI2);
        return;
    case WAIT_RWLOCK:
        rwlock_wait(c, w, addr);
        return;
    case WAIT_JOIN:
        join_wait(c, w, addr);
        return;
    case WAIT_COND:
        w->kind = WAIT_COND;
        put(w, "waits on a condition variable (futex 0x%lx)", addr);
        return;
    case WAIT_SEMAPHORE:
        w->kind = WAIT_SEMAPHORE;
        put(w, "waits on semaphore 0x%lx", addr);
        if (memreader_read(c->r->mr, addr, &sem, sizeof(sem)) == 0)
            put(w, " (value %u)", (unsigned)(sem & 0xffffffffu));
        return;
    case WAIT_BARRIER:
        w->kind = WAIT_BARRIER;
        put(w, "waits at a barrier (futex 0x%lx)", addr);
        return;
    default:
        w->kind = WAIT_FUTEX;
        put(w,
            "waits on futex 0x%lx (not a mutex, rwlock, condition variable, semaphore, "
            "barrier or join libgmr could tell)",
            addr);
    }
}

/* ---- descriptors ---- */

static const struct sock_info *socket_of(struct ctx *c, unsigned long inode)
{
    if (!c->socks_loaded) {
        c->socks_loaded = 1;
        netsock_load(&c->socks);
    }
    return netsock_find(&c->socks, inode);
}

static void add_end(struct ctx *c, size_t *cap, unsigned long inode, pid_t pid, int fd)
{
    struct pipe_end *grown;

    if (c->nends == *cap) {
        *cap = *cap ? *cap * 2 : 256;
        grown = realloc(c->ends, *cap * sizeof(*grown));
        if (!grown) {
            *cap = c->nends;
            return;
        }
        c->ends = grown;
    }
    c->ends[c->nends].inode = inode;
    c->ends[c->nends].pid = pid;
    c->ends[c->nends++].fd = fd;
}

/* One walk of /proc/PID/fd for every process we may look at (at most
   MAX_PROCS), keeping the pipes: any number of pipe waits cost one walk. */
static void load_pipe_ends(struct ctx *c)
{
    char path[300], link[64];
    DIR *procs = opendir("/proc");
    struct dirent *p;
    size_t cap = 0;
    int seen = 0;

    c->ends_loaded = 1;
    while (procs && (p = readdir(procs)) && seen < MAX_PROCS && c->nends < MAX_PIPE_ENDS) {
        DIR *fds;
        struct dirent *f;
        int pid = atoi(p->d_name);

        if (pid <= 0)
            continue;
        seen++;
        snprintf(path, sizeof(path), "/proc/%d/fd", pid);
        fds = opendir(path);
        while (fds && (f = readdir(fds)) && c->nends < MAX_PIPE_ENDS) {
            unsigned long inode;
            ssize_t n;

            if (f->d_name[0] == '.')
                continue;
            snprintf(path, sizeof(path), "/proc/%d/fd/%s", pid, f->d_name);
            n = readlink(path, link, sizeof(link) - 1);
            if (n <= 0)
                continue;
            link[n] = '\0';
            if (sscanf(link, "pipe:[%lu]", &inode) == 1)
                add_end(c, &cap, inode, pid, atoi(f->d_name));
        }
        if (fds)
            closedir(fds);
    }
    if (procs)
        closedir(procs);
}

/* "; its other end: process 12 (cat) fd 1": who else holds pipe `inode`. */
static void pipe_holders(struct ctx *c, struct wait *w, unsigned long inode, int fd)
{
    pid_t self = getpid();
    char comm[64];
    size_t i;
    int found = 0;

    if (!c->ends_loaded)
        load_pipe_ends(c);
    for (i = 0; i < c->nends && found < MAX_HOLDERS; i++) {
        const struct pipe_end *e = &c->ends[i];

        if (e->inode != inode || (e->pid == self && e->fd == fd))
            continue;
        comm_of(e->pid, comm, sizeof(comm));
        put(w, "%s%s %d (%s) fd %d",
            found++ ? ", " : "; its other end: ", e->pid == self ? "this process," : "process",
            (int)e->pid, comm, e->fd);
    }
    if (!found)
        put(w, "; no other holder of it found (in the processes libgmr may look at)");
}

/* "fd 3 (tcp 127.0.0.1:80 -> 127.0.0.1:5000 ESTABLISHED)" */
static void name_fd(struct ctx *c, struct wait *w, int fd, int holders)
{
    char path[64], target[300];
    const struct sock_info *s;
    unsigned long inode;
    ssize_t n;

    if (fd < 0) {
        put(w, "fd %d (not a descriptor: the thread has moved on?)", fd);
        return;
    }
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    n = readlink(path, target, sizeof(target) - 1);
    if (n < 0) {
        put(w, "fd %d (closed?)", fd);
        return;
    }
    target[n] = '\0';
    if (sscanf(target, "socket:[%lu]", &inode) == 1 && (s = socket_of(c, inode))) {
        put(w, "fd %d (%s %s%s%s %s)", fd, s->proto, s->local, s->remote[0] ? " -> " : "",
            s->remote, s->state);
        return;
    }
    put(w, "fd %d (%s)", fd, target);
    if (holders && sscanf(target, "pipe:[%lu]", &inode) == 1)
        pipe_holders(c, w, inode, fd);
}

static const char *fd_verb(long nr)
{
    switch (nr) {
    case SYS_READ:
    case SYS_READV:
    case SYS_PREAD:
    case SYS_RECVFROM:
    case SYS_RECVMSG:
    case SYS_RECVMMSG:
        return "reads from";
    case SYS_WRITE:
    case SYS_WRITEV:
    case SYS_PWRITE:
    case SYS_SENDTO:
    case SYS_SENDMSG:
    case SYS_SENDMMSG:
        return "writes to";
    case SYS_ACCEPT:
    case SYS_ACCEPT4:
        return "accepts on";
    case SYS_CONNECT:
        return "connects with";
    case SYS_FLOCK:
        return "waits to lock";
    default:
        return NULL;
    }
}

static void fd_wait(struct ctx *c, struct wait *w, const struct sysc *s, const char *verb)
{
    w->kind = WAIT_FD;
    w->fd = (int)s->a[0];
    put(w, "%s ", verb);
    name_fd(c, w, w->fd, 1);
}

static void poll_wait(struct ctx *c, struct wait *w, const struct sysc *s)
{
    struct {
        int fd;
        short events, revents;
    } p[MAX_LISTED];
    unsigned long n = (unsigned long)s->a[1], i;

    w->kind = WAIT_POLL;
    put(w, "polls %lu descriptor%s", n, n == 1 ? "" : "s");
    if (n > MAX_LISTED)
        n = MAX_LISTED;
    if (!n || memreader_read(c->r->mr, (uintptr_t)s->a[0], p, n * sizeof(p[0])) < 0)
        return;
    put(w, ": ");
    for (i = 0; i < n; i++) {
        put(w, "%s", i ? ", " : "");
        name_fd(c, w, p[i].fd, 0);
    }
    if ((unsigned long)s->a[1] > n)
        put(w, ", ...");
}

static void select_wait(struct ctx *c, struct wait *w, const struct sysc *s)
{
    unsigned char bits[128];
    int nfds = (int)s->a[0], listed = 0, fd;
    unsigned set;

    w->kind = WAIT_POLL;
    put(w, "selects on descriptors below %d", nfds);
    if (nfds <= 0)
        return;
    if (nfds > (int)sizeof(bits) * 8)
        nfds = (int)sizeof(bits) * 8;
    for (set = 1; set <= 2; set++) { /* readfds, writefds */
        if (!s->a[set] ||
            memreader_read(c->r->mr, (uintptr_t)s->a[set], bits, ((size_t)nfds + 7) / 8) < 0)
            continue;
        for (fd = 0; fd < nfds && listed < MAX_LISTED; fd++)
            if (bits[fd / 8] >> (fd % 8) & 1) {
                put(w, "%s", listed++ ? ", " : ": ");
                name_fd(c, w, fd, 0);
            }
    }
}

static void epoll_wait_(struct ctx *c, struct wait *w, const struct sysc *s)
{
    char path[64], text[4096];
    const char *at;
    int listed = 0, more = 0;

    w->kind = WAIT_POLL;
    w->fd = (int)s->a[0];
    put(w, "waits in epoll instance fd %d", w->fd);
    snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", w->fd);
    if (procfs_read(path, text, sizeof(text)) < 0)
        return;
    for (at = strstr(text, "tfd:"); at; at = strstr(at + 4, "tfd:")) {
        int fd = atoi(at + 4);

        if (listed == MAX_LISTED) {
            more = 1;
            break;
        }
        put(w, "%s", listed++ ? ", " : ", watching ");
        name_fd(c, w, fd, 0);
    }
    if (!listed)
        put(w, ", which watches no descriptor");
    if (more)
        put(w, ", ...");
}

/* ---- the rest ---- */

static void sleep_wait(struct ctx *c, struct wait *w, const struct sysc *s)
{
    struct {
        long sec, nsec;
    } ts;
    int absolute = s->nr == SYS_CLOCK_NANOSLEEP && (s->a[1] & TIMER_ABSTIME);
    uintptr_t at = (uintptr_t)(s->nr == SYS_NANOSLEEP ? s->a[0] : s->a[2]);

    w->kind = WAIT_SLEEP;
    if (memreader_read(c->r->mr, at, &ts, sizeof(ts)) < 0 || ts.sec < 0 || ts.nsec < 0 ||
        ts.nsec >= 1000000000L) {
        put(w, "sleeps (%s)", s->nr == SYS_NANOSLEEP ? "nanosleep" : "clock_nanosleep");
        return;
    }
    put(w, "sleeps %s %ld.%03ld s (%s)", absolute ? "until" : "for", ts.sec, ts.nsec / 1000000,
        s->nr == SYS_NANOSLEEP ? "nanosleep" : "clock_nanosleep");
}

static void child_wait(struct wait *w, const struct sysc *s)
{
    long pid = s->nr == SYS_WAIT4 ? (long)(int)s->a[0] : (s->a[0] == 1 ? (long)(int)s->a[1] : -1);
    char comm[64];

    w->kind = WAIT_CHILD;
    if (pid <= 0) {
        put(w, "waits for any child to change state (%s)", s->nr == SYS_WAIT4 ? "wait4" : "waitid");
        return;
    }
    comm_of(pid, comm, sizeof(comm));
    put(w, "waits for child %ld (%s) (%s)", pid, comm, s->nr == SYS_WAIT4 ? "wait4" : "waitid");
}

static void classify(struct ctx *c, const struct thread_rec *t, struct wait *w)
{
    struct sysc s;
    const char *verb;

    w->tid = t->tid;
    w->fd = -1;
    w->nr = -1;
    if (parse_syscall(t->syscall, &s) < 0 || s.nr < 0)
        return;
    w->nr = s.nr;
    w->arg0 = s.a[0];
    verb = fd_verb(s.nr);
    if (verb) {
        fd_wait(c, w, &s, verb);
        return;
    }
    switch (s.nr) {
    case SYS_FUTEX:
        futex_wait(c, w, t, &s);
        break;
    case SYS_FCNTL:
        if (s.a[1] == 7 || s.a[1] == 38) /* F_SETLKW, F_OFD_SETLKW */
            fd_wait(c, w, &s, "waits for a record lock on");
        break;
    case SYS_POLL:
    case SYS_PPOLL:
        poll_wait(c, w, &s);
        break;
    case SYS_SELECT:
    case SYS_PSELECT:
        select_wait(c, w, &s);
        break;
    case SYS_EPOLL_WAIT:
    case SYS_EPOLL_PWAIT:
    case SYS_EPOLL_PWAIT2:
        epoll_wait_(c, w, &s);
        break;
    case SYS_NANOSLEEP:
    case SYS_CLOCK_NANOSLEEP:
        sleep_wait(c, w, &s);
        break;
    case SYS_WAIT4:
    case SYS_WAITID:
        child_wait(w, &s);
        break;
    case SYS_PAUSE:
    case SYS_SIGSUSPEND:
    case SYS_SIGTIMEDWAIT:
        w->kind = WAIT_SIGNAL;
        put(w, "waits for a signal (%s)",
            s.nr == SYS_PAUSE        ? "pause"
            : s.nr == SYS_SIGSUSPEND ? "sigsuspend"
                                     : "sigtimedwait");
        break;
    default:
        break;
    }
}

/* ---- the wait-for graph ---- */

#define SYS_RESTART __NR_restart_syscall /* a timed wait, resumed after our signal */

/* Is the thread still in the call it was in before the capture? The
   holders were read after it, from live memory: a lock released and taken
   meanwhile (by the waiter itself, even) must not make a deadlock. */
static int still_waiting(const struct wait *w)
{
    char path[64], text[160];
    struct sysc s;

    snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", (int)w->tid);
    if (procfs_read(path, text, sizeof(text)) < 0 || parse_syscall(text, &s) < 0)
        return 0;
    return s.nr == SYS_RESTART || (s.nr == w->nr && s.a[0] == w->arg0);
}

/* Drops the edges of threads that have moved on, saying so. */
static void confirm_edges(struct waits *w)
{
    size_t i;

    for (i = 0; i < w->n; i++)
        if (w->v[i].holder && !still_waiting(&w->v[i])) {
            w->v[i].holder = 0;
            put(&w->v[i], " (it has moved on since: not counted in deadlocks)");
        }
}

static long index_of(const struct waits *w, pid_t tid)
{
    size_t i;

    for (i = 0; i < w->n; i++)
        if (w->v[i].tid == tid)
            return (long)i;
    return -1;
}

static long next_of(const struct waits *w, size_t i)
{
    return w->v[i].holder ? index_of(w, w->v[i].holder) : -1;
}

/* Appends a run of tids to a list of runs. */
static int add_run(pid_t **tids, size_t **at, size_t **len, size_t *nruns, size_t *used,
                   const pid_t *run, size_t n)
{
    pid_t *t;
    size_t *a, *l;

    if (!n)
        return 0;
    t = realloc(*tids, (*used + n) * sizeof(**tids));
    if (!t)
        return -1;
    *tids = t;
    a = realloc(*at, (*nruns + 1) * sizeof(**at));
    if (!a)
        return -1;
    *at = a;
    l = realloc(*len, (*nruns + 1) * sizeof(**len));
    if (!l)
        return -1;
    *len = l;
    memcpy(*tids + *used, run, n * sizeof(*run));
    (*at)[*nruns] = *used;
    (*len)[(*nruns)++] = n;
    *used += n;
    return 0;
}

static void find_cycles(struct waits *w, pid_t *run, size_t *path, unsigned char *state)
{
    size_t i, used = 0;

    for (i = 0; i < w->n; i++) {
        size_t n = 0, k, j;
        long at = (long)i;

        while (at >= 0 && !state[at]) { /* follow until a thread seen before */
            state[at] = 1;
            path[n++] = (size_t)at;
            at = next_of(w, (size_t)at);
        }
        if (at >= 0 && state[at] == 1) { /* back on this walk: a cycle from `at` */
            for (k = 0; k < n && path[k] != (size_t)at; k++)
                ;
            for (j = k; j < n; j++) {
                w->v[path[j]].in_cycle = 1;
                run[j - k] = w->v[path[j]].tid;
            }
            add_run(&w->cycle, &w->cycle_at, &w->cycle_len, &w->ncycles, &used, run, n - k);
        }
        for (k = 0; k < n; k++)
            state[path[k]] = 2;
    }
}

static void find_chains(struct waits *w, pid_t *run, unsigned char *waited_on)
{
    size_t i, used = 0;

    for (i = 0; i < w->n; i++) {
        long at = next_of(w, i);

        if (at >= 0)
            waited_on[at] = 1;
    }
    for (i = 0; i < w->n; i++) {
        size_t n = 0;
        long at = (long)i;

        if (waited_on[i] || w->v[i].in_cycle || next_of(w, i) < 0)
            continue;
        while (at >= 0 && n < w->n && !w->v[at].in_cycle) {
            run[n++] = w->v[at].tid;
            at = next_of(w, (size_t)at);
        }
        if (at >= 0 && n < w->n)
            run[n++] = w->v[at].tid; /* it ends in a deadlock */
        add_run(&w->chain, &w->chain_at, &w->chain_len, &w->nchains, &used, run, n);
    }
}

void waits_graph(struct waits *w)
{
    pid_t *run = calloc(w->n + 1, sizeof(*run));
    size_t *path = calloc(w->n + 1, sizeof(*path));
    unsigned char *marks = calloc(w->n + 1, 1);

    if (run && path && marks) {
        find_cycles(w, run, path, marks);
        memset(marks, 0, w->n + 1);
        find_chains(w, run, marks);
    }
    free(run);
    free(path);
    free(marks);
}

void waits_read(struct report *r, struct waits *out)
{
    long long start = ll_now_us();
    struct ctx c;
    size_t i;

    memset(out, 0, sizeof(*out));
    memset(&c, 0, sizeof(c));
    c.r = r;
    if (!r->mr || !r->cap.n)
        return;
    out->v = calloc(r->cap.n, sizeof(*out->v));
    if (!out->v)
        return;
    out->n = r->cap.n;
    for (i = 0; i < r->cap.n; i++)
        classify(&c, &r->cap.threads[i], &out->v[i]);
    confirm_edges(out);
    waits_graph(out);
    if (c.socks_loaded)
        netsock_free(&c.socks);
    free(c.ends);
    out->read_us = ll_now_us() - start;
}

void waits_free(struct waits *w)
{
    free(w->v);
    free(w->cycle);
    free(w->cycle_at);
    free(w->cycle_len);
    free(w->chain);
    free(w->chain_at);
    free(w->chain_len);
    memset(w, 0, sizeof(*w));
}

const struct wait *waits_of(const struct waits *w, pid_t tid)
{
    long i = index_of(w, tid);

    return i >= 0 ? &w->v[i] : NULL;
}

size_t waits_cycle_of(const struct waits *w, pid_t tid, const pid_t **run)
{
    size_t k, i;

    for (k = 0; k < w->ncycles; k++)
        for (i = 0; i < w->cycle_len[k]; i++)
            if (w->cycle[w->cycle_at[k] + i] == tid) {
                *run = w->cycle + w->cycle_at[k];
                return w->cycle_len[k];
            }
    return 0;
}

/* What a thread that waits for no thread is doing, for a chain's end. */
static void end_of_chain(const struct report *r, const struct wait *w, char *out, size_t cap)
{
    const struct thread_rec *t = thread_of(r, w->tid);
    struct sysc s;

    if (w->text[0])
        snprintf(out, cap, "%s", w->text);
    else if (!t || parse_syscall(t->syscall, &s) < 0)
        snprintf(out, cap, "is running");
    else if (s.nr < 0)
        snprintf(out, cap, "is not in a system call");
    else
        snprintf(out, cap, "is in system call %ld", s.nr);
}

void waits_sentence(const struct report *r, const struct waits *w, const pid_t *run, size_t n,
                    int cycle, char *out, size_t cap)
{
    const struct thread_rec *t = n ? thread_of(r, run[0]) : NULL;
    size_t i, len;
    char end[sizeof(w->v[0].text)];

    len = (size_t)snprintf(out, cap, "Thread #%d (%s) ", n ? (int)run[0] : 0, t ? t->name : "?");
    for (i = 0; i < n && len < cap; i++) {
        const struct wait *v = waits_of(w, run[i]);
        int last = i + 1 == n;

        if (!v)
            break;
        if (last && !cycle)
            end_of_chain(r, v, end, sizeof(end));
        len += (size_t)snprintf(out + len, cap - len, "%s%s", i ? ", which " : "",
                                last && !cycle ? end : v->text);
    }
}

const char *wait_kind_name(enum wait_kind kind)
{
    static const char *const names[] = {
        "none",      "mutex",   "rwlock", "condition_variable",
        "semaphore", "barrier", "join",   "futex",
        "fd",        "poll",    "sleep",  "child",
        "signal",
    };

    return (size_t)kind < sizeof(names) / sizeof(names[0]) ? names[kind] : "none";
}
