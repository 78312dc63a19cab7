/*
 * registers.c - a thread's general registers as an object "registers",
 * each as hex under its name (arch.h gives the names and their order).
 * Async-signal-safe: the crash fallback (signal/crash_fallback.c) renders
 * it from a crashing thread's handler, as the Threads section does for
 * the crashed thread in the full report.
 */
#include "emit.h"

#include "arch/arch.h"

void emit_registers(struct emitter *e, const greg_t *regs)
{
    char value[24];
    size_t i;

    e->ops->begin_object(e, "registers", NULL, 0);
    for (i = 0; i < arch_reg_count; i++) {
        value[0] = '0';
        value[1] = 'x';
        value[2 + fmt_hex(value + 2, (unsigned long long)regs[arch_reg_names[i].index], 16)] = '\0';
        e->ops->str(e, arch_reg_names[i].name, value, 0);
    }
    e->ops->end_object(e);
}
