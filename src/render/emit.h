/*
 * emit.h - the one interface sections write through.
 *
 * A section never formats output itself: it says "here is a key and a
 * value", "a list starts", "a thread", "a frame", and a renderer (text or
 * JSON) decides what that looks like. The same section code therefore
 * serves both formats, and renderers write into a struct buf without
 * malloc, so the crash path can use them too.
 *
 * Structure: a report is a sequence of sections; a section holds exactly
 * one value, an object or a list; objects hold named fields, lists hold
 * unnamed ones (pass key NULL). Free text lines may appear in objects (in
 * JSON they gather into a "text" array) and in lists (as strings).
 */
#ifndef GMR_EMIT_H
#define GMR_EMIT_H

#include "base/buf.h"

#include <stddef.h>
#include <stdint.h>
#include <ucontext.h>

#define EMIT_MAX_DEPTH 32

/* Flags. Containers (objects, lists) honour EMIT_JSON_ONLY only. */
enum {
    EMIT_JSON_ONLY = 1, /* shown in the text heading already, or too raw for text */
    EMIT_TEXT_ONLY = 2, /* a sentence for people; JSON has the data elsewhere */
};

#define EMIT_MAX_MARKS 6

struct emit_thread {
    int green; /* a coroutine: "Green Thread #<tid>", tid being its index */
    long tid;
    const char *name;
    const char *state;
    /* Why this thread stands out: "main thread", "received SIGUSR2". */
    const char *marks[EMIT_MAX_MARKS];
    size_t nmarks;
};

struct emit_frame {
    int index;
    uintptr_t pc;
    const char *kind; /* "native", "jit", "vdso", "signal"; NULL: not known */
    const char *function;
    const char *raw; /* the mangled name, if function is demangled */
    uintptr_t offset;
    int has_offset;
    int inlined;
    const char *module;
    uintptr_t module_offset;
    const char *file;
    int line;
};

struct emitter;

struct emit_ops {
    void (*begin_report)(struct emitter *e);
    void (*end_report)(struct emitter *e);
    /* title NULL: no banner (the header block) */
    void (*begin_section)(struct emitter *e, const char *title, const char *key);
    void (*end_section)(struct emitter *e);
    void (*begin_object)(struct emitter *e, const char *key, const char *heading, unsigned flags);
    void (*end_object)(struct emitter *e);
    void (*begin_list)(struct emitter *e, const char *key, unsigned flags);
    void (*end_list)(struct emitter *e);
    void (*str)(struct emitter *e, const char *key, const char *value, unsigned flags);
    void (*num)(struct emitter *e, const char *key, long long value, unsigned flags);
    void (*text)(struct emitter *e, const char *line);
    /* A thread object: the heading line, then its fields, frames in a list. */
    void (*begin_thread)(struct emitter *e, const struct emit_thread *t);
    void (*begin_frames)(struct emitter *e);
    void (*frame)(struct emitter *e, const struct emit_frame *f);
    void (*end_frames)(struct emitter *e);
    void (*end_thread)(struct emitter *e);
};

struct emitter {
    const struct emit_ops *ops;
    struct buf *out;
    int depth;
    int base_depth;                      /* text: depth of a section's own value */
    unsigned char count[EMIT_MAX_DEPTH]; /* json: an item was written at this depth */
    unsigned char in_list[EMIT_MAX_DEPTH];
    int text_open;     /* json: a "text" array is open */
    int text_count;    /* json: lines in that array */
    int section_value; /* json: next value is a section's */
    int hide_from;     /* text: depth a JSON-only container began, or -1 */
};

void emit_init_text(struct emitter *e, struct buf *out);
void emit_init_json(struct emitter *e, struct buf *out);

/* Writes s with control characters and backslashes escaped (\n, \x01). */
void emit_escaped_text(struct buf *b, const char *s);
/* Writes s as a JSON string body: escapes, invalid UTF-8 as U+FFFD. */
void emit_escaped_json(struct buf *b, const char *s);
/* A thread's general registers as an object "registers" (registers.c).
   Async-signal-safe. */
void emit_registers(struct emitter *e, const greg_t *regs);

/* Shorthands. */
static inline void emit_str(struct emitter *e, const char *key, const char *value)
{
    e->ops->str(e, key, value, 0);
}

static inline void emit_num(struct emitter *e, const char *key, long long value)
{
    e->ops->num(e, key, value, 0);
}

#endif
