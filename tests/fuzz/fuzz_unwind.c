/*
 * fuzz_unwind.c - libFuzzer harness for the unwinder and the symbolizer
 * (make fuzz; a short run in make check).
 *
 * Each input is a captured thread as the watcher sees it (struct slot):
 * registers and a copy of the stack, placed somewhere in this process's
 * real address space. It is unwound with libunwind against the real ELF
 * images of this process (src/symbols/unwind.c, memory outside the copy read
 * through src/base/memread.c) and every pc found is symbolized with elfutils
 * (src/symbols/symbolize.c), exact and as a return address. Nothing is rendered.
 * Whatever the bytes, nothing may crash, overrun, leak or hang.
 *
 * An input (shorter ones are padded with zeros):
 *   [0]        where the copy lies (enum place, modulo 8)
 *   [1]        flags (F_*)
 *   [2..9]     a number the placement uses
 *   [10..145]  the 17 general registers in gregs order (REG_R8 .. REG_RIP)
 *   [146..]    the stack copy, 8-byte words (a ragged tail is dropped, as
 *              the capture does)
 * Every 8-byte value, register or stack word, whose top byte is 0xa0..0xa3
 * stands for an address of this run, which ASLR moves (see decode()); any
 * other value is used as it is. The copy is always the input's bytes, never
 * this process's own stack, so an input means the same in every run.
 *
 * The unwinder and the symbolizer keep state for a report (libunwind's
 * cache, the pages read, elfutils' modules, the symbol cache). A report
 * here spans REPORT_INPUTS inputs, or ends early on F_NEW_REPORT; a single
 * input replayed on its own is always a report's first.
 *
 * FUZZ_UNWIND_SEEDS=DIR ./fuzz_unwind writes seed inputs made from real
 * stacks of this process (see tests/fuzz/README.md) and exits.
 */
#include "symbols/deps.h"
#include "base/maps.h"
#include "base/memread.h"
#include "symbols/symbolize.h"
#include "symbols/unwind.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#define HEADER        146
#define NREGS         17 /* REG_R8 .. REG_RIP */
#define MAX_COPY      (64 * 1024)
#define REPORT_INPUTS 64
#define THREAD_STACK  (256 * 1024) /* a thread's stack, with a guard page below */
#define PAGE          4096u

_Static_assert(MAX_COPY + 0xff8 <= THREAD_STACK, "a copy fits on the thread stack");

enum place {
    PLACE_MAIN_STACK,   /* at the top of this process's main stack: live memory past the copy */
    PLACE_THREAD_STACK, /* at the top of a thread stack of ours (guard page below) */
    PLACE_ANYWHERE,     /* at the placement number */
    PLACE_USER_TOP,     /* ending at the top of user space */
    PLACE_SPACE_TOP,    /* ending at 0xffffffffffffffff */
    PLACE_LOW,          /* in the first page */
    PLACE_HOLE,         /* in a gap between two mappings */
    PLACE_IN_PLACE,     /* no copy (a frozen thread): the words are written on the thread
                           stack and read there */
};

enum {
    F_RSP_IS_LO = 1,      /* rsp = the copy's start + (rsp & 7), as a capture makes it */
    F_MAX_SHIFT = 1,      /* bits 1-3: the frame limit, from max_frames[] */
    F_NEW_REPORT = 1 << 4 /* end the report under way first */
};

static const size_t max_frames[8] = {256, 1, 2, 3, 16, 64, 1024, 65536};

struct range {
    uintptr_t lo, hi;
};

static struct maps maps;
static struct range *exec, *holes;
static size_t nexec, nholes;
static uintptr_t interesting[96];
static size_t ninteresting;
static size_t first_hole; /* interesting[first_hole] is the first gap between mappings */
static uintptr_t main_stack_end;
static unsigned char *thread_stack; /* THREAD_STACK usable bytes above a guard page */

static struct symbolizer *sym;
static struct memreader *mr;
static struct unwind_session *session;
static unsigned report_inputs;

static void die(const char *what)
{
    fprintf(stderr, "fuzz_unwind: %s\n", what);
    exit(1);
}

static void add_interesting(uintptr_t a)
{
    if (ninteresting < sizeof(interesting) / sizeof(interesting[0]))
        interesting[ninteresting++] = a;
}

/* ---- reports ---- */

static void report_end(void)
{
    if (!mr)
        return;
    symbolizer_shed(sym);
    unwind_end(session);
    memreader_free(mr);
    session = NULL;
    mr = NULL;
}

