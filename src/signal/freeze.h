/*
 * freeze.h - holding every other thread while a crash is reported.
 *
 * Without libgmr a fatal signal ends the process at once. While libgmr
 * writes the crash report the process lives on for a while, and another
 * thread could end it differently meanwhile (exit(0) 40 ms later gave
 * status 0 and no core). So the crashing thread freezes the others first,
 * as musl's synccall holds threads: each is sent the capture signal with
 * FREEZE_PAYLOAD and waits in its handler, every signal blocked, until
 * released or until the process dies of the crash. Threads that block the
 * capture signal, or wait for it in sigwaitinfo, are not sent it.
 */
#ifndef GMR_FREEZE_H
#define GMR_FREEZE_H

#include <stdint.h>
#include <ucontext.h>

#define FREEZE_WAIT_MS 1000 /* for the threads to stop */
#define FREEZE_HOLD_MS 5000 /* held this long past crash_wait_ms at most */

/* The crashing thread: freezes every other thread but the watcher, waiting
   at most wait_ms for them to stop. Returns how many are frozen. */
uint32_t freeze_others(long wait_ms);
/* The capture handler, for FREEZE_PAYLOAD: records the thread's registers
   and waits until released. */
void freeze_self(const ucontext_t *uc);
/* Lets the frozen threads go (when the process is not to die after all). */
void freeze_release(void);

#endif
