/*
 * sink.h - deliver a finished report: to stderr, to the systemd journal,
 * or to a file in the log directory named
 * <service>_gurumeditation_<YYYYMMDDHHMMSS>_<pid>[.<n>][.json].
 */
#ifndef GMR_SINK_H
#define GMR_SINK_H

#include "base/buf.h"
#include "base/config.h"

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

struct sink_target {
    const char *log_dir; /* NULL or "": no files, stderr */
    const char *service;
    pid_t pid;
    time_t when;
    int json;
    enum cfg_output output; /* OUTPUT_AUTO: files with a log dir, else stderr */
    int max_reports;        /* files: the most of the service's reports kept; 0 = all */
    const char *trigger;    /* journal: "signal", "crash", ... */
    size_t threads;         /* journal: threads in the report */
};

/*
 * The file name for attempt n (0: no counter). The service name is made
 * safe for a file name: characters outside [A-Za-z0-9._+@-] and a leading
 * dot become '_'. Returns the length, or 0 if it does not fit.
 */
size_t sink_file_name(char *out, size_t len, const struct sink_target *t, unsigned n);

/*
 * Writes the report where t->output says. To the journal: one entry
 * (sink_journal.c). To files, in the log dir: creates it (0700) if
 * missing, writes an unnamed file (O_TMPFILE, 0600) and links it in place,
 * or where that cannot be done a hidden temporary file (0600,
 * O_EXCL|O_NOFOLLOW) renamed into place; never replaces anything, removes
 * the temporary files dead writers left behind, and then the service's
 * oldest reports beyond max_reports (retention.h). On any failure: one
 * gmr: line and the report goes to stderr. `written` receives the final
 * path, or "" for stderr and the journal. Returns 0 if the report was
 * delivered somewhere.
 */
int sink_write(const struct sink_target *t, const struct buf *report, char *written, size_t len);
/* write() until all of data is written (EINTR retried); -1 on error. */
int sink_write_all(int fd, const char *data, size_t len);

/* The journal (sink_journal.c): the socket journald reads native entries from. */
#define JOURNAL_SOCKET "/run/systemd/journal/socket"

/*
 * Sends the report as one entry: MESSAGE (the report), SYSLOG_IDENTIFIER
 * (the service), PRIORITY (2 for a crash, else 5), GMR_TRIGGER, GMR_PID,
 * GMR_THREADS, GMR_FORMAT. Returns 0, or -1 with errno set and *why a
 * sentence for the gmr: line.
 */
int journal_send(const struct sink_target *t, const struct buf *report, const char **why);

#endif