static void report_begin(void)
{
    mr = memreader_new();
    if (!mr)
        die("memreader_new failed");
    session = unwind_begin(&maps, mr);
    if (!session)
        die("unwind_begin failed");
    symbolizer_refresh(sym, &maps);
    report_inputs = 0;
}

/* ---- inputs to slots ---- */

struct cursor {
    const uint8_t *p;
    size_t n;
};

static uint64_t take(struct cursor *c, size_t len)
{
    uint64_t v = 0;
    size_t i;

    for (i = 0; i < len; i++)
        if (i < c->n)
            v |= (uint64_t)c->p[i] << (8 * i);
    c->p += len < c->n ? len : c->n;
    c->n -= len < c->n ? len : c->n;
    return v;
}

/* An input value to an address of this run. */
static uintptr_t decode(uint64_t v, uintptr_t stack_lo)
{
    uint64_t low = v & 0x00ffffffffffffffULL;
    uint32_t which = (uint32_t)(low >> 32), at = (uint32_t)low;
    const struct mapping *m;
    const struct range *r;

    switch (v >> 56) {
    case 0xa0: /* into the stack, relative to the copy's start */
        return stack_lo + (uintptr_t)(int64_t)(int32_t)at;
    case 0xa1: /* code in a real module */
        if (!nexec)
            return 0;
        r = &exec[which % nexec];
        return r->lo + at % (r->hi - r->lo);
    case 0xa2: /* a place worth trying, give or take */
        return interesting[which % ninteresting] + (uintptr_t)(int64_t)(int32_t)at;
    case 0xa3: /* the edge of a mapping */
        if (!maps.n)
            return 0;
        m = &maps.m[which % maps.n];
        return ((at & 0x80000000u) ? m->end : m->start) + (uintptr_t)(int64_t)(int16_t)at;
    }
    return (uintptr_t)v;
}

/* Where a copy of len bytes starts; the range never wraps past 2^64, as a
   real copy cannot. */
static uintptr_t place_copy(enum place where, uint64_t num, size_t len)
{
    uintptr_t lo = 0, top = (uintptr_t)thread_stack + THREAD_STACK;
    struct range *h;

    switch (where) {
    case PLACE_MAIN_STACK:
        lo = main_stack_end - len - (num & 0xfff8);
        break;
    case PLACE_THREAD_STACK:
    case PLACE_IN_PLACE:
        lo = top - len - (num & 0xff8);
        if (lo < (uintptr_t)thread_stack)
            lo = (uintptr_t)thread_stack;
        break;
    case PLACE_ANYWHERE:
        lo = (uintptr_t)num & ~(uintptr_t)7;
        break;
    case PLACE_USER_TOP:
        lo = (uintptr_t)0x7ffffffff000ULL - len - (num & 0x18);
        break;
    case PLACE_SPACE_TOP:
        lo = (uintptr_t)0 - len - (num & 0x18);
        break;
    case PLACE_LOW:
        lo = (uintptr_t)num & 0xff8;
        break;
    case PLACE_HOLE:
        if (!nholes)
            break;
        h = &holes[num % nholes];
        lo = h->lo + (((uintptr_t)(num >> 16) % (h->hi - h->lo)) & ~(uintptr_t)7);
        break;
    }
    if (len && lo > (uintptr_t)0 - len)
        lo = (uintptr_t)0 - len;
    return lo;
}

/* Touches every string of a result, so that a bad one shows. */
static size_t touch(const struct sym_result *res)
{
    size_t i, sum = 0;

    if (!res)
        return 0;
    for (i = 0; i < res->n; i++) {
        const struct sym_frame *f = &res->frames[i];
        sum += strlen(frame_kind_name(f->kind));
        sum += f->function ? strlen(f->function) : 0;
        sum += f->raw ? strlen(f->raw) : 0;
        sum += f->module ? strlen(f->module) : 0;
        sum += f->file ? strlen(f->file) : 0;
    }
    return sum;
}

struct outcome {
    size_t frames;
    size_t named; /* frames whose exact or return-address lookup found a function */
    const char *names[64];
};

