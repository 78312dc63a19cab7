/*
 * render_text.c - the text back end of the emitter: oslo.reports' layout.
 *
 *   ========================================================================
 *   ====                           Threads                            ====
 *   ========================================================================
 *   ------               Thread #4242 (worker) [main thread]              ------
 *   state = S (sleeping)
 *   #0  0x00007f1c2a8e4e96 in clock_nanosleep+0x66 (/usr/lib/x86_64-linux-gnu/libc.so.6+0xd0e96)
 *   #1  0x000055f0e0a011d9 in wait_here+0x19 (/usr/bin/daemon+0x11d9) at daemon.c:42
 *
 * Fields print as "key = value"; nested values are indented two spaces
 * per level. Titles are centred as Python's str.center does for an even
 * width: any odd space goes to the right.
 */
#include "emit.h"

#include <string.h>

#define WIDTH 72

static void center(struct buf *b, const char *edge, const char *title, size_t width)
{
    size_t len = strlen(title), left, right;

    buf_str(b, edge);
    if (len + 2 > width) {
        buf_char(b, ' ');
        emit_escaped_text(b, title);
        buf_char(b, ' ');
    } else {
        left = (width - len) / 2;
        right = width - len - left;
        buf_repeat(b, ' ', left);
        emit_escaped_text(b, title);
        buf_repeat(b, ' ', right);
    }
    buf_str(b, edge);
    buf_char(b, '\n');
}

static void banner(struct buf *b, const char *title)
{
    buf_repeat(b, '=', WIDTH);
    buf_char(b, '\n');
    center(b, "====", title, WIDTH - 8);
    buf_repeat(b, '=', WIDTH);
    buf_char(b, '\n');
}

static void indent(struct emitter *e)
{
    int d = e->depth - e->base_depth;

    if (d > 0)
        buf_repeat(e->out, ' ', (size_t)d * 2);
}

static void t_begin_report(struct emitter *e)
{
    banner(e->out, "Guru Meditation");
    buf_repeat(e->out, '|', WIDTH);
    buf_str(e->out, "\n\n");
}

static void t_end_report(struct emitter *e)
{
    buf_char(e->out, '\n');
    (void)e;
}

static void t_begin_section(struct emitter *e, const char *title, const char *key)
{
    (void)key;
    if (title)
        banner(e->out, title);
    /* The section's own object or list is not indented. */
    e->base_depth = e->depth + 1;
}

static void t_end_section(struct emitter *e)
{
    (void)e;
}

/* Output is suppressed inside a JSON-only container. */
static int hidden(const struct emitter *e)
{
    return e->hide_from >= 0;
}

static void enter(struct emitter *e, unsigned flags)
{
    if (!hidden(e) && (flags & EMIT_JSON_ONLY))
        e->hide_from = e->depth;
    e->depth++;
}

static void t_begin_object(struct emitter *e, const char *key, const char *heading, unsigned flags)
{
    if (!hidden(e) && !(flags & EMIT_JSON_ONLY) && e->depth >= e->base_depth && (heading || key)) {
        indent(e);
        emit_escaped_text(e->out, heading ? heading : key);
        buf_str(e->out, heading ? "\n" : ":\n");
    }
    enter(e, flags);
}

static void t_end(struct emitter *e)
{
    e->depth--;
    if (e->depth == e->hide_from)
        e->hide_from = -1;
}

static void t_begin_list(struct emitter *e, const char *key, unsigned flags)
{
    if (!hidden(e) && !(flags & EMIT_JSON_ONLY) && e->depth >= e->base_depth && key) {
        indent(e);
        emit_escaped_text(e->out, key);
        buf_str(e->out, ":\n");
    }
    enter(e, flags);
}

static void t_str(struct emitter *e, const char *key, const char *value, unsigned flags)
{
    if (hidden(e) || (flags & EMIT_JSON_ONLY))
        return;
    indent(e);
    if (key) {
        emit_escaped_text(e->out, key);
        buf_str(e->out, " = ");
    }
    emit_escaped_text(e->out, value ? value : "");
    buf_char(e->out, '\n');
}

