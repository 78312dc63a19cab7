/*
 * memread.c - fault-free reads of our own address space, page-cached.
 *
 * A direct-mapped cache of PAGES pages, indexed by page number, keeps the
 * unwind tables and code the unwinder reads again and again; an unreadable
 * page is cached too, so a bad address costs one system call, not many.
 *
 * process_vm_readv is preferred: it needs no descriptor. A thread under a
 * seccomp filter may not be allowed it, and with the default systemd
 * action a forbidden call kills the process, so we ask the kernel first
 * whether the watcher is filtered (Seccomp: in /proc/thread-self/status)
 * and, if so, use /proc/self/mem, which only needs open and pread.
 */
#include "memread.h"

#include "procfs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#define PAGE  4096u
#define PAGES 64u

struct page {
    uintptr_t base; /* page address + 1, 0 when empty */
    int readable;
    unsigned char data[PAGE];
};

struct memreader {
    pid_t pid;
    int mem_fd; /* /proc/self/mem, or -1 to use process_vm_readv */
    struct page pages[PAGES];
};

static int watcher_is_filtered(void)
{
    char text[4096];
    const char *v;
    size_t len;

    if (procfs_read("/proc/thread-self/status", text, sizeof(text)) < 0)
        return 1; /* cannot tell: take the descriptor path */
    v = procfs_field(text, "Seccomp:", &len);
    return !v || v[0] != '0';
}

struct memreader *memreader_new(void)
{
    struct memreader *mr = malloc(sizeof(*mr));

    if (!mr)
        return NULL;
    mr->pid = getpid();
    mr->mem_fd = -1;
    memset(mr->pages, 0, sizeof(mr->pages));
    if (watcher_is_filtered()) {
        mr->mem_fd = open("/proc/self/mem", O_RDONLY | O_CLOEXEC);
        if (mr->mem_fd < 0) {
            free(mr);
            return NULL;
        }
    }
    return mr;
}

void memreader_free(struct memreader *mr)
{
    if (!mr)
        return;
    if (mr->mem_fd >= 0)
        close(mr->mem_fd);
    free(mr);
}

static int fetch(struct memreader *mr, uintptr_t base, unsigned char *out)
{
    ssize_t n;

    if (mr->mem_fd >= 0) {
        do
            n = pread(mr->mem_fd, out, PAGE, (off_t)base);
        while (n < 0 && errno == EINTR);
    } else {
        struct iovec local = {out, PAGE}, remote = {(void *)base, PAGE};
        n = process_vm_readv(mr->pid, &local, 1, &remote, 1, 0);
    }
    return n == (ssize_t)PAGE ? 0 : -1;
}

static const struct page *page_for(struct memreader *mr, uintptr_t addr)
{
    uintptr_t base = addr & ~(uintptr_t)(PAGE - 1);
    struct page *p = &mr->pages[(base / PAGE) % PAGES];

    if (p->base != base + 1) {
        p->base = base + 1;
        p->readable = fetch(mr, base, p->data) == 0;
    }
    return p;
}

int memreader_read(struct memreader *mr, uintptr_t addr, void *out, size_t len)
{
    unsigned char *dst = out;

    while (len) {
        const struct page *p = page_for(mr, addr);
        size_t off = addr & (PAGE - 1), n = PAGE - off;

        if (!p->readable)
            return -1;
        if (n > len)
            n = len;
        memcpy(dst, p->data + off, n);
        dst += n;
        addr += n;
        len -= n;
    }
    return 0;
}
