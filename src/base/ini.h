/*
 * ini.h - a small, strict reader for ini files (oslo.config style).
 *
 * `[section]` lines, `key = value` lines, `#` and `;` comment lines, blank
 * lines. Keys and values are trimmed; section and key names are passed as
 * written. Every other line is reported to `bad` with its line number and
 * skipped, so one bad line never hides the rest of the file. The reader
 * works on a byte range, not a C string, and copes with NULs and binary
 * garbage (it is fuzzed).
 */
#ifndef GMR_INI_H
#define GMR_INI_H

#include <stddef.h>

struct ini_handler {
    void (*pair)(void *ctx, int line, const char *section, const char *key, const char *value);
    void (*bad)(void *ctx, int line, const char *why);
    void *ctx;
};

void ini_parse(const char *text, size_t len, const struct ini_handler *h);

#endif
