/*
 * timefmt.h - UTC time as text, without gmtime (which takes a lock in
 * glibc) so it can run anywhere, the crash path included.
 */
#ifndef GMR_TIMEFMT_H
#define GMR_TIMEFMT_H

#include <time.h>

/* "20261122101112": 14 characters and a NUL. */
void time_stamp(time_t t, char out[15]);
/* "2026-11-22T10:11:12Z": 20 characters and a NUL. */
void time_iso8601(time_t t, char out[21]);

#endif
