/*
 * startup.h - where the variables that a process's start writes live.
 *
 * Each page libgmr's constructor touches is a page fault in every process
 * that loads it, /bin/true and each of a build's compilers included
 * (about 30 us each on a virtual machine: tens of them made a shell loop
 * 1.5 times slower). So the small variables it writes are kept together,
 * in .data: libgmr's other state is zero-initialized, in .bss, and .data
 * holds only these, a few hundred bytes, one page however many files
 * they come from. The large ones are laid out so that the constructor
 * writes only their first page (config.h, watcher.c).
 */
#ifndef GMR_STARTUP_H
#define GMR_STARTUP_H

#define GMR_STARTUP __attribute__((section(".data.gmr_startup")))

#endif
