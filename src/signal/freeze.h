/*
 * freeze.h - SIGNAL CONTEXT. Holding every other thread while a crash is
 * reported.
 *
 * Without libgmr a fatal signal ends the process at once. While libgmr
 * writes the crash report the process lives on for a while, and another
 * thread could end it differently meanwhile (exit(0) 40 ms later gave
 * status 0 and no core). So the crashing thread freezes the others first,
 * as musl's synccall holds threads: each is sent the capture signal with
 * FREEZE_PAYLOAD and waits in its handler, every signal blocked, until
 * released or until the process dies of the crash. Threads that block the
 * capture signal, or wait for it in sigwaitinfo, are not sent it: the
 * watcher's tracer holds those instead, with the ptrace backend
 * (capture_ptrace.h), stopped until the same release word is set.
 *
 * The freeze's state is this file's own (freeze.c); the crashing thread,
 * the capture handler, the watcher and the report reach it through the
 * functions below, all async-signal-safe.
 */
#ifndef GMR_FREEZE_H
#define GMR_FREEZE_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>
#include <ucontext.h>

#define FREEZE_WAIT_MS 1000 /* for the threads to stop */
#define FREEZE_HOLD_MS 5000 /* held this long past crash_wait_ms at most */

#define FREEZE_PAYLOAD 0xf5eeULL /* round payloads have a non-zero sequence in the top half */
#define FREEZE_RECORDS 4096

/* A frozen thread's registers, written by the thread itself, tid last
   (static: they stay readable whatever the thread does once let go). */
struct frozen {
    _Atomic pid_t tid; /* 0 until regs are written */
    greg_t regs[NGREG];
};

/* The crashing thread: sends signo (the capture signal, with
   FREEZE_PAYLOAD) to every thread of process pid but itself and the
   watcher, and waits at most wait_ms for them to stop. Each stays frozen
   at most hold_ms. Returns how many are frozen. */
uint32_t freeze_others(pid_t pid, pid_t watcher, int signo, long wait_ms, long hold_ms);
/* The capture handler, for FREEZE_PAYLOAD: records the thread's registers
   and waits until released. */
void freeze_self(const ucontext_t *uc);
/* Lets the frozen threads go (when the process is not to die after all). */
void freeze_release(void);
/* Has freeze_release run since the last freeze? */
int freeze_released(void);
/* Is a freeze on, with some thread frozen or held? */
int freeze_holding(void);
/* The records of the threads frozen so far, and how many (*n, at most
   FREEZE_RECORDS: the others froze with no record). */
const struct frozen *freeze_records(uint32_t *n);
/* The tracer's part: n more threads held; the word it waits on until
   released (a futex word, set to non-zero by freeze_release). */
void freeze_add_held(uint32_t n);
_Atomic int *freeze_release_word(void);
/* In a forked child: no freeze is on. */
void freeze_after_fork(void);

#endif
