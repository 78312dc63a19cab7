/*
 * preload.h - what the LD_PRELOAD glue files share.
 */
#ifndef GMR_PRELOAD_H
#define GMR_PRELOAD_H

/* Set by the constructor when crash reports are on: new threads get an
   alternate signal stack (threads.c). */
extern int preload_altstacks;

/* Looks up the sigaction() and signal() calls ours stand in front of
   (sigaction.c). First thing in the constructor. */
void preload_resolve_signal_calls(void);
/* With a sanitizer runtime in the process: a report when it ends it. */
void preload_watch_sanitizer(void);

#endif
