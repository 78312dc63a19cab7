/*
 * channel.c - the tools' end of the control channel (channel.h).
 *
 * The process asked must be the one that answers: the peer's pid, from
 * SO_PEERCRED, is checked against the pid asked for, so no other process
 * that took the name @gmr-<pid> is believed. A process that has libgmr
 * mapped but no channel yet, or that is too young to have one, is waited
 * for a moment: its watcher opens the channel soon after it starts.
 */
#include "channel.h"

#include "trigger/control.h"
#include "proctree.h"

#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define START_MS 2000
#define YOUNG_MS 1000

long long channel_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * May the process still open its channel? libgmr opens it some 50 ms
 * after the process starts (watcher.c): wait if the process has libgmr
 * mapped, or, where we may not read its maps (another user's process),
 * while it is younger than YOUNG_MS.
 */
static int still_starting(pid_t pid)
{
    long long age;

    if (proc_maps_libgmr(pid))
        return 1;
    age = proc_age_ms(pid);
    return age >= 0 && age < YOUNG_MS;
}

/*
 * connect() without blocking: again for up to START_MS while a process with
 * libgmr has no channel yet (it was just started), and until the deadline
 * while its queue is full (EAGAIN: a stopped process, clients that gave
 * up, a squatter), where a blocking connect() would wait for ever.
 */
static int connect_soon(int fd, pid_t pid, long long deadline)
{
    long long started = channel_now_ms();
    struct timespec pause = {0, 10 * 1000000};
    struct sockaddr_un sa;
    socklen_t len = control_address(&sa, pid);

    while (connect(fd, (const struct sockaddr *)&sa, len) < 0) {
        int err = errno;
        long long now = channel_now_ms();
        int starting = err == ECONNREFUSED && now < started + START_MS && still_starting(pid);

        if (!(starting || err == EAGAIN || err == EINTR) || now >= deadline) {
            errno = err;
            return -1;
        }
        nanosleep(&pause, NULL);
    }
    return 0;
}

static enum channel_result connect_to(pid_t pid, long long deadline, int *fd, char *why, size_t len)
{
    struct ucred cred = {0, 0, 0};
    socklen_t clen = sizeof(cred);

    *fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (*fd < 0) {
        snprintf(why, len, "cannot make a socket: %s", strerror(errno));
        return CHANNEL_REFUSED;
    }
    if (connect_soon(*fd, pid, deadline) < 0) {
        int err = errno;

        close(*fd);
        if (err == EAGAIN) {
            snprintf(why, len,
                     "process %d's control channel is busy (its queue is full; is it "
                     "stopped?): no answer in time",
                     (int)pid);
            return CHANNEL_TIMED_OUT;
        }
        if (!proc_exists(pid)) {
            snprintf(why, len, "no process %d", (int)pid);
            return CHANNEL_REFUSED;
        }
        if (err == ECONNREFUSED && proc_maps_libgmr(pid)) {
            snprintf(why, len,
                     "process %d runs libgmr, but its control channel does not answer (its stderr "
                     "may say why, on a line that starts with gmr:)",
                     (int)pid);
            return CHANNEL_REFUSED;
        }
        if (err == ECONNREFUSED || err == ENOENT) {
            snprintf(why, len,
                     "process %d does not run libgmr (no control channel @" CONTROL_NAME_PREFIX
                     "%d; or it "
                     "runs in another network namespace: ask from there)",
                     (int)pid, (int)pid);
            return CHANNEL_NONE;
        }
        snprintf(why, len, "cannot reach process %d: %s", (int)pid, strerror(err));
        return CHANNEL_REFUSED;
    }
    if (getsockopt(*fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0 || cred.pid != pid) {
        snprintf(why, len,
                 "@" CONTROL_NAME_PREFIX
                 "%d is not served by process %d (but by %d): not asking it",
                 (int)pid, (int)pid, (int)cred.pid);
        close(*fd);
        return CHANNEL_REFUSED;
    }
    return CHANNEL_OK;
}

/* Reads to EOF (or a reset after what was sent: a refusal closes before
   our request was read) within the deadline. */
static int read_all(int fd, char **buf, size_t *len, long long deadline)
{
    size_t cap = 65536;

    *len = 0;
    *buf = malloc(cap + 1);
    if (!*buf)
        return -1;
    for (;;) {
        struct pollfd pfd = {fd, POLLIN, 0};
        long long left = deadline - channel_now_ms();
        ssize_t n;

        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
            return -1;
        if (*len == cap) {
            char *grown = realloc(*buf, cap * 2 + 1);
            if (!grown)
                return -1;
            *buf = grown;
            cap *= 2;
        }
        n = read(fd, *buf + *len, cap - *len);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n == 0 || (n < 0 && errno == ECONNRESET)) {
            (*buf)[*len] = '\0';
            return 0;
        }
        if (n < 0)
            return -1;
        *len += (size_t)n;
    }
}

enum channel_result channel_ask(pid_t pid, const char *request, int timeout_ms, char **answer,
                                size_t *len, char *why, size_t why_len)
{
    long long deadline = channel_now_ms() + timeout_ms;
    enum channel_result r;
    char line[64];
    int fd;

    *answer = NULL;
    *len = 0;
    r = connect_to(pid, deadline, &fd, why, why_len);
    if (r != CHANNEL_OK)
        return r;
    snprintf(line, sizeof(line), "%s\n", request);
    if (send(fd, line, strlen(line), MSG_NOSIGNAL) < 0 && errno != EPIPE && errno != ECONNRESET) {
        snprintf(why, why_len, "cannot ask process %d: %s", (int)pid, strerror(errno));
        r = CHANNEL_REFUSED;
    } else if (read_all(fd, answer, len, deadline) < 0) {
        free(*answer);
        *answer = NULL;
        snprintf(why, why_len, "no report from process %d within %g s", (int)pid,
                 timeout_ms / 1000.0);
        r = CHANNEL_TIMED_OUT;
    }
    close(fd);
    return r;
}
