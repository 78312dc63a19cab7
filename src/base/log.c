/*
 * log.c - "gmr: ..." lines on stderr.
 *
 * Messages are clipped to one line of at most 512 bytes; a newline inside a
 * message (a hostile value echoed back, say) is shown as a space so that a
 * gmr: message is always exactly one line.
 */
#include "log.h"

#include "fdtable.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define LOG_MAX 512

static void write_line(char *line, size_t len)
{
    size_t i, off = 0;
    int saved = errno, fd = fdtable_get_stderr();

    for (i = 5; i + 1 < len; i++)
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    while (fd >= 0 && off < len) {
        ssize_t n = write(fd, line + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    fdtable_put_stderr(fd);
    errno = saved;
}

void log_msg(const char *fmt, ...)
{
    char line[LOG_MAX];
    va_list ap;
    int n;

    memcpy(line, "gmr: ", 5);
    va_start(ap, fmt);
    /* NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): va_start is just above */
    n = vsnprintf(line + 5, sizeof(line) - 6, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof(line) - 6)
        n = (int)(sizeof(line) - 6);
    line[5 + n] = '\n';
    write_line(line, 5 + (size_t)n + 1);
}

void log_raw(const char *a, const char *b, const char *c, const char *d)
{
    const char *parts[4] = {a, b, c, d};
    char line[LOG_MAX];
    size_t len = 5, i;

    memcpy(line, "gmr: ", 5);
    for (i = 0; i < 4; i++) {
        size_t n = parts[i] ? strlen(parts[i]) : 0;
        if (n > sizeof(line) - 1 - len)
            n = sizeof(line) - 1 - len;
        memcpy(line + len, parts[i] ? parts[i] : "", n);
        len += n;
    }
    line[len++] = '\n';
    write_line(line, len);
}
