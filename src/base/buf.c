/*
 * buf.c - mmap-backed growable buffer and number formatting.
 *
 * Growth doubles the mapping with mremap, so appending is amortised O(1)
 * and the data may move: callers keep offsets, never pointers, across
 * appends. Nothing here calls malloc or stdio; it is safe to use from the
 * crash path (mmap, mremap and munmap are plain system calls).
 */
#include "buf.h"

#include <string.h>
#include <sys/mman.h>

#define BUF_MIN_CAP (64 * 1024)

void buf_init_fixed(struct buf *b, char *mem, size_t cap)
{
    b->data = mem;
    b->len = 0;
    b->cap = cap;
    b->failed = 0;
    b->fixed = 1;
}

void buf_free(struct buf *b)
{
    if (b->fixed) {
        buf_reset(b);
        return;
    }
    if (b->data)
        munmap(b->data, b->cap);
    b->data = NULL;
    b->len = b->cap = 0;
    b->failed = 0;
}

void buf_reset(struct buf *b)
{
    b->len = 0;
    b->failed = 0;
}

int buf_reserve(struct buf *b, size_t extra)
{
    size_t need, cap;
    void *p;

    if (b->failed)
        return -1;
    need = b->len + extra + 1; /* room for buf_cstr's NUL */
    if (need <= b->cap)
        return 0;
    if (b->fixed) {
        b->failed = 1;
        return -1;
    }
    cap = b->cap ? b->cap : BUF_MIN_CAP;
    while (cap < need)
        cap *= 2;
    if (b->data)
        p = mremap(b->data, b->cap, cap, MREMAP_MAYMOVE);
    else
        p = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        b->failed = 1;
        return -1;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

void buf_add(struct buf *b, const void *data, size_t len)
{
    /* The room check inline: reports are built a few bytes at a time. */
    if (b->len + len + 1 > b->cap && buf_reserve(b, len) < 0)
        return;
    memcpy(b->data + b->len, data, len);
    b->len += len;
}

void buf_str(struct buf *b, const char *s)
{
    buf_add(b, s, strlen(s));
}

void buf_char(struct buf *b, char c)
{
    if (b->len + 2 > b->cap && buf_reserve(b, 1) < 0)
        return;
    b->data[b->len++] = c;
}

void buf_repeat(struct buf *b, char c, size_t n)
{
    if (buf_reserve(b, n) < 0)
        return;
    memset(b->data + b->len, c, n);
    b->len += n;
}

size_t fmt_udec(char *out, unsigned long long v)
{
    char tmp[24];
    size_t n = 0, i;

    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

size_t fmt_hex(char *out, unsigned long long v, int min_digits)
{
    static const char digits[] = "0123456789abcdef";
    char tmp[20];
    size_t n = 0, i;

    do {
        tmp[n++] = digits[v & 15];
        v >>= 4;
    } while (v);
    while ((int)n < min_digits && n < sizeof(tmp))
        tmp[n++] = '0';
    for (i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

void buf_udec(struct buf *b, unsigned long long v)
{
    char tmp[24];
    size_t n = fmt_udec(tmp, v);

    buf_add(b, tmp, n);
}

void buf_dec(struct buf *b, long long v)
{
    if (v < 0) {
        buf_char(b, '-');
        buf_udec(b, 0ULL - (unsigned long long)v);
        return;
    }
    buf_udec(b, (unsigned long long)v);
}

void buf_hex(struct buf *b, unsigned long long v, int min_digits)
{
    char tmp[20];
    size_t n = fmt_hex(tmp, v, min_digits);

    buf_add(b, "0x", 2);
    buf_add(b, tmp, n);
}

void buf_pad_to(struct buf *b, size_t from, size_t width)
{
    size_t used = b->len - from;

    if (used < width)
        buf_repeat(b, ' ', width - used);
}

const char *buf_cstr(struct buf *b)
{
    /* Every reserve leaves a byte spare past len, even a failed buffer. */
    if (!b->data)
        buf_reserve(b, 0);
    if (!b->data)
        return "";
    b->data[b->len] = '\0';
    return b->data;
}