/* FUZZ_UNWIND_DEBUG=1: what an input unwound to, for a crash's replay. */
static void print_outcome(uintptr_t lo, size_t len, const struct slot *slot,
                          const struct unwind_frame *frames, const struct unwind_result *res)
{
    size_t i;

    fprintf(stderr, "copy at %#lx, %zu bytes; rsp %#llx rip %#llx; end %d error %d, %zu frames\n",
            (unsigned long)lo, len, (unsigned long long)slot->regs[REG_RSP],
            (unsigned long long)slot->regs[REG_RIP], (int)res->end, (int)res->error, res->n);
    for (i = 0; i < res->n; i++) {
        const struct sym_result *a = symbolize(sym, frames[i].pc, frames[i].exact);
        const struct sym_frame *f = a && a->n ? &a->frames[a->n - 1] : NULL;

        fprintf(stderr, "  #%zu %#lx%s in %s (%s)\n", i, (unsigned long)frames[i].pc,
                frames[i].exact ? " exact" : "", f && f->function ? f->function : "??",
                f && f->module ? f->module : "??");
    }
}

static void run(const uint8_t *data, size_t size, struct outcome *out)
{
    struct cursor c = {data, size};
    enum place where = (enum place)(take(&c, 1) % 8);
    unsigned flags = (unsigned)take(&c, 1);
    uint64_t num = take(&c, 8), words[NREGS];
    uintptr_t lo;
    size_t len = (size > HEADER ? size - HEADER : 0) & ~(size_t)7, max, i;
    struct unwind_frame *frames;
    struct unwind_result res;
    unsigned char *copy;
    struct slot slot;
    volatile size_t sink = 0;

    if (len > MAX_COPY)
        len = MAX_COPY;
    max = max_frames[(flags >> F_MAX_SHIFT) & 7];
    if (mr && ((flags & F_NEW_REPORT) || report_inputs >= REPORT_INPUTS))
        report_end();
    if (!mr)
        report_begin();
    report_inputs++;

    memset(&slot, 0, sizeof(slot));
    lo = place_copy(where, num, len);
    for (i = 0; i < NREGS; i++)
        words[i] = take(&c, 8);
    /* The copy, exactly as long as it says, so that an overrun shows;
       none at all if it is empty, as when a capture could copy nothing. */
    copy = len ? malloc(len) : NULL;
    if (len && !copy)
        return;
    for (i = 0; i < len / 8; i++) {
        uintptr_t w = decode(take(&c, 8), lo);
        memcpy(copy + 8 * i, &w, 8);
    }
    if (where == PLACE_IN_PLACE) {
        /* A frozen thread: no copy, its stack is read where it is. */
        if (len)
            memcpy((void *)lo, copy, len);
        slot.frozen = 1;
    } else {
        slot.stack_lo = lo;
        slot.copy = copy;
        slot.copy_len = len;
        slot.copy_cap = len;
    }
    for (i = 0; i < NREGS; i++)
        slot.regs[i] = (greg_t)decode(words[i], lo);
    if (flags & F_RSP_IS_LO)
        slot.regs[REG_RSP] = (greg_t)(lo + (words[REG_RSP] & 7));

    frames = calloc(max, sizeof(*frames));
    if (!frames) {
        free(copy);
        return;
    }
    unwind_slot(session, &slot, frames, max, &res);
    if (res.n > max || (res.n && frames[0].pc != (uintptr_t)slot.regs[REG_RIP]))
        abort(); /* the result is not what unwind.h promises */
    /* The text of a report: every frame, as found and the other way. */
    for (i = 0; i < res.n; i++) {
        const struct sym_result *a = symbolize(sym, frames[i].pc, frames[i].exact);
        const struct sym_result *b = symbolize(sym, frames[i].pc, !frames[i].exact);
        const char *name = a && a->n ? a->frames[a->n - 1].function : NULL;

        sink += touch(a) + touch(b);
        if (out && name) {
            if (out->named < sizeof(out->names) / sizeof(out->names[0]))
                out->names[out->named] = name;
            out->named++;
        }
    }
    /* Without libunwind, a report shows the interrupted instruction. */
    sink += touch(symbolize(sym, (uintptr_t)slot.regs[REG_RIP], 1));
    if (out)
        out->frames = res.n;
    if (getenv("FUZZ_UNWIND_DEBUG"))
        print_outcome(lo, len, &slot, frames, &res);
    (void)sink;
    free(frames);
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);
const char *__asan_default_options(void);

