/*
 * control.c - the control channel (control.h): the watcher's end.
 *
 * The socket is made by the watcher after it has its own descriptor table
 * (fdtable.c), so a host that closes every descriptor, or dup2()s over
 * ours, cannot touch it; where that table is shared after all, a socket
 * closed under us is noticed (its inode) and made again. Its name is
 * abstract, so a crash leaves nothing behind and a restarted process never
 * meets a stale file; it dies with its network namespace's view of us.
 *
 * Everything here runs on the watcher and must never hold it for long:
 * the listening socket does not block, a client has REQUEST_MS to send its
 * line, and ANSWER_MS to read the report (MSG_NOSIGNAL: a client that has
 * gone away must not raise SIGPIPE in the host).
 */
#include "control.h"

#include "base/log.h"
#include "base/lowlevel.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define BACKLOG         8
#define REQUEST_MS      500
#define ANSWER_MS       5000
#define ACCEPT_PAUSE_MS 1000

/* Is fd still the socket of that inode (a host may close it and reuse
   the number, where the watcher shares the host's table)? */
static int same_socket(int fd, ino_t ino)
{
    struct stat st;

    return fd >= 0 && fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_ino == ino;
}

static int still_ours(const struct control *c)
{
    return same_socket(c->fd, c->ino);
}

void control_listen(struct control *c)
{
    struct sockaddr_un sa;
    socklen_t len = control_address(&sa, getpid());
    struct stat st;
    int fd;

    if (still_ours(c) || c->said)
        return;
    c->fd = -1;
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        goto fail;
    if (bind(fd, (struct sockaddr *)&sa, len) < 0 || listen(fd, BACKLOG) < 0 ||
        fstat(fd, &st) < 0) {
        int err = errno;
        close(fd);
        errno = err;
        goto fail;
    }
    c->fd = fd;
    c->ino = st.st_ino;
    return;
fail:
    c->said = 1;
    log_msg("no control channel (@%s): %s; gmr-report cannot ask this process", sa.sun_path + 1,
            errno == EADDRINUSE ? "the name is taken (a process of another pid namespace?)"
                                : strerror(errno));
}

int control_fd(const struct control *c)
{
    if (c->resume_at_ms && ll_now_ms() < c->resume_at_ms)
        return -1;
    return c->fd;
}

/* Waits until fd is ready for `events`, up to the deadline; 0 if it is. */
static int wait_ready(int fd, short events, long long deadline_ms)
{
    struct pollfd pfd = {fd, events, 0};
    long long left;
    int n;

    do {
        left = deadline_ms - ll_now_ms();
        if (left <= 0)
            return -1;
        n = poll(&pfd, 1, (int)left);
    } while (n < 0 && errno == EINTR);
    return n == 1 && !(pfd.revents & POLLNVAL) ? 0 : -1;
}

/* The request line, up to its newline; -1 if none came in time. */
static int read_line(int fd, char *line, size_t cap)
{
    long long deadline = ll_now_ms() + REQUEST_MS;
    size_t len = 0;

    while (len + 1 < cap) {
        ssize_t n;

        if (wait_ready(fd, POLLIN, deadline) < 0)
            return -1;
        n = recv(fd, line + len, cap - 1 - len, MSG_DONTWAIT);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0)
            return -1;
        len += (size_t)n;
        line[len] = '\0';
        if (memchr(line, '\n', len)) {
            *strchr(line, '\n') = '\0';
            return 0;
        }
    }
    return -1;
}

static int parse(const char *line, struct control_request *req)
{
    if (!strcmp(line, "report text") || !strcmp(line, "report"))
        req->json = 0;
    else if (!strcmp(line, "report json"))
        req->json = 1;
    else if (!strcmp(line, "report timeout"))
        req->to_sink = 1;
    else
        return -1;
    return 0;
}

