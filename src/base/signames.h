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
/* The fatal signals libgmr reports on, as short names; async-signal-safe. */
const char *signal_fatal_name(int sig);
/* si_code of a signal in words ("SEGV_MAPERR: address not mapped");
   async-signal-safe (static strings only). */
const char *signal_code_text(int sig, int code);

#endif
