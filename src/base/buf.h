/*
 * buf.h - a growable byte buffer backed by mmap, never by malloc.
 *
 * Reports are rendered into a buf and handed to the sink whole. The buffer
 * takes its memory straight from the kernel (mmap/mremap) so that the
 * renderers and the crash path work even when the host's heap is corrupt,
 * and so that a report gives every byte back when it is done (buf_free).
 *
 * Formatting helpers append decimal and hexadecimal numbers without stdio.
 * A buffer that cannot grow sets `failed` and drops further appends; the
 * caller checks it once at the end.
 */
#ifndef GMR_BUF_H
#define GMR_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
    char *data;
    size_t len;
    size_t cap;
    int failed;
    int fixed; /* data is the caller's array: never grown or unmapped */
};

/* A buffer over a caller's array (on the stack, say); appends past its
   end are dropped and set `failed`. */
void buf_init_fixed(struct buf *b, char *mem, size_t cap);

void buf_free(struct buf *b);
void buf_reset(struct buf *b);
int buf_reserve(struct buf *b, size_t extra);
void buf_add(struct buf *b, const void *data, size_t len);
void buf_str(struct buf *b, const char *s);
void buf_char(struct buf *b, char c);
void buf_repeat(struct buf *b, char c, size_t n);
void buf_dec(struct buf *b, long long v);
void buf_udec(struct buf *b, unsigned long long v);
void buf_hex(struct buf *b, unsigned long long v, int min_digits);
/* Pad with spaces to `width` bytes after position `from`. */
void buf_pad_to(struct buf *b, size_t from, size_t width);
/* NUL-terminates without counting the NUL in len; returns data or "". */
const char *buf_cstr(struct buf *b);

/* Number formatting into a caller's array; returns the length written. */
size_t fmt_udec(char *out, unsigned long long v);
size_t fmt_hex(char *out, unsigned long long v, int min_digits);

#endif