/*
 * Root; or a user who could trace this process, by the kernel's rule for
 * ptrace and /proc/PID/maps: the process is dumpable and that user is its
 * real, effective and saved uid. A worker that dropped from root to nobody
 * is not dumpable, and nobody may not read its stacks and mappings.
 */
static int allowed(uid_t uid)
{
    uid_t r, e, s;

    if (uid == 0)
        return 1;
    if (prctl(PR_GET_DUMPABLE) != 1 || getresuid(&r, &e, &s) < 0)
        return 0;
    return uid == r && uid == e && uid == s;
}

int control_take(struct control *c, struct control_request *req)
{
    struct stat st;
    struct ucred cred;
    socklen_t clen = sizeof(cred);
    char line[64];

    memset(req, 0, sizeof(*req));
    req->fd = -1;
    if (c->fd < 0)
        return 0;
    if (control_fd(c) < 0)
        return 0;
    req->fd = accept4(c->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (req->fd < 0) {
        /* Out of descriptors, say: the connection stays pending and the
           socket readable; look again in a second, not at once. */
        c->resume_at_ms = errno == EAGAIN || errno == EINTR ? 0 : ll_now_ms() + ACCEPT_PAUSE_MS;
        return 0;
    }
    c->resume_at_ms = 0;
    if (fstat(req->fd, &st) == 0)
        req->ino = st.st_ino;
    if (getsockopt(req->fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0) {
        control_answer(req, NULL, "cannot tell who is asking");
        return 0;
    }
    req->pid = cred.pid;
    req->uid = cred.uid;
    if (!allowed(cred.uid)) {
        control_answer(req, NULL,
                       "not allowed: only root, and the process's own user when it could trace "
                       "the process, may ask");
        return 0;
    }
    if (read_line(req->fd, line, sizeof(line)) < 0 || parse(line, req) < 0) {
        control_answer(req, NULL,
                       "no request understood (expected \"report text\", \"report "
                       "json\" or \"report timeout\")");
        return 0;
    }
    return 1;
}

static int send_all(int fd, const char *data, size_t len, long long deadline_ms)
{
    while (len) {
        ssize_t n;

        if (wait_ready(fd, POLLOUT, deadline_ms) < 0)
            return -1;
        n = send(fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0)
            return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

void control_answer(struct control_request *req, const struct buf *report, const char *error)
{
    long long deadline = ll_now_ms() + ANSWER_MS;
    char line[256];

    if (req->fd < 0)
        return;
    if (!same_socket(req->fd, req->ino)) {
        req->fd = -1; /* closed under us, and the number reused: not ours */
        return;
    }
    if (report && !error) {
        snprintf(line, sizeof(line), "ok %zu\n", report->len);
        if (send_all(req->fd, line, strlen(line), deadline) == 0)
            send_all(req->fd, report->data, report->len, deadline);
    } else {
        snprintf(line, sizeof(line), "error: %s\n", error ? error : "no report");
        send_all(req->fd, line, strlen(line), deadline);
    }
    close(req->fd);
    req->fd = -1;
}

void control_answer_written(struct control_request *req, const char *written, const char *error)
{
    char line[4200];

    if (req->fd < 0)
        return;
    if (!same_socket(req->fd, req->ino)) {
        req->fd = -1;
        return;
    }
    if (error)
        snprintf(line, sizeof(line), "error: %s\n", error);
    else
        snprintf(line, sizeof(line), "ok %s\n", written);
    send_all(req->fd, line, strlen(line), ll_now_ms() + ANSWER_MS);
    close(req->fd);
    req->fd = -1;
}

void control_after_fork(struct control *c, struct control_request *asked)
{
    /* With a shared table the child has copies of the parent's sockets:
       close them. With the watcher's own table, those numbers are the
       host's, other sockets: left alone. */
    if (still_ours(c))
        close(c->fd);
    if (same_socket(asked->fd, asked->ino))
        close(asked->fd);
    asked->fd = -1;
    c->fd = -1;
    c->said = 0;
    c->resume_at_ms = 0;
}