/*
 * The sanitizer runtime of clang 14 (and GCC 12) takes a dynamic TLS block
 * of glibc 2.25 and later for one with a 2.19 header whenever its address
 * happens to sit at that header's size into a page, and LeakSanitizer's
 * tracer then dies on the bogus range it read ("Tracer caught signal 11";
 * google/sanitizers#1322). libunwind and libdw, loaded here, have such
 * blocks. Leaks are still found: only that interception is off.
 */
const char *__asan_default_options(void)
{
    return "intercept_tls_get_addr=0";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    run(data, size, NULL);
    return 0;
}

/* ---- real stacks: the self-test and the seeds ---- */

struct snap {
    greg_t regs[NGREG];
    uintptr_t lo;
    size_t len;
    unsigned char stack[8192];
};

/* Copies the stack from regs' rsp up, through memread (no sanitizer looks:
   our own stack has redzones), as far as it can be read. */
static void snap_take(struct snap *sn, const greg_t *regs)
{
    struct memreader *r = memreader_new();

    memcpy(sn->regs, regs, sizeof(sn->regs));
    sn->lo = (uintptr_t)regs[REG_RSP] & ~(uintptr_t)7;
    sn->len = 0;
    while (r && sn->len < sizeof(sn->stack)) {
        uintptr_t at = sn->lo + sn->len;
        size_t n = PAGE - (at & (PAGE - 1));

        if (n > sizeof(sn->stack) - sn->len)
            n = sizeof(sn->stack) - sn->len;
        if (memreader_read(r, at, sn->stack + sn->len, n) < 0)
            break;
        sn->len += n;
    }
    sn->len &= ~(size_t)7;
    memreader_free(r);
}

/* Makes it look as if the snapshot's code had just called `fn`. */
static void snap_call(struct snap *sn, uintptr_t fn)
{
    uintptr_t ret = (uintptr_t)sn->regs[REG_RIP];

    if (sn->len + 8 > sizeof(sn->stack))
        sn->len -= 8;
    memmove(sn->stack + 8, sn->stack, sn->len);
    memcpy(sn->stack, &ret, 8);
    sn->len += 8;
    sn->lo -= 8;
    sn->regs[REG_RSP] = (greg_t)sn->lo;
    sn->regs[REG_RIP] = (greg_t)fn;
}

/* The inverse of decode() for the addresses it can name. */
static uint64_t encode(uintptr_t v, const struct snap *sn)
{
    size_t i;

    if (v >= sn->lo - 65536 && v < sn->lo + sn->len + 65536)
        return 0xa0ULL << 56 | (uint32_t)(int32_t)(int64_t)(v - sn->lo);
    for (i = 0; i < nexec; i++)
        if (v >= exec[i].lo && v < exec[i].hi)
            return 0xa1ULL << 56 | (uint64_t)i << 32 | (uint32_t)(v - exec[i].lo);
    return v;
}

static size_t snap_input(const struct snap *sn, enum place where, unsigned flags, uint8_t *out)
{
    size_t n = 0, i;
    uint64_t w;

    out[n++] = (uint8_t)where;
    out[n++] = (uint8_t)(flags | F_RSP_IS_LO);
    memset(out + n, 0, 8);
    n += 8;
    for (i = 0; i < NREGS; i++) {
        w = i == REG_RSP ? (uint64_t)sn->regs[i] & 7 : encode((uintptr_t)sn->regs[i], sn);
        memcpy(out + n, &w, 8);
        n += 8;
    }
    for (i = 0; i < sn->len; i += 8) {
        uintptr_t v;
        memcpy(&v, sn->stack + i, 8);
        w = encode(v, sn);
        memcpy(out + n, &w, 8);
        n += 8;
    }
    return n;
}

static struct snap snap_deep, snap_interrupted, snap_handler;
static uintptr_t restorer;

static __attribute__((noinline)) void bottom(void)
{
    ucontext_t uc;

    getcontext(&uc);
    snap_take(&snap_deep, uc.uc_mcontext.gregs);
}

static __attribute__((noinline)) int deep(int depth)
{
    volatile int keep = depth;

    if (depth == 0)
        bottom();
    else
        keep += deep(depth - 1);
    return keep;
}

static void on_signal(int sig, siginfo_t *si, void *ctx)
{
    const ucontext_t *interrupted = ctx;
    ucontext_t uc;

    (void)sig;
    (void)si;
    restorer = (uintptr_t)__builtin_return_address(0); /* __restore_rt */
    snap_take(&snap_interrupted, interrupted->uc_mcontext.gregs);
    getcontext(&uc);
    snap_take(&snap_handler, uc.uc_mcontext.gregs);
}

