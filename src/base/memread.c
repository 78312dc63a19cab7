/*
 * memread.c - fault-free reads of our own address space, page-cached.
 *
 * A direct-mapped cache of PAGES pages, indexed by page number, keeps the
 * unwind tables and code the unwinder reads again and again; an unreadable
 * page is cached too, so a bad address costs one system call, not many.
 * 256 pages, not fewer: reading 100 Python threads' frames touches a few
 * hundred pages (frames, code objects, names), and with 64 their
 * collisions doubled the time the read took, depending on where ASLR put
 * things (bench/python.py). The cached data lives in a mapping of its own,
 * so only the pages used are ever touched, and the host's heap never
 * grows by a megabyte for a report.
 *
 * process_vm_readv is preferred: it needs no descriptor. A thread under a
 * seccomp filter may not be allowed it, and with the default systemd
 * action a forbidden call kills the process, so we ask the kernel first
 * whether the watcher is filtered (Seccomp: in /proc/thread-self/status)
 * and, if so, use /proc/self/mem, which only needs open and pread.
 */
#include "memread.h"

#include "procfs.h"
#include "safecopy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#define PAGE  4096u
#define PAGES 256u

struct memreader {
    pid_t pid;
    int mem_fd;            /* /proc/self/mem, or -1 to use process_vm_readv */
    uintptr_t base[PAGES]; /* page address + 1, 0 when empty */
    unsigned char readable[PAGES];
    unsigned char (*data)[PAGE]; /* PAGES pages, mapped */
};

struct memreader *memreader_new(void)
{
    struct memreader *mr = calloc(1, sizeof(*mr));
    void *data;

    if (!mr)
        return NULL;
    mr->pid = getpid();
    mr->mem_fd = -1;
    data = mmap(NULL, (size_t)PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
                0);
    if (data == MAP_FAILED)
        goto fail;
    mr->data = data;
    if (safe_copy_filtered()) {
        mr->mem_fd = open("/proc/self/mem", O_RDONLY | O_CLOEXEC);
        if (mr->mem_fd < 0)
            goto fail;
    }
    return mr;
fail:
    memreader_free(mr);
    return NULL;
}

void memreader_free(struct memreader *mr)
{
    if (!mr)
        return;
    if (mr->mem_fd >= 0)
        close(mr->mem_fd);
    if (mr->data)
        munmap(mr->data, (size_t)PAGES * PAGE);
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

/* The cached copy of the page holding addr, or NULL if it is unreadable. */
static const unsigned char *page_for(struct memreader *mr, uintptr_t addr)
{
    uintptr_t base = addr & ~(uintptr_t)(PAGE - 1);
    size_t i = (base / PAGE) % PAGES;

    if (mr->base[i] != base + 1) {
        mr->base[i] = base + 1;
        mr->readable[i] = fetch(mr, base, mr->data[i]) == 0;
    }
    return mr->readable[i] ? mr->data[i] : NULL;
}

int memreader_read(struct memreader *mr, uintptr_t addr, void *out, size_t len)
{
    unsigned char *dst = out;

    while (len) {
        const unsigned char *page = page_for(mr, addr);
        size_t off = addr & (PAGE - 1), n = PAGE - off;

        if (!page)
            return -1;
        if (n > len)
            n = len;
        memcpy(dst, page + off, n);
        dst += n;
        addr += n;
        len -= n;
    }
    return 0;
}
