/*
 * sink_journal.h - a report as one entry of the systemd journal, sent over
 * journald's native protocol without libsystemd.
 */
#ifndef GMR_SINK_JOURNAL_H
#define GMR_SINK_JOURNAL_H

#include "base/buf.h"
#include "sink.h"

/* The socket journald reads native entries from. */
#define JOURNAL_SOCKET "/run/systemd/journal/socket"

/*
 * Sends the report as one entry: MESSAGE (the report), SYSLOG_IDENTIFIER
 * (the service), PRIORITY (2 for a crash, else 5), GMR_TRIGGER, GMR_PID,
 * GMR_THREADS, GMR_FORMAT. Returns 0, or -1 with errno set and *why a
 * sentence for the gmr: line.
 */
int journal_send(const struct sink_target *t, const struct buf *report, const char **why);

#endif
