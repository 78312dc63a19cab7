/*
 * symbolize.h - addresses to function names, modules and source lines.
 *
 * Uses elfutils (libdwfl): ELF .symtab as well as .dynsym, so static
 * functions are named; DWARF line tables and inlined-call scopes where
 * debug information is present, in the binary or in a separate file found
 * by build-id under /usr/lib/debug. Nothing is fetched from the network
 * unless debuginfod is allowed (GMR_DEBUGINFOD=1).
 *
 * A symbolizer lives from a report until its caches are released. It
 * keeps elfutils only while a report runs; results are cached per address
 * (symcache.h) until the code mapped into the process changes.
 */
#ifndef GMR_SYMBOLIZE_H
#define GMR_SYMBOLIZE_H

#include "base/maps.h"
#include "frame.h"

#include <stddef.h>
#include <stdint.h>

/* "native", "jit", "vdso", "signal". */
const char *frame_kind_name(enum frame_kind kind);

struct symbolizer;

struct symbolizer *symbolizer_new(int allow_debuginfod);
void symbolizer_free(struct symbolizer *s);
/* At the start of each report, with the process's map: forgets the cached
   results if the code mapped has changed since the last report. The
   symbolizer reads maps until the next refresh or shed: keep it alive. */
void symbolizer_refresh(struct symbolizer *s, const struct maps *maps);
/* Symbolizes pc (a return address unless exact); NULL if elfutils could
   not be loaded. Valid until the next refresh. */
const struct sym_result *symbolize(struct symbolizer *s, uintptr_t pc, int exact);
/* At the end of each report: lets elfutils go, keeps the results. */
void symbolizer_shed(struct symbolizer *s);
/* Is fd one elfutils holds open for the symbolizer? */
int symbolizer_owns_fd(int fd);

#endif
