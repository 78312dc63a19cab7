/*
 * signames.h - signal numbers to names and back ("USR2", "SIGUSR2",
 * "RTMIN+4", "12").
 */
#ifndef GMR_SIGNAMES_H
#define GMR_SIGNAMES_H

#include <stddef.h>

/* Parses a signal spec; returns the number, 0 for "none", -1 if invalid. */
int signal_parse(const char *spec);
/* Writes the short name ("USR2", "RTMIN+3") of sig into out; returns out. */
const char *signal_name(int sig, char *out, size_t len);

#endif
