/*
 * log.h - the one way libgmr speaks to the user outside a report: a single
 * line on stderr that starts with "gmr: ".
 *
 * log_msg formats with vsnprintf (not for signal handlers). log_raw joins
 * up to four plain strings without formatting and is async-signal-safe.
 * Both write the line with one write(2) so it is not interleaved.
 */
#ifndef GMR_LOG_H
#define GMR_LOG_H

void log_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_raw(const char *a, const char *b, const char *c, const char *d);

#endif
