/*
 * altstack.h - an alternate signal stack for every thread, so that a
 * thread whose stack overflowed can still run the crash handler. Not
 * itself signal context: set up as threads start.
 */
#ifndef GMR_ALTSTACK_H
#define GMR_ALTSTACK_H

/* Gives the calling thread an alternate stack, unless it has one. */
void altstack_install(void);

#endif
