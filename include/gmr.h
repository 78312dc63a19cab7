/*
 * gmr.h - libgmr's public interface.
 *
 * libgmr gives a process a Guru Meditation Report: every thread's stack,
 * the package, process tree, configuration and environment, written on a
 * signal (SIGUSR2), a touched trigger file, a crash or a hang timeout.
 * Most programs need none of this header: LD_PRELOAD=libgmr.so is enough.
 */
#ifndef GMR_H
#define GMR_H

#define GMR_VERSION "0.1.0"

#endif
