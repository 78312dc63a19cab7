/*
 * x86_64.c - arch.h for x86-64 (glibc's ucontext, Linux's ptrace,
 * libunwind-x86_64). Compiled on x86-64 only: another processor's file
 * sits beside it.
 *
 * SIGNAL CONTEXT in part, as arch.h says which: those functions only copy
 * and compare memory they are given, or make raw system calls.
 */
#include "arch/arch.h"

#if defined(__x86_64__)

#include "gmr.h"

#include <libunwind.h>
#include <linux/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>

/* What the ptrace tracer runs: no sanitizer either, whose per-thread state
   (in the TLS the tracer shares with the watcher) is the watcher's. */
#define TRACER __attribute__((no_sanitize("address", "undefined")))

void arch_regs_from_ucontext(greg_t *regs, const ucontext_t *uc)
{
    size_t i;

    for (i = 0; i < NGREG; i++)
        regs[i] = uc ? uc->uc_mcontext.gregs[i] : 0;
}

TRACER uintptr_t arch_sp(const greg_t *regs)
{
    return (uintptr_t)regs[REG_RSP];
}

TRACER uintptr_t arch_pc(const greg_t *regs)
{
    return (uintptr_t)regs[REG_RIP];
}

/* e8 rel32, or ff /2 (indirect, 2 to 7 bytes). */
int arch_after_call(uintptr_t ret, int (*peek)(uintptr_t addr, void *out, size_t len))
{
    unsigned char c[8];
    int len;

    if (ret < 8 || peek(ret - 8, c, 8) < 0)
        return 0;
    if (c[3] == 0xe8)
        return 1;
    for (len = 2; len <= 7; len++)
        if (c[8 - len] == 0xff && ((c[9 - len] >> 3) & 7) == 2)
            return 1;
    return 0;
}

const struct arch_reg arch_reg_names[] = {
    {"rip", REG_RIP}, {"rsp", REG_RSP}, {"rbp", REG_RBP},   {"rax", REG_RAX}, {"rbx", REG_RBX},
    {"rcx", REG_RCX}, {"rdx", REG_RDX}, {"rsi", REG_RSI},   {"rdi", REG_RDI}, {"r8", REG_R8},
    {"r9", REG_R9},   {"r10", REG_R10}, {"r11", REG_R11},   {"r12", REG_R12}, {"r13", REG_R13},
    {"r14", REG_R14}, {"r15", REG_R15}, {"eflags", REG_EFL}};
const size_t arch_reg_count = sizeof(arch_reg_names) / sizeof(arch_reg_names[0]);

TRACER long arch_syscall(long nr, long a, long b, long c, long d, long e, long f)
{
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    long ret;

    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}

TRACER long arch_ptrace_regs(pid_t tid, greg_t *regs)
{
    struct user_regs_struct u;
    size_t i;
    long r = arch_syscall(SYS_ptrace, PTRACE_GETREGS, tid, 0, (long)&u, 0, 0);

    if (r < 0)
        return r;
    for (i = 0; i < NGREG; i++)
        regs[i] = 0;
    regs[REG_R8] = (greg_t)u.r8;
    regs[REG_R9] = (greg_t)u.r9;
    regs[REG_R10] = (greg_t)u.r10;
    regs[REG_R11] = (greg_t)u.r11;
    regs[REG_R12] = (greg_t)u.r12;
    regs[REG_R13] = (greg_t)u.r13;
    regs[REG_R14] = (greg_t)u.r14;
    regs[REG_R15] = (greg_t)u.r15;
    regs[REG_RDI] = (greg_t)u.rdi;
    regs[REG_RSI] = (greg_t)u.rsi;
    regs[REG_RBP] = (greg_t)u.rbp;
    regs[REG_RBX] = (greg_t)u.rbx;
    regs[REG_RDX] = (greg_t)u.rdx;
    regs[REG_RAX] = (greg_t)u.rax;
    regs[REG_RCX] = (greg_t)u.rcx;
    regs[REG_RSP] = (greg_t)u.rsp;
    regs[REG_RIP] = (greg_t)u.rip;
    regs[REG_EFL] = (greg_t)u.eflags;
    regs[REG_CSGSFS] = (greg_t)(u.cs | u.gs << 16 | u.fs << 32);
    return 0;
}

int arch_unw_index(int unw_regnum)
{
    static const int map[] = {
        [UNW_X86_64_RAX] = REG_RAX, [UNW_X86_64_RDX] = REG_RDX, [UNW_X86_64_RCX] = REG_RCX,
        [UNW_X86_64_RBX] = REG_RBX, [UNW_X86_64_RSI] = REG_RSI, [UNW_X86_64_RDI] = REG_RDI,
        [UNW_X86_64_RBP] = REG_RBP, [UNW_X86_64_RSP] = REG_RSP, [UNW_X86_64_R8] = REG_R8,
        [UNW_X86_64_R9] = REG_R9,   [UNW_X86_64_R10] = REG_R10, [UNW_X86_64_R11] = REG_R11,
        [UNW_X86_64_R12] = REG_R12, [UNW_X86_64_R13] = REG_R13, [UNW_X86_64_R14] = REG_R14,
        [UNW_X86_64_R15] = REG_R15, [UNW_X86_64_RIP] = REG_RIP,
    };

    if (unw_regnum < 0 || unw_regnum > UNW_X86_64_RIP)
        return -1;
    return map[unw_regnum];
}

const char arch_libunwind_soname[] = "libunwind-x86_64.so.8";

void arch_regs_from_green(greg_t *regs, const struct gmr_green_thread *g)
{
    regs[REG_RIP] = (greg_t)g->rip;
    regs[REG_RSP] = (greg_t)g->rsp;
    regs[REG_RBP] = (greg_t)g->rbp;
    regs[REG_RBX] = (greg_t)g->rbx;
    regs[REG_R12] = (greg_t)g->r12;
    regs[REG_R13] = (greg_t)g->r13;
    regs[REG_R14] = (greg_t)g->r14;
    regs[REG_R15] = (greg_t)g->r15;
}

#endif
