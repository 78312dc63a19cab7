/*
 * sink.h - deliver a finished report: to stderr, or to a file in the log
 * directory named <service>_gurumeditation_<YYYYMMDDHHMMSS>_<pid>[.<n>][.json].
 */
#ifndef GMR_SINK_H
#define GMR_SINK_H

#include "buf.h"

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

struct sink_target {
    const char *log_dir; /* NULL or "": stderr */
    const char *service;
    pid_t pid;
    time_t when;
    int json;
};

/*
 * The file name for attempt n (0: no counter). The service name is made
 * safe for a file name: characters outside [A-Za-z0-9._+@-] and a leading
 * dot become '_'. Returns the length, or 0 if it does not fit.
 */
size_t sink_file_name(char *out, size_t len, const struct sink_target *t, unsigned n);

/*
 * Writes the report. With a log dir: creates it (0700) if missing, writes
 * an unnamed file (O_TMPFILE, 0600) and links it in place, or where that
 * cannot be done a hidden temporary file (0600, O_EXCL|O_NOFOLLOW) renamed
 * into place; never replaces anything, and removes the temporary files
 * dead writers left behind. On any failure: one gmr: line and the report
 * goes to stderr. `written` receives the final path, or "" for stderr.
 * Returns 0 if the report was delivered somewhere.
 */
int sink_write(const struct sink_target *t, const struct buf *report, char *written, size_t len);

#endif
