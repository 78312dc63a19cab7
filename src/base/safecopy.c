/*
 * safecopy.c - SIGNAL CONTEXT. Fault-free copies of our own memory (see
 * safecopy.h). Only system calls: process_vm_readv, open, pread, close.
 */
#include "safecopy.h"

#include "procfs.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

static ssize_t via_process_vm(void *dst, uintptr_t addr, size_t len)
{
    struct iovec local = {dst, len}, remote = {(void *)addr, len};

    return process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
}

static ssize_t via_proc_mem(void *dst, uintptr_t addr, size_t len)
{
    int fd = open("/proc/self/mem", O_RDONLY | O_CLOEXEC);
    size_t got = 0;

    if (fd < 0)
        return -1;
    while (got < len) {
        ssize_t n = pread(fd, (char *)dst + got, len - got, (off_t)(addr + got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    return got ? (ssize_t)got : -1;
}

ssize_t safe_copy(void *dst, uintptr_t addr, size_t len, int via_mem_file)
{
    ssize_t n;

    if (len == 0)
        return 0;
    if (addr + len < addr || (off_t)(addr + len) < 0) { /* wraps, or past what pread takes */
        errno = EFAULT;
        return -1;
    }
    if (!via_mem_file) {
        n = via_process_vm(dst, addr, len);
        if (n >= 0 || (errno != EPERM && errno != ENOSYS))
            return n;
    }
    return via_proc_mem(dst, addr, len);
}

int safe_copy_filtered(void)
{
    char text[4096];
    const char *v;
    size_t len;

    if (procfs_read("/proc/thread-self/status", text, sizeof(text)) < 0)
        return 1;
    v = procfs_field(text, "Seccomp:", &len);
    return !v || v[0] != '0';
}
