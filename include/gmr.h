/*
 * gmr.h - libgmr's public interface.
 *
 * libgmr gives a process a Guru Meditation Report: every thread's stack,
 * the package, process tree, configuration and environment, written on a
 * signal (SIGUSR2), a touched trigger file, a crash or a hang timeout.
 * Most programs need none of this header: LD_PRELOAD=libgmr.so is enough.
 *
 * A program can also add sections of its own, list its coroutines, and
 * ask for a report from code. To run the same binary with or without
 * libgmr, declare the functions weak and test them before calling:
 *
 *     #include <gmr.h>
 *     #pragma weak gmr_register_section
 *     #pragma weak gmr_report
 *
 *     if (gmr_register_section)          // NULL unless libgmr is loaded
 *         gmr_register_section("Job Queue", emit_queue, &queue);
 *
 * or look them up with dlsym(RTLD_DEFAULT, "gmr_report"). See
 * examples/api.c and gmr.h(3).
 */
#ifndef GMR_H
#define GMR_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GMR_VERSION "0.1.0"

#if defined(__GNUC__)
#define GMR_API __attribute__((visibility("default")))
#else
#define GMR_API
#endif

/* ---- writing a section ---- */

/*
 * What a section callback writes through. Its functions render in text
 * ("key = value" lines, indented lists) and in JSON (an object of keys,
 * arrays for lists) alike. Inside a list, keys are ignored: items are
 * unnamed. Containers left open by a callback are closed for it.
 */
struct gmr_emitter;

GMR_API void gmr_emit_str(struct gmr_emitter *e, const char *key, const char *value);
GMR_API void gmr_emit_int(struct gmr_emitter *e, const char *key, long long value);
/* A line of free text (JSON: gathered into a "text" array). */
GMR_API void gmr_emit_text(struct gmr_emitter *e, const char *line);
GMR_API void gmr_emit_begin_object(struct gmr_emitter *e, const char *key);
GMR_API void gmr_emit_end_object(struct gmr_emitter *e);
GMR_API void gmr_emit_begin_list(struct gmr_emitter *e, const char *key);
GMR_API void gmr_emit_end_list(struct gmr_emitter *e);

/*
 * A section callback. It runs on libgmr's watcher thread while the
 * program's threads run on: read shared state the way another thread of
 * the program would, and do not wait long for locks (a report about a
 * stuck program is most wanted when some lock is stuck).
 */
typedef void (*gmr_section_fn)(struct gmr_emitter *e, void *arg);

/*
 * Adds a section, written after libgmr's own under a banner `title` (and
 * under the key `title` in JSON). Returns an id (> 0), or -1: no title or
 * function, a title already taken, or no room (64 sections).
 */
GMR_API int gmr_register_section(const char *title, gmr_section_fn fn, void *arg);
/* Removes a section. When it returns, the callback is not running and
   will not run again (unless called from the callback itself). 0 or -1. */
GMR_API int gmr_unregister_section(int id);

/* ---- asking for a report ---- */

/*
 * Writes a report now (trigger "api"), with `reason` (may be NULL) in its
 * header, and returns once it is written: 0, or -1 with errno ETIMEDOUT
 * (no report within 60 s), EDEADLK (called from a section callback) or
 * ENOSYS (this process has no watcher). Not async-signal-safe.
 */
GMR_API int gmr_report(const char *reason);

/* ---- green threads (coroutines) ---- */

/* A suspended coroutine: where it stopped, as its switch code saved it. */
struct gmr_green_thread {
    const char *name;  /* may be NULL */
    const char *state; /* may be NULL: "waiting on socket 7", say */
    /* x86_64 registers; rip, rsp are required, the others improve the
       unwinding of code built without frame pointers. From a ucontext_t
       saved by swapcontext: uc_mcontext.gregs[REG_RIP] and so on. */
    uintptr_t rip, rsp, rbp, rbx, r12, r13, r14, r15;
};

typedef void (*gmr_green_visit_fn)(const struct gmr_green_thread *g, void *visit_arg);
/* Calls visit once per suspended coroutine. Runs on the watcher thread. */
typedef void (*gmr_green_enum_fn)(gmr_green_visit_fn visit, void *visit_arg, void *arg);

/*
 * Registers the program's coroutine lister: the Green Threads section then
 * unwinds and shows each coroutine's stack. One lister per process; a new
 * one replaces the old, NULL removes it. Returns 0.
 */
GMR_API int gmr_register_green_threads(gmr_green_enum_fn enumerate, void *arg);

#ifdef __cplusplus
}
#endif

#endif