static void take_snaps(void)
{
    struct sigaction sa, old;
    int sig = SIGRTMIN + 3;

    deep(12);
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_signal;
    sa.sa_flags = SA_SIGINFO;
    if (sigaction(sig, &sa, &old) < 0)
        die("sigaction failed");
    raise(sig);
    sigaction(sig, &old, NULL);
    if (!snap_deep.len || !snap_interrupted.len || !snap_handler.len)
        die("cannot read this process's own stack");
}

/* A function of the vDSO, from its own dynamic symbol table; 0 if none. */
static uintptr_t vdso_symbol(const char *name)
{
    const unsigned char *base = (const unsigned char *)getauxval(AT_SYSINFO_EHDR);
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)base;
    const Elf64_Shdr *sh;
    const Elf64_Phdr *ph;
    uintptr_t bias = (uintptr_t)base;
    int i, j;

    if (!base || memcmp(eh->e_ident, ELFMAG, SELFMAG))
        return 0;
    ph = (const Elf64_Phdr *)(base + eh->e_phoff);
    for (i = 0; i < eh->e_phnum; i++)
        if (ph[i].p_type == PT_LOAD) {
            bias = (uintptr_t)base - (ph[i].p_vaddr - ph[i].p_offset);
            break;
        }
    sh = (const Elf64_Shdr *)(base + eh->e_shoff);
    for (i = 0; i < eh->e_shnum; i++) {
        const Elf64_Sym *syms = (const Elf64_Sym *)(base + sh[i].sh_offset);
        const char *strs;

        if (sh[i].sh_type != SHT_DYNSYM || sh[i].sh_link >= eh->e_shnum)
            continue;
        strs = (const char *)base + sh[sh[i].sh_link].sh_offset;
        for (j = 0; j < (int)(sh[i].sh_size / sizeof(*syms)); j++)
            if (syms[j].st_value && !strcmp(strs + syms[j].st_name, name))
                return bias + syms[j].st_value;
    }
    return 0;
}

/* ---- start-up ---- */

static void setup_places(void)
{
    size_t i;
    int local;
    void *heap = malloc(64);

    exec = calloc(maps.n + 1, sizeof(*exec));
    holes = calloc(maps.n + 1, sizeof(*holes));
    if (!exec || !holes)
        die("out of memory");
    for (i = 0; i < maps.n; i++) {
        const struct mapping *m = &maps.m[i];
        if (m->perms & MAP_X)
            exec[nexec++] = (struct range){m->start, m->end};
        if (!strcmp(m->path, "[stack]"))
            main_stack_end = m->end;
        if (i + 1 < maps.n && m->end < maps.m[i + 1].start)
            holes[nholes++] = (struct range){m->end, maps.m[i + 1].start};
    }
    if (!main_stack_end)
        die("no [stack] in /proc/self/maps");

    add_interesting(0);
    add_interesting(8);
    add_interesting(PAGE);
    add_interesting((uintptr_t)0x7ffffffff000ULL); /* the top of user space */
    add_interesting((uintptr_t)0x800000000000ULL); /* the first non-canonical address */
    add_interesting((uintptr_t)0xffff800000000000ULL);
    add_interesting((uintptr_t)0xffffffffff600000ULL); /* vsyscall */
    add_interesting(UINTPTR_MAX - 7);
    add_interesting(UINTPTR_MAX);
    add_interesting(getauxval(AT_SYSINFO_EHDR));
    add_interesting(vdso_symbol("__vdso_clock_gettime"));
    add_interesting(vdso_symbol("__vdso_gettimeofday"));
    add_interesting(restorer);
    add_interesting((uintptr_t)&local);
    add_interesting((uintptr_t)heap);
    add_interesting(main_stack_end);
    add_interesting((uintptr_t)thread_stack);
    add_interesting((uintptr_t)thread_stack + THREAD_STACK);
    first_hole = ninteresting;
    for (i = 0; i < nholes && i < 8; i++)
        add_interesting(holes[i].lo);
    free(heap);
}

/* Feeds a real stack through the harness: if libunwind cannot walk it or
   elfutils cannot name it, the fuzzer would be fuzzing nothing. */
