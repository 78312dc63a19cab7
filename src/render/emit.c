/*
 * emit.c - escaping shared by both renderers.
 *
 * Text: everything printable passes through, including UTF-8; control
 * bytes become \n, \t, \r or \xNN and a backslash becomes \\, so a hostile
 * thread name or environment value cannot break the report's lines.
 *
 * JSON: RFC 8259 escapes; bytes that are not valid UTF-8 (overlong forms,
 * surrogates, truncated sequences) become U+FFFD, so the document always
 * parses.
 */
#include "emit.h"

static const char hexdig[] = "0123456789abcdef";

static int plain(unsigned char c)
{
    return c >= 0x20 && c != 0x7f && c != '\\';
}

void emit_escaped_text(struct buf *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    while (*p) {
        const unsigned char *run = p;

        while (plain(*p)) /* most text needs no escape: copy it in one go */
            p++;
        buf_add(b, run, (size_t)(p - run));
        if (!*p)
            break;
        if (*p == '\\') {
            buf_add(b, "\\\\", 2);
        } else if (*p == '\n') {
            buf_add(b, "\\n", 2);
        } else if (*p == '\t') {
            buf_add(b, "\\t", 2);
        } else if (*p == '\r') {
            buf_add(b, "\\r", 2);
        } else {
            char esc[4] = {'\\', 'x', hexdig[*p >> 4], hexdig[*p & 15]};
            buf_add(b, esc, 4);
        }
        p++;
    }
}

/* Length of the valid UTF-8 sequence at p, or 0 if it is not one. */
static size_t utf8_len(const unsigned char *p)
{
    unsigned cp;
    size_t n, i;

    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xc2 && p[0] <= 0xdf)
        n = 2, cp = p[0] & 0x1f;
    else if (p[0] >= 0xe0 && p[0] <= 0xef)
        n = 3, cp = p[0] & 0x0f;
    else if (p[0] >= 0xf0 && p[0] <= 0xf4)
        n = 4, cp = p[0] & 0x07;
    else
        return 0;
    for (i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

void emit_escaped_json(struct buf *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    while (*p) {
        size_t n = utf8_len(p);

        if (n == 0) {
            buf_add(b, "\\ufffd", 6);
            p++;
        } else if (*p == '"' || *p == '\\') {
            buf_char(b, '\\');
            buf_char(b, (char)*p++);
        } else if (*p == '\n') {
            buf_add(b, "\\n", 2);
            p++;
        } else if (*p == '\t') {
            buf_add(b, "\\t", 2);
            p++;
        } else if (*p == '\r') {
            buf_add(b, "\\r", 2);
            p++;
        } else if (*p < 0x20 || *p == 0x7f) {
            char esc[6] = {'\\', 'u', '0', '0', hexdig[*p >> 4], hexdig[*p & 15]};
            buf_add(b, esc, 6);
            p++;
        } else {
            buf_add(b, p, n);
            p += n;
        }
    }
}
