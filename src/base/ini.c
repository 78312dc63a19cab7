/*
 * ini.c - line-oriented ini reader.
 *
 * Each line is copied into a bounded buffer, trimmed and classified.
 * Lines longer than INI_LINE_MAX, lines containing NUL bytes and lines
 * that are neither a section, a pair nor a comment are reported as bad.
 */
#include "ini.h"

#include <string.h>

#define INI_LINE_MAX    4096
#define INI_SECTION_MAX 128
/* The section after a malformed header: matches no real section name. */
#define INI_NO_SECTION "\x01"

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

/* Trims in place; returns the start of the trimmed text. */
static char *trim(char *s, size_t *len)
{
    while (*len && is_space(s[*len - 1]))
        s[--*len] = '\0';
    while (*len && is_space(*s)) {
        s++;
        (*len)--;
    }
    return s;
}

static void parse_section(char *s, size_t len, char *section, int lineno,
                          const struct ini_handler *h)
{
    char *name;
    size_t n;

    /* Until the next good header, keys belong to no section we know. */
    memcpy(section, INI_NO_SECTION, sizeof(INI_NO_SECTION));
    if (s[len - 1] != ']') {
        h->bad(h->ctx, lineno, "section header without closing ']'");
        return;
    }
    s[len - 1] = '\0';
    n = len - 2;
    name = trim(s + 1, &n);
    if (n == 0 || n >= INI_SECTION_MAX) {
        h->bad(h->ctx, lineno, "empty or overlong section name");
        return;
    }
    memcpy(section, name, n + 1);
}

static void parse_pair(char *s, size_t len, const char *section, int lineno,
                       const struct ini_handler *h)
{
    char *eq = memchr(s, '=', len), *key, *value;
    size_t klen, vlen;

    if (!eq) {
        h->bad(h->ctx, lineno, "expected 'key = value'");
        return;
    }
    *eq = '\0';
    klen = (size_t)(eq - s);
    vlen = len - klen - 1;
    key = trim(s, &klen);
    value = trim(eq + 1, &vlen);
    if (klen == 0) {
        h->bad(h->ctx, lineno, "empty key");
        return;
    }
    if (!section[0]) {
        h->bad(h->ctx, lineno, "key outside any [section]");
        return;
    }
    if (!strcmp(section, INI_NO_SECTION))
        return;
    h->pair(h->ctx, lineno, section, key, value);
}

static void parse_line(char *s, size_t len, char *section, int lineno, const struct ini_handler *h)
{
    s = trim(s, &len);
    if (len == 0 || s[0] == '#' || s[0] == ';')
        return;
    if (s[0] == '[')
        parse_section(s, len, section, lineno, h);
    else
        parse_pair(s, len, section, lineno, h);
}

void ini_parse(const char *text, size_t len, const struct ini_handler *h)
{
    char line[INI_LINE_MAX + 1];
    char section[INI_SECTION_MAX] = "";
    size_t pos = 0;
    int lineno = 0;

    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;

        lineno++;
        if (n > INI_LINE_MAX)
            h->bad(h->ctx, lineno, "line too long");
        else if (memchr(text + pos, '\0', n))
            h->bad(h->ctx, lineno, "NUL byte in line");
        else {
            memcpy(line, text + pos, n);
            line[n] = '\0';
            parse_line(line, n, section, lineno, h);
        }
        pos += n + 1;
    }
}
