/*
 * arch.h - what libgmr knows about the processor, behind one interface.
 *
 * A thread's registers are kept as the C library's ucontext keeps them
 * (greg_t regs[NGREG], indexed by <sys/ucontext.h>'s REG_* on x86-64), in
 * struct slot and struct frozen (signal/slot.h, signal/freeze.h). Only the files in
 * src/arch/ know what an index means; the rest of libgmr asks them for the
 * stack pointer, the pc, a register by libunwind's number, the names to
 * print. One file a processor: x86_64.c. A port to another one is a file
 * of its own beside it (aarch64.c, say), compiled on that processor only,
 * and its name in the test below.
 *
 * SIGNAL CONTEXT: arch_regs_from_ucontext, arch_sp, arch_pc,
 * arch_after_call and the register table are used in signal handlers
 * (signal/handlers.c, signal/freeze.c, signal/crash_handler.c,
 * signal/crash_fallback.c): they are async-signal-safe, touch no errno,
 * allocate nothing, take no lock. arch_syscall, arch_ptrace_regs and
 * arch_sp run in capture_ptrace.c's tracer too, which has no C library
 * state of its own: raw system calls only, no sanitizer. The others are
 * for the watcher only.
 */
#ifndef GMR_ARCH_H
#define GMR_ARCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <ucontext.h>

#if !defined(__x86_64__)
#error "libgmr has no port to this processor: write src/arch/<arch>.c (see src/arch/x86_64.c)"
#endif

struct gmr_green_thread;

/* The registers a signal handler's ucontext holds (all zero for NULL).
   Async-signal-safe. */
void arch_regs_from_ucontext(greg_t *regs, const ucontext_t *uc);
/* The stack pointer and the pc in a register set. Async-signal-safe. */
uintptr_t arch_sp(const greg_t *regs);
uintptr_t arch_pc(const greg_t *regs);

/* Is `ret` just after a call instruction (a likely return address)? The
   code before it is read with peek (0: read, -1: not). Async-signal-safe
   if peek is; for the crash fallback's stack scan. */
int arch_after_call(uintptr_t ret, int (*peek)(uintptr_t addr, void *out, size_t len));

/* The general registers a crash report prints, in its order: name and
   index in regs. Constant data, readable in a signal handler. */
struct arch_reg {
    const char *name;
    int index;
};
extern const struct arch_reg arch_reg_names[];
extern const size_t arch_reg_count;

/* A system call without the C library: the result, -errno on failure
   (errno untouched). For the ptrace tracer. */
long arch_syscall(long nr, long a, long b, long c, long d, long e, long f);
/* A ptrace-stopped thread's registers into regs, as its ucontext would
   hold them: 0, or -errno (regs untouched). Raw system calls only. */
long arch_ptrace_regs(pid_t tid, greg_t *regs);

/* The index in regs of libunwind's register `unw_regnum`, -1 if none. */
int arch_unw_index(int unw_regnum);
/* The soname of libunwind's library for this processor (deps.c). */
extern const char arch_libunwind_soname[];

/* A suspended coroutine's saved registers (gmr.h) as a register set; the
   others are left as they are. */
void arch_regs_from_green(greg_t *regs, const struct gmr_green_thread *g);

#endif