static void self_test(void)
{
    static uint8_t in[HEADER + sizeof(snap_deep.stack)];
    struct outcome out;
    size_t n, i, deeps = 0;

    memset(&out, 0, sizeof(out));
    n = snap_input(&snap_deep, PLACE_THREAD_STACK, F_NEW_REPORT, in);
    run(in, n, &out);
    for (i = 0; i < out.named && i < sizeof(out.names) / sizeof(out.names[0]); i++)
        deeps += !strcmp(out.names[i], "deep");
    if (out.frames < 14 || deeps < 13) {
        fprintf(stderr,
                "fuzz_unwind: the harness's own stack unwinds to %zu frames, %zu named `deep` "
                "(expected 14+ and 13)\n",
                out.frames, deeps);
        die("libunwind or elfutils does not work here: nothing would be fuzzed");
    }
}

static void write_seed(const char *dir, const char *name, const uint8_t *in, size_t n)
{
    char path[4096];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "wbe");
    if (!f || fwrite(in, 1, n, f) != n || fclose(f) != 0)
        die("cannot write a seed");
    fprintf(stderr, "fuzz_unwind: wrote %s (%zu bytes)\n", path, n);
}

static void write_seeds(const char *dir)
{
    static uint8_t in[HEADER + sizeof(snap_deep.stack)];
    static struct snap sn;
    uint64_t w;
    size_t n;

    n = snap_input(&snap_deep, PLACE_THREAD_STACK, 0, in);
    write_seed(dir, "deep-thread-stack", in, n);
    n = snap_input(&snap_deep, PLACE_MAIN_STACK, 0, in);
    write_seed(dir, "deep-main-stack", in, n);
    n = snap_input(&snap_deep, PLACE_IN_PLACE, 6 << F_MAX_SHIFT, in); /* 1024 frames */
    write_seed(dir, "deep-in-place", in, n);
    n = snap_input(&snap_deep, PLACE_SPACE_TOP, 1 << F_MAX_SHIFT, in); /* 1 frame */
    write_seed(dir, "deep-space-top", in, n);
    n = snap_input(&snap_interrupted, PLACE_THREAD_STACK, 0, in);
    write_seed(dir, "interrupted-by-signal", in, n);
    n = snap_input(&snap_handler, PLACE_THREAD_STACK, 0, in);
    write_seed(dir, "inside-signal-handler", in, n);
    n = snap_input(&snap_handler, PLACE_USER_TOP, 0, in);
    write_seed(dir, "inside-signal-handler-user-top", in, n);

    sn = snap_deep;
    snap_call(&sn, vdso_symbol("__vdso_clock_gettime"));
    n = snap_input(&sn, PLACE_THREAD_STACK, 0, in);
    write_seed(dir, "called-vdso", in, n);
    sn = snap_deep;
    snap_call(&sn, 0);
    n = snap_input(&sn, PLACE_THREAD_STACK, 0, in);
    write_seed(dir, "called-null", in, n);

    /* The JVM's case: no unwind info at pc (JIT code, here a hole), and a
       frame pointer of 0xffffffffffffffff, which once wrapped the bounds
       check of the copy. The stack holds more of the same. */
    memset(in, 0xff, HEADER + 64);
    in[0] = PLACE_THREAD_STACK;
    in[1] = F_RSP_IS_LO;
    memset(in + 2, 0, 8);
    w = 0xa2ULL << 56 | (uint64_t)first_hole << 32;
    memcpy(in + 10 + 8 * REG_RIP, &w, 8);
    w = 0;
    memcpy(in + 10 + 8 * REG_RSP, &w, 8);
    write_seed(dir, "fp-all-ones", in, HEADER + 64);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *seeds = getenv("FUZZ_UNWIND_SEEDS");

    (void)argc;
    (void)argv;
    deps_load();
    if (!deps_unwind())
        die("libunwind (libunwind-x86_64.so.8) cannot be loaded: nothing to fuzz");
    if (!deps_dw())
        die("elfutils (libdw.so.1) cannot be loaded: nothing to fuzz");
    sym = symbolizer_new(0);
    if (!sym)
        die("symbolizer_new failed");
    thread_stack =
        mmap(NULL, THREAD_STACK + PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (thread_stack == MAP_FAILED || mprotect(thread_stack, PAGE, PROT_NONE) < 0)
        die("cannot map a thread stack");
    thread_stack += PAGE;
    take_snaps();
    if (maps_read(&maps) < 0)
        die("cannot read /proc/self/maps");
    setup_places();
    self_test();
    if (seeds) {
        write_seeds(seeds);
        exit(0);
    }
    return 0;
}
