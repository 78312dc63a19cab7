/*
 * render_json.c - the JSON back end of the emitter.
 *
 * One document per report: {"header": {...}, "package": {...},
 * "threads": [...], ...}. Commas are placed by counting the items written
 * at each nesting depth. Free text lines in an object are gathered into a
 * "text" array; a thread's heading is not repeated (its tid and name are
 * fields). Addresses are strings ("0x7f..."), so no JSON reader rounds
 * them through a double.
 */
#include "emit.h"

#include <string.h>

static void close_text(struct emitter *e)
{
    if (!e->text_open)
        return;
    buf_char(e->out, ']');
    e->text_open = 0;
}

/* Separator and, inside an object, the key. */
static void key(struct emitter *e, const char *k)
{
    close_text(e);
    if (e->count[e->depth])
        buf_char(e->out, ',');
    e->count[e->depth] = 1;
    if (!e->in_list[e->depth] && k) {
        buf_char(e->out, '"');
        emit_escaped_json(e->out, k);
        buf_str(e->out, "\":");
    }
}

static void string(struct buf *b, const char *s)
{
    buf_char(b, '"');
    emit_escaped_json(b, s ? s : "");
    buf_char(b, '"');
}

static void open_value(struct emitter *e, const char *k, char bracket, int list)
{
    if (e->section_value)
        e->section_value = 0;
    else
        key(e, k);
    buf_char(e->out, bracket);
    if (e->depth + 1 < EMIT_MAX_DEPTH)
        e->depth++;
    e->count[e->depth] = 0;
    e->in_list[e->depth] = (unsigned char)list;
}

static void close_value(struct emitter *e, char bracket)
{
    close_text(e);
    buf_char(e->out, bracket);
    if (e->depth > 0)
        e->depth--;
}

static void j_begin_report(struct emitter *e)
{
    buf_char(e->out, '{');
    e->depth = 0;
    e->count[0] = 0;
    e->in_list[0] = 0;
}

static void j_end_report(struct emitter *e)
{
    buf_str(e->out, "}\n");
}

static void j_begin_section(struct emitter *e, const char *title, const char *k)
{
    (void)title;
    key(e, k);
    e->section_value = 1;
}

static void j_end_section(struct emitter *e)
{
    e->section_value = 0;
}

static void j_begin_object(struct emitter *e, const char *k, const char *heading, unsigned flags)
{
    (void)heading;
    (void)flags; /* containers are never text-only */
    open_value(e, k, '{', 0);
}

static void j_end_object(struct emitter *e)
{
    close_value(e, '}');
}

static void j_begin_list(struct emitter *e, const char *k, unsigned flags)
{
    (void)flags; /* containers are never text-only */
    open_value(e, k, '[', 1);
}

static void j_end_list(struct emitter *e)
{
    close_value(e, ']');
}

static void j_str(struct emitter *e, const char *k, const char *value, unsigned flags)
{
    if (flags & EMIT_TEXT_ONLY)
        return;
    key(e, k);
    string(e->out, value);
}

static void j_num(struct emitter *e, const char *k, long long value, unsigned flags)
{
    if (flags & EMIT_TEXT_ONLY)
        return;
    key(e, k);
    buf_dec(e->out, value);
}

static void j_text(struct emitter *e, const char *line)
{
    if (e->in_list[e->depth]) {
        key(e, NULL);
    } else {
        if (!e->text_open) {
            key(e, "text");
            buf_char(e->out, '[');
            e->text_open = 1;
            e->text_count = 0;
        }
        if (e->text_count++)
            buf_char(e->out, ',');
    }
    string(e->out, line);
}

static void hex_string(struct buf *b, uintptr_t v)
{
    buf_char(b, '"');
    buf_hex(b, v, 1);
    buf_char(b, '"');
}

static void j_begin_thread(struct emitter *e, const struct emit_thread *t)
{
    size_t i;

    open_value(e, NULL, '{', 0);
    j_num(e, t->green ? "index" : "tid", t->tid, 0);
    j_str(e, "name", t->name, 0);
    j_str(e, "state", t->state, 0);
    if (t->nmarks) {
        j_begin_list(e, "marks", 0);
        for (i = 0; i < t->nmarks; i++)
            j_str(e, NULL, t->marks[i], 0);
        j_end_list(e);
    }
}

static void j_begin_frames(struct emitter *e)
{
    j_begin_list(e, "frames", 0);
}

static void j_frame(struct emitter *e, const struct emit_frame *f)
{
    struct buf *b = e->out;

    open_value(e, NULL, '{', 0);
    if (f->kind && !strcmp(f->kind, "python")) {
        /* No address: the frame is the interpreter's, not the machine's. */
        j_str(e, "kind", f->kind, 0);
        j_str(e, "function", f->function ? f->function : "?", 0);
        j_str(e, "file", f->file ? f->file : "?", 0);
        key(e, "line");
        if (f->line >= 0)
            buf_dec(b, f->line);
        else
            buf_str(b, "null");
        close_value(e, '}');
        return;
    }
    key(e, "pc");
    hex_string(b, f->pc);
    if (f->kind)
        j_str(e, "kind", f->kind, 0);
    if (f->function)
        j_str(e, "symbol", f->function, 0);
    if (f->raw)
        j_str(e, "symbol_raw", f->raw, 0);
    if (f->has_offset)
        j_num(e, "offset", (long long)f->offset, 0);
    if (f->inlined) {
        key(e, "inlined");
        buf_str(b, "true");
    }
    if (f->module) {
        j_str(e, "module", f->module, 0);
        key(e, "module_offset");
        hex_string(b, f->module_offset);
    }
    if (f->file) {
        j_str(e, "file", f->file, 0);
        j_num(e, "line", f->line, 0);
    }
    close_value(e, '}');
}

static const struct emit_ops json_ops = {
    .begin_report = j_begin_report,
    .end_report = j_end_report,
    .begin_section = j_begin_section,
    .end_section = j_end_section,
    .begin_object = j_begin_object,
    .end_object = j_end_object,
    .begin_list = j_begin_list,
    .end_list = j_end_list,
    .str = j_str,
    .num = j_num,
    .text = j_text,
    .begin_thread = j_begin_thread,
    .begin_frames = j_begin_frames,
    .frame = j_frame,
    .end_frames = j_end_list,
    .end_thread = j_end_object,
};

void emit_init_json(struct emitter *e, struct buf *out)
{
    memset(e, 0, sizeof(*e));
    e->ops = &json_ops;
    e->out = out;
}
