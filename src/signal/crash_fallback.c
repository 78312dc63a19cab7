/*
 * crash_fallback.c - SIGNAL CONTEXT. Runs in the handler of a thread that
 * crashed, when the watcher did not write the report: the heap may be
 * corrupt, locks may be held, the stack may have overflowed (we are on the
 * alternate stack). So: no malloc (static buffers, touched only now), no
 * locks, no stdio; open, read, prctl, write, and safe_copy's system calls.
 *
 * Without unwind tables (libunwind and elfutils need malloc), the stack is
 * scanned: a word that points into executable code just after a call
 * instruction (arch_after_call) is probably a return address. The frames
 * are marked as unverified and given as module+offset, which addr2line
 * resolves.
 */
#include "crash_fallback.h"

#include "arch/arch.h"
#include "base/fdtable.h"
#include "render/emit.h"
#include "base/safecopy.h"
#include "base/signames.h"
#include "base/timefmt.h"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#define MAPS_MAX    (512 * 1024)
#define EXEC_MAX    1024
#define SCAN_BYTES  (64 * 1024)
#define SCAN_FRAMES 64
#define OUT_MAX     (128 * 1024)

struct exec_map {
    uintptr_t start, end, offset;
    const char *path;
};

/* Touched only by the first crashing thread (crash_handler.c's record guards it). */
static char maps_text[MAPS_MAX];
static struct exec_map execs[EXEC_MAX];
static size_t nexecs;
static uintptr_t stack_end;
static int filtered; /* under seccomp: no process_vm_readv (safecopy.h) */
static char out_mem[OUT_MAX];

static uintptr_t hex(const char **p)
{
    uintptr_t v = 0;

    for (;; (*p)++) {
        char c = **p;
        if (c >= '0' && c <= '9')
            v = v * 16 + (uintptr_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v = v * 16 + (uintptr_t)(c - 'a' + 10);
        else
            return v;
    }
}

static const char *next_field(const char *p)
{
    while (*p && *p != ' ')
        p++;
    while (*p == ' ')
        p++;
    return p;
}

/* One line of /proc/self/maps: "start-end perms offset dev inode path". */
static void map_line(const char *line, uintptr_t sp)
{
    const char *p = line, *perms;
    uintptr_t start = hex(&p), end, offset;

    if (*p++ != '-')
        return;
    end = hex(&p);
    perms = next_field(p);
    p = next_field(perms);
    offset = hex(&p);
    p = next_field(p);             /* now at the device */
    p = next_field(next_field(p)); /* past device and inode: the path */
    if (sp >= start && sp < end)
        stack_end = end;
    if (strlen(perms) > 3 && perms[2] == 'x' && *p == '/' && nexecs < EXEC_MAX)
        execs[nexecs++] = (struct exec_map){start, end, offset, p};
}

static void read_maps(uintptr_t sp)
{
    ssize_t n, len = 0;
    char *line, *nl;
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return;
    while (len < MAPS_MAX - 1 && (n = read(fd, maps_text + len, (size_t)(MAPS_MAX - 1 - len))) > 0)
        len += n;
    close(fd);
    maps_text[len] = '\0';
    for (line = maps_text; *line; line = nl + 1) {
        nl = strchr(line, '\n');
        if (!nl)
            break;
        *nl = '\0';
        map_line(line, sp);
    }
}

static const struct exec_map *exec_for(uintptr_t addr)
{
    size_t i;

    for (i = 0; i < nexecs; i++)
        if (addr >= execs[i].start && addr < execs[i].end)
            return &execs[i];
    return NULL;
}

static int peek(uintptr_t addr, void *out, size_t len)
{
    return safe_copy(out, addr, len, filtered) == (ssize_t)len ? 0 : -1;
}

static void emit_frame(struct emitter *e, int index, uintptr_t pc)
{
    const struct exec_map *m = exec_for(pc);
    struct emit_frame f;

    memset(&f, 0, sizeof(f));
    f.index = index;
    f.pc = pc;
    if (m) {
        f.module = m->path;
        f.module_offset = pc - m->start + m->offset;
    }
    e->ops->frame(e, &f);
}

static void scan_stack(struct emitter *e, uintptr_t sp)
{
    uint64_t words[512];
    uintptr_t at = sp & ~(uintptr_t)7, end = stack_end ? stack_end : sp + SCAN_BYTES;
    int found = 1;

    if (end > at + SCAN_BYTES)
        end = at + SCAN_BYTES;
    while (at < end && found < SCAN_FRAMES) {
        size_t n = (end - at) / 8 > 512 ? 512 : (end - at) / 8, i;
        if (n == 0 || peek(at, words, n * 8) < 0)
            break;
        for (i = 0; i < n && found < SCAN_FRAMES; i++)
            if (exec_for(words[i]) && arch_after_call(words[i], peek))
                emit_frame(e, found++, words[i]);
        at += n * 8;
    }
}

static void header(struct emitter *e, const struct crash_info *c, pid_t pid, const char *service,
                   const char *why)
{
    char when[21], addr[24];

    time_iso8601(time(NULL), when);
    addr[0] = '0';
    addr[1] = 'x';
    addr[2 + fmt_hex(addr + 2, c->addr, 1)] = '\0';
    e->ops->begin_section(e, NULL, "header");
    e->ops->begin_object(e, NULL, NULL, 0);
    e->ops->num(e, "pid", pid, 0);
    e->ops->str(e, "service", service ? service : "", 0);
    e->ops->str(e, "trigger", "crash", 0);
    e->ops->str(e, "signal", signal_fatal_name(c->signo), 0);
    e->ops->str(e, "code", signal_code_text(c->signo, c->code), 0);
    if (c->code > 0 && c->signo != SIGABRT)
        e->ops->str(e, "address", addr, 0);
    e->ops->str(e, "time", when, 0);
    e->ops->str(e, "note", why, 0);
    e->ops->end_object(e);
    e->ops->end_section(e);
}

void crash_fallback_report(const struct crash_info *c, pid_t pid, const char *service,
                           const char *why)
{
    const struct slot *s = &c->slot;
    char name[17];
    struct emit_thread t;
    struct emitter e;
    struct buf out;
    size_t off = 0;
    int fd;

    filtered = safe_copy_filtered();
    buf_init_fixed(&out, out_mem, sizeof(out_mem));
    emit_init_text(&e, &out);
    read_maps(arch_sp(s->regs));
    e.ops->begin_report(&e);
    header(&e, c, pid, service, why);
    e.ops->begin_section(&e, "Threads", "threads");
    e.ops->begin_list(&e, NULL, 0);
    memset(&t, 0, sizeof(t));
    t.tid = s->tid;
    if (prctl(PR_GET_NAME, name) < 0)
        name[0] = '\0';
    name[sizeof(name) - 1] = '\0';
    t.name = name;
    t.marks[t.nmarks++] = "crashed";
    e.ops->begin_thread(&e, &t);
    emit_registers(&e, s->regs);
    e.ops->begin_frames(&e);
    emit_frame(&e, 0, arch_pc(s->regs));
    scan_stack(&e, arch_sp(s->regs));
    e.ops->end_frames(&e);
    e.ops->str(&e, "note",
               "frames after #0 were found by scanning the stack for return "
               "addresses; they are unverified, and other threads are not shown",
               0);
    e.ops->end_thread(&e);
    e.ops->end_list(&e);
    e.ops->end_section(&e);
    e.ops->end_report(&e);
    fd = fdtable_get_stderr();
    while (fd >= 0 && off < out.len) {
        ssize_t n = write(fd, out.data + off, out.len - off);
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    fdtable_put_stderr(fd);
}
