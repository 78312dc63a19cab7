/*
 * control.h - the control channel: gmr-report asks this process for a
 * report over a local socket, and gets it back on the same connection.
 *
 * The endpoint is the abstract unix socket "@gmr-<pid>" (nothing on disk;
 * it goes with the process), listened on by the watcher in its own
 * descriptor table. A client connects, sends one line, and reads to end of
 * file:
 *   "report text", "report json"  "ok <length>\n" and the report, so
 *                                 that a cut-off one shows (gmr-report);
 *   "report timeout"              the report of a run's deadline, written
 *                                 where the process writes its reports,
 *                                 then "ok <where>\n" (a path, "stderr"
 *                                 or "the journal")
 *                                 (gmr-run --timeout);
 * or, to anything else, one line "error: <why>\n". Root is served, and
 * another user (SO_PEERCRED) only if the process could be traced by it:
 * dumpable, and that user its real, effective and saved uid (the kernel's
 * own rule for ptrace and /proc). See gmr-report(1).
 */
#ifndef GMR_CONTROL_H
#define GMR_CONTROL_H

#include "base/buf.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#define CONTROL_NAME_PREFIX "gmr-"

/* The address of pid's channel, @gmr-<pid>; returns its length (the
   leading NUL of an abstract name included). The tools use it too. */
static inline socklen_t control_address(struct sockaddr_un *sa, pid_t pid)
{
    int n;

    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    n = snprintf(sa->sun_path + 1, sizeof(sa->sun_path) - 1, CONTROL_NAME_PREFIX "%d", (int)pid);
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
}

struct control {
    int fd;                 /* the listening socket, or -1 */
    ino_t ino;              /* its inode, to know it is still ours */
    int said;               /* a failure to listen was reported once */
    long long resume_at_ms; /* accept failed (EMFILE...): not polled until then */
};

/* One client asking for a report. */
struct control_request {
    int fd;      /* the connection, or -1 */
    ino_t ino;   /* its inode, to know it is still ours */
    int json;    /* the format asked for */
    int to_sink; /* "report timeout": to the configured sink, not back */
    pid_t pid;   /* the client, as SO_PEERCRED gives it */
    uid_t uid;
};

/* Listens on @gmr-<getpid()>; on failure one gmr: line, and fd is -1.
   Done again if the socket was closed under us. */
void control_listen(struct control *c);
/* The descriptor to poll for POLLIN, or -1 (also for a while after
   accept failed, so that a pending connection cannot spin the watcher). */
int control_fd(const struct control *c);
/* Takes one waiting connection. Returns 1 with a request to answer; 0 if
   there was none, or it was refused (the client is told why). */
int control_take(struct control *c, struct control_request *req);
/* Answers a request with a report (or, report NULL, an error) and closes
   the connection. Never blocks for long on a client that does not read. */
void control_answer(struct control_request *req, const struct buf *report, const char *error);
/* Answers a to_sink request: the report was written to `written` (a path,
   "stderr", "the journal"), or could not be (error). Closes the connection. */
void control_answer_written(struct control_request *req, const char *written, const char *error);
/* In a forked child: the parent's socket, and its client's connection,
   are not ours; with a shared descriptor table the child closes its copies
   (the client would otherwise never see the end of its answer). */
void control_after_fork(struct control *c, struct control_request *asked);

#endif