static void t_num(struct emitter *e, const char *key, long long value, unsigned flags)
{
    if (hidden(e) || (flags & EMIT_JSON_ONLY))
        return;
    indent(e);
    if (key) {
        emit_escaped_text(e->out, key);
        buf_str(e->out, " = ");
    }
    buf_dec(e->out, value);
    buf_char(e->out, '\n');
}

static void t_text(struct emitter *e, const char *line)
{
    if (hidden(e))
        return;
    indent(e);
    emit_escaped_text(e->out, line);
    buf_char(e->out, '\n');
}

static void t_begin_thread(struct emitter *e, const struct emit_thread *t)
{
    char mem[256];
    struct buf title;
    size_t i;

    buf_init_fixed(&title, mem, sizeof(mem));
    buf_str(&title, t->green ? "Green Thread #" : "Thread #");
    buf_dec(&title, t->tid);
    buf_str(&title, " (");
    buf_str(&title, t->name ? t->name : "?");
    buf_char(&title, ')');
    for (i = 0; i < t->nmarks; i++) {
        buf_str(&title, i ? ", " : " [");
        buf_str(&title, t->marks[i]);
    }
    if (t->nmarks)
        buf_char(&title, ']');
    buf_char(e->out, '\n');
    center(e->out, "------", buf_cstr(&title), WIDTH - 12);
    /* A thread's lines sit flush under its heading, as eu-stack prints. */
    e->depth++;
    e->base_depth++;
    if (t->state)
        t_str(e, "state", t->state, 0);
}

static void t_end_thread(struct emitter *e)
{
    e->base_depth--;
    t_end(e);
}

static void t_frames(struct emitter *e)
{
    (void)e;
}

/* "[python] function at file:line", the line "?" where the code has none. */
static void python_frame(struct buf *b, const struct emit_frame *f)
{
    buf_str(b, "[python] ");
    emit_escaped_text(b, f->function ? f->function : "?");
    buf_str(b, " at ");
    emit_escaped_text(b, f->file ? f->file : "?");
    buf_char(b, ':');
    if (f->line >= 0)
        buf_dec(b, f->line);
    else
        buf_char(b, '?');
    buf_char(b, '\n');
}

static void t_frame(struct emitter *e, const struct emit_frame *f)
{
    struct buf *b = e->out;
    size_t start;

    indent(e);
    start = b->len;
    buf_char(b, '#');
    buf_dec(b, f->index);
    buf_char(b, ' ');
    buf_pad_to(b, start, 4); /* "#0  0x...", "#10 0x...", "#100 0x..." */
    if (f->kind && !strcmp(f->kind, "python")) {
        python_frame(b, f);
        return;
    }
    buf_hex(b, f->pc, 16);
    buf_str(b, " in ");
    emit_escaped_text(b, f->function ? f->function : "??");
    if (f->has_offset) {
        buf_char(b, '+');
        buf_hex(b, f->offset, 1);
    }
    if (f->inlined)
        buf_str(b, " [inlined]");
    if (f->kind && !strcmp(f->kind, "signal"))
        buf_str(b, " [signal handler called]");
    else if (f->kind && !strcmp(f->kind, "jit"))
        buf_str(b, " [jit]");
    buf_str(b, " (");
    if (f->module) {
        emit_escaped_text(b, f->module);
        buf_char(b, '+');
        buf_hex(b, f->module_offset, 1);
    } else {
        buf_str(b, "??");
    }
    buf_char(b, ')');
    if (f->file) {
        buf_str(b, " at ");
        emit_escaped_text(b, f->file);
        buf_char(b, ':');
        buf_dec(b, f->line);
    }
    buf_char(b, '\n');
}

static const struct emit_ops text_ops = {
    .begin_report = t_begin_report,
    .end_report = t_end_report,
    .begin_section = t_begin_section,
    .end_section = t_end_section,
    .begin_object = t_begin_object,
    .end_object = t_end,
    .begin_list = t_begin_list,
    .end_list = t_end,
    .str = t_str,
    .num = t_num,
    .text = t_text,
    .begin_thread = t_begin_thread,
    .begin_frames = t_frames,
    .frame = t_frame,
    .end_frames = t_frames,
    .end_thread = t_end_thread,
};

void emit_init_text(struct emitter *e, struct buf *out)
{
    memset(e, 0, sizeof(*e));
    e->ops = &text_ops;
    e->out = out;
    e->hide_from = -1;
}
