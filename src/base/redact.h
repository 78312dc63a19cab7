/*
 * redact.h - which values a report must not show.
 *
 * Environment variables whose names match one of the configured globs
 * (case-insensitive; `*` and `?`) are shown as "***", and so are the
 * values of command-line options with such names: --db-password=x,
 * --token x, -api-key=x.
 */
#ifndef GMR_REDACT_H
#define GMR_REDACT_H

#include "buf.h"

#include <stddef.h>

#define REDACTED "***"

/* Case-insensitive glob match of name against one pattern. */
int redact_glob(const char *pattern, size_t plen, const char *name, size_t nlen);
/* Does `name` (nlen bytes) match any pattern of the comma-separated list? */
int redact_name(const char *patterns, const char *name, size_t nlen);
/*
 * Appends a command line (NUL-separated, as in /proc/PID/cmdline) to out
 * as one line, arguments joined by spaces, quoted if they contain one,
 * with secret option values replaced by ***, empty arguments at the end
 * left out (the padding of a process title). Returns how many were masked.
 */
int redact_cmdline(const char *patterns, const char *args, size_t len, struct buf *out);

#endif
