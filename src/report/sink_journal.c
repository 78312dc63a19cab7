/*
 * sink_journal.c - deliver a report to the systemd journal (watcher
 * thread; it may allocate, though it has no need to).
 *
 * journald's native protocol: each datagram on its AF_UNIX socket is one
 * entry, a list of fields. A field is NAME=value and a newline, or, for a
 * value that may hold newlines (a report does, and a service name might),
 * NAME, a newline, the length as 64-bit little-endian, the bytes and a
 * newline. A datagram's size is limited (EMSGSIZE, about the socket's
 * send buffer): a larger entry is written to a memfd, sealed so that it
 * cannot change once journald reads it (journald refuses one that is not),
 * and its descriptor sent alone in an empty datagram (SCM_RIGHTS).
 *
 * libsystemd is not linked: the host may not have it, and one sendmsg
 * does not need it. The socket and the memfd are close-on-exec, in the
 * watcher's own descriptor table, and closed before returning. A journald
 * that no longer reads would block a send once its queue is full: sends
 * give up after JOURNAL_TIMEOUT_S, and the report goes to stderr.
 */
#include "sink.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#define JOURNAL_TIMEOUT_S 5
#define HEAD_MAX          1024 /* every field but the report's bytes */
#define PRIORITY_CRIT     "2"
#define PRIORITY_NOTICE   "5"

static void put_le64(struct buf *b, uint64_t v)
{
    unsigned char le[8];
    int i;

    for (i = 0; i < 8; i++)
        le[i] = (unsigned char)(v >> (8 * i));
    buf_add(b, le, sizeof(le));
}

/* NAME=value, for values we know hold no newline. */
static void text_field(struct buf *b, const char *name, const char *value)
{
    buf_str(b, name);
    buf_char(b, '=');
    buf_str(b, value);
    buf_char(b, '\n');
}

static void number_field(struct buf *b, const char *name, unsigned long long value)
{
    buf_str(b, name);
    buf_char(b, '=');
    buf_udec(b, value);
    buf_char(b, '\n');
}

/* The length-prefixed form, for any bytes. */
static void binary_field(struct buf *b, const char *name, const char *value, size_t len)
{
    buf_str(b, name);
    buf_char(b, '\n');
    put_le64(b, len);
    buf_add(b, value, len);
    buf_char(b, '\n');
}

/* Every field, up to where MESSAGE's bytes go: the caller sends them and
   a newline after this. */
static void entry_head(struct buf *b, const struct sink_target *t, size_t report_len)
{
    const char *trigger = t->trigger ? t->trigger : "unknown";

    text_field(b, "PRIORITY", strcmp(trigger, "crash") ? PRIORITY_NOTICE : PRIORITY_CRIT);
    binary_field(b, "SYSLOG_IDENTIFIER", t->service, strlen(t->service));
    binary_field(b, "GMR_TRIGGER", trigger, strlen(trigger));
    number_field(b, "GMR_PID", (unsigned long long)t->pid);
    number_field(b, "GMR_THREADS", t->threads);
    text_field(b, "GMR_FORMAT", t->json ? "json" : "text");
    buf_str(b, "MESSAGE\n");
    put_le64(b, report_len);
}

static ssize_t send_to_journal(int sock, struct iovec *iov, size_t n, void *control, size_t clen)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX, .sun_path = JOURNAL_SOCKET};
    struct msghdr msg = {.msg_name = &addr,
                         .msg_namelen = sizeof(addr),
                         .msg_iov = iov,
                         .msg_iovlen = n,
                         .msg_control = control,
                         .msg_controllen = clen};
    ssize_t rc;

    do
        rc = sendmsg(sock, &msg, MSG_NOSIGNAL);
    while (rc < 0 && errno == EINTR);
    return rc;
}

static int write_iov(int fd, const struct iovec *iov, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (sink_write_all(fd, iov[i].iov_base, iov[i].iov_len) < 0)
            return -1;
    return 0;
}

/* The entry in a sealed memfd, its descriptor sent in an empty datagram. */
static int send_memfd(int sock, const struct iovec *iov, size_t n)
{
    union {
        char bytes[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } control;
    struct cmsghdr *c = &control.align;
    int fd, rc = -1, err;

    fd = memfd_create("gmr-report", MFD_ALLOW_SEALING | MFD_CLOEXEC);
    if (fd < 0)
        return -1;
    if (write_iov(fd, iov, n) < 0 ||
        fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
        goto out;
    memset(&control, 0, sizeof(control));
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
    rc = send_to_journal(sock, NULL, 0, &control, sizeof(control)) < 0 ? -1 : 0;
out:
    err = errno;
    close(fd);
    errno = err;
    return rc;
}

static int send_entry(int sock, struct iovec *iov, size_t n, const char **why)
{
    struct timeval limit = {JOURNAL_TIMEOUT_S, 0};

    *why = "cannot send the report to the journal at " JOURNAL_SOCKET;
    if (setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof(limit)) < 0)
        return -1;
    if (send_to_journal(sock, iov, n, NULL, 0) >= 0)
        return 0;
    if (errno != EMSGSIZE && errno != ENOBUFS)
        return -1;
    *why = "cannot pass the report to the journal at " JOURNAL_SOCKET " in a memfd";
    return send_memfd(sock, iov, n);
}

int journal_send(const struct sink_target *t, const struct buf *report, const char **why)
{
    char mem[HEAD_MAX];
    struct buf head;
    struct iovec iov[3];
    int sock, rc, err;

    buf_init_fixed(&head, mem, sizeof(mem));
    entry_head(&head, t, report->len);
    if (head.failed) {
        *why = "the journal entry's fields do not fit";
        errno = ENAMETOOLONG;
        return -1;
    }
    iov[0] = (struct iovec){head.data, head.len};
    iov[1] = (struct iovec){report->data, report->len};
    iov[2] = (struct iovec){"\n", 1};
    *why = "cannot create a socket for the journal";
    sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock < 0)
        return -1;
    rc = send_entry(sock, iov, 3, why);
    err = errno;
    close(sock);
    errno = err;
    return rc;
}
