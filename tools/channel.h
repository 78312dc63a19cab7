/*
 * channel.h - the tools' end of libgmr's control channel (src/trigger/control.h):
 * connect to @gmr-<pid>, make sure the process asked is the one that
 * answers, send one request and read the answer to its end.
 */
#ifndef GMR_TOOLS_CHANNEL_H
#define GMR_TOOLS_CHANNEL_H

#include <stddef.h>
#include <sys/types.h>

enum channel_result {
    CHANNEL_OK,
    CHANNEL_NONE,      /* the process does not run libgmr (or not here) */
    CHANNEL_REFUSED,   /* no such process, not allowed, someone else's, ... */
    CHANNEL_TIMED_OUT, /* no whole answer in time */
};

long long channel_now_ms(void);
/*
 * Sends `request` (one line, without its newline) to PID's watcher and
 * reads the whole answer into *answer (malloc'd, NUL-terminated; the
 * caller frees it), its length in *len. On anything but CHANNEL_OK, `why`
 * says what went wrong, in words for a message.
 */
enum channel_result channel_ask(pid_t pid, const char *request, int timeout_ms, char **answer,
                                size_t *len, char *why, size_t why_len);

#endif
