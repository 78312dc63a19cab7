/*
 * redact.c - glob matching and masking of secrets.
 *
 * The matcher is the classic iterative one with a single backtrack point
 * for the last `*`: linear enough for names and patterns of this size,
 * no recursion, no allocation.
 */
#include "redact.h"

#include <string.h>

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

int redact_glob(const char *p, size_t plen, const char *s, size_t slen)
{
    size_t pi = 0, si = 0, star = (size_t)-1, mark = 0;

    while (si < slen) {
        if (pi < plen && (p[pi] == '?' || lower(p[pi]) == lower(s[si]))) {
            pi++;
            si++;
        } else if (pi < plen && p[pi] == '*') {
            star = pi++;
            mark = si;
        } else if (star != (size_t)-1) {
            pi = star + 1;
            si = ++mark;
        } else {
            return 0;
        }
    }
    while (pi < plen && p[pi] == '*')
        pi++;
    return pi == plen;
}

int redact_name(const char *patterns, const char *name, size_t nlen)
{
    const char *p = patterns;

    while (p && *p) {
        const char *end = strchr(p, ',');
        size_t plen = end ? (size_t)(end - p) : strlen(p);

        if (plen && redact_glob(p, plen, name, nlen))
            return 1;
        p = end ? end + 1 : NULL;
    }
    return 0;
}

/* For "-x", "--name" or "--name=v": the option name's start and length. */
static const char *option_name(const char *arg, size_t *len)
{
    const char *eq;

    if (arg[0] != '-' || arg[1] == '\0')
        return NULL;
    arg += arg[1] == '-' ? 2 : 1;
    eq = strchr(arg, '=');
    *len = eq ? (size_t)(eq - arg) : strlen(arg);
    return *len ? arg : NULL;
}

static void append_arg(struct buf *out, int *count, const char *arg, size_t len)
{
    int quote = len == 0 || memchr(arg, ' ', len) != NULL;

    if ((*count)++)
        buf_char(out, ' ');
    if (quote)
        buf_char(out, '\'');
    buf_add(out, arg, len);
    if (quote)
        buf_char(out, '\'');
}

int redact_cmdline(const char *patterns, const char *args, size_t len, struct buf *out)
{
    size_t pos = 0;
    int masked = 0, mask_next = 0, count = 0;

    /* Empty arguments at the end are left out: a process that sets its
       title (nginx, PostgreSQL) clears the rest of its argument area, and
       /proc shows each NUL there as one; an empty last argument given on
       purpose looks the same. */
    while (len > 1 && !args[len - 1] && !args[len - 2])
        len--;
    while (pos < len) {
        const char *arg = args + pos, *name, *eq;
        size_t alen = strnlen(arg, len - pos), nlen;

        pos += alen + 1;
        if (mask_next && arg[0] != '-') {
            append_arg(out, &count, REDACTED, strlen(REDACTED));
            mask_next = 0;
            masked++;
            continue;
        }
        mask_next = 0;
        name = count ? option_name(arg, &nlen) : NULL; /* argv[0] is no option */
        if (!name || nlen > alen || !redact_name(patterns, name, nlen)) {
            append_arg(out, &count, arg, alen);
            continue;
        }
        eq = memchr(arg, '=', alen);
        if (!eq) {
            append_arg(out, &count, arg, alen);
            mask_next = 1;
            continue;
        }
        if (count++)
            buf_char(out, ' ');
        buf_add(out, arg, (size_t)(eq - arg) + 1);
        buf_str(out, REDACTED);
        masked++;
    }
    return masked;
}
