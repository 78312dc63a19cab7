/*
 * handlers.h - SIGNAL CONTEXT. The trigger and capture handlers
 * (handlers.c), and the state they share with the watcher: the link
 * between the host's threads, interrupted, and libgmr's own.
 *
 * handlers.c owns that state; everything else reaches it through the
 * functions below, which are all async-signal-safe (atomic loads and
 * stores, futex and tgkill). The crash record is crash_handler.h's, the
 * freeze's is freeze.h's; a capture round's slots are slot.h's.
 *
 * Handlers never free or allocate; the watcher frees a round only after it
 * has unpublished it and seen no handler still inside
 * (handler_retire_round).
 */
#ifndef GMR_HANDLERS_H
#define GMR_HANDLERS_H

#include "slot.h"
#include "trigger_bits.h"

#include <signal.h>
#include <stdatomic.h>
#include <sys/types.h>

/* Where the watcher is; the crash path and the trigger handler tell the
   truth from it. */
enum watcher_state {
    WATCHER_NOT_STARTED, /* libgmr's constructor has not started it (yet) */
    WATCHER_STARTING,    /* its thread runs, loading libunwind and elfutils */
    WATCHER_READY,
    WATCHER_NO_THREAD, /* pthread_create failed */
    WATCHER_FORKED,    /* forked while the parent's watcher was loading its libraries */
    WATCHER_CRASHED,   /* it faulted; no more reports in this process */
};

void handler_capture(int sig, siginfo_t *si, void *uc);
void handler_trigger(int sig, siginfo_t *si, void *uc);

/* ---- set up by the constructor, again in a forked child ---- */

/* Who we are: the process, and its service name for reports. */
void handler_set_process(pid_t pid, const char *service);
pid_t handler_pid(void);
const char *handler_service(void);
/* The capture signal (which also wakes the watcher), and the trigger
   signal once its handler is installed. */
void handler_set_signals(int capture, int trigger);
int handler_capture_signal(void);
/* In a forked child: a process of its own, no watcher yet, nothing under
   way. */
void handlers_after_fork(pid_t pid);

/* ---- the watcher ---- */

/* Says which thread the watcher is (0: none), and where it is. */
void handler_set_watcher(pid_t tid);
pid_t handler_watcher(void);
void handler_set_watcher_state(enum watcher_state state);
enum watcher_state handler_watcher_state(void);
/* A futex word that changes whenever the watcher's state does, and at
   each handler_announce: what a thread waiting for the watcher (api.c)
   waits on, so that it wakes at once when the watcher faults. */
_Atomic uint32_t *handler_news(void);
void handler_announce(void);
/* Why this process writes no report, or NULL if its watcher works or is
   starting. (A static string.) */
const char *handler_no_watcher_reason(void);
/* Asks the watcher to run (any thread). */
void handler_wake_watcher(unsigned bits);
/* trigger_bits: the ones not yet taken, without taking them; taken (and
   cleared); set without a wake-up; cleared. */
unsigned handler_pending(void);
unsigned handler_take_pending(void);
void handler_post(unsigned bits);
void handler_unpost(unsigned bits);
/* The signal that wakes the watcher now: the capture signal while it is
   ours, else the trigger signal while it is ours, else 0. */
int handler_wake_signal(void);
/* The futex word the watcher waits on for a capture (NULL: none): a
   crashing thread tells a watcher waiting for threads from a stuck one. */
void handler_set_waits_on(void *word);
void *handler_waits_on(void);

/* ---- capture rounds ---- */

/* Publishes a round: the capture handler fills its slots from now on. */
void handler_publish_round(struct round *r);
/* Unpublishes it and waits, at most max_ms, until no handler is still
   inside; -1 if one still is. */
int handler_retire_round(long max_ms);

/* ---- the trigger signal ---- */

/* Is a trigger handler between entry and exit? */
int handler_in_trigger(void);
/* The thread that received the last trigger signal, and its sender. */
void handler_last_trigger(pid_t *tid, pid_t *sender);
/* The slot the trigger signal's thread captures itself into (its copy is
   the watcher's to reserve), the trigger it was filled for, and how many
   trigger signals came so far. */
struct slot *handler_trigger_slot(unsigned *gen, unsigned *triggers);

/* ---- the signals themselves ---- */

/* Is fn still sig's handler in the kernel (the host may have taken the
   signal since)? */
int handler_owns(int sig, void (*fn)(int, siginfo_t *, void *));
/* The host is about to take sig (sigchain's `leaving` hook). */
void handler_leaving(int sig);

#endif
