/*
 * test_symbolize.c - elfutils finds a static function of this very test
 * binary by name, with the source line of a call in it; results outlive
 * elfutils (symbolizer_shed) and are forgotten when the code mapped
 * changes; the symcache underneath copies, interns and gives back.
 * Mangled names are shown demangled, C++ and Rust's legacy mangling alike,
 * with the symbol as found beside (run under valgrind, this also shows
 * that every demangled string is given back).
 */
#include "symbols/deps.h"
#include "base/maps.h"
#include "symbols/symbolize.h"
#include "symbols/symcache.h"

#include <check.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int call_line;

/* Calls fn and notes the line of the call: __LINE__ of a macro's use. */
#define CALL_AND_NOTE_LINE(fn) (call_line = __LINE__, fn())

static __attribute__((noinline)) void *return_address(void)
{
    void *ra = __builtin_return_address(0);
    __asm__ volatile("" ::: "memory");
    return ra;
}

/* Static and not exported: only .symtab names it. */
static __attribute__((noinline)) void *known_static_function(void)
{
    void *ra = CALL_AND_NOTE_LINE(return_address);
    __asm__ volatile("" ::: "memory");
    return ra;
}

/* Functions named as a C++ compiler and rustc name theirs. */
#define MANGLED(fn, symbol)                                                                        \
    static __attribute__((noinline, used)) int fn(void) __asm__(symbol);                           \
    static __attribute__((noinline, used)) int fn(void)                                            \
    {                                                                                              \
        __asm__ volatile("" ::: "memory");                                                         \
        return __LINE__;                                                                           \
    }
MANGLED(cxx_method, "_ZN3app6Worker5depthEi")
MANGLED(cxx_anonymous, "_ZN12_GLOBAL__N_16hiddenEi")
MANGLED(rust_plain, "_ZN7threads4main17h0123456789abcdefE")
MANGLED(rust_escapes,
        "_ZN4core3ptr85drop_in_place$LT$std..rt..lang_start$LT$$LP$$RP$$GT$..$u7b$$u7b$"
        "closure$u7d$$u7d$$GT$17h0123456789abcdefE")
MANGLED(rust_llvm_suffix, "_ZN3std2rt10lang_start17hfedcba9876543210E.llvm.4F2A1B")
/* The shape of a Rust name, but no Rust hash (upper-case hex): C++'s. */
MANGLED(cxx_not_rust, "_ZN7threads4main17h0123456789ABCDEFE")

/* The symbolizer keeps the map until the next refresh: the caller owns it. */
static void refresh(struct symbolizer *s, struct maps *maps)
{
    ck_assert_int_eq(maps_read(maps), 0);
    symbolizer_refresh(s, maps);
}

static const struct sym_frame *outermost(const struct sym_result *r)
{
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_gt(r->n, 0);
    return &r->frames[r->n - 1];
}

START_TEST(static_function_and_line)
{
    struct symbolizer *s;
    const struct sym_frame *f;
    struct maps maps;
    void *ra = known_static_function();

    deps_load();
    s = symbolizer_new(0);
    ck_assert_ptr_nonnull(s);
    refresh(s, &maps);
    f = outermost(symbolize(s, (uintptr_t)ra, 0));
    ck_assert_str_eq(f->function, "known_static_function");
    ck_assert(f->has_offset);
    ck_assert_uint_eq(f->offset, (uintptr_t)ra - (uintptr_t)known_static_function);
    ck_assert_ptr_nonnull(f->file);
    ck_assert_ptr_nonnull(strstr(f->file, "test_symbolize.c"));
    ck_assert_int_eq(f->line, call_line);
    ck_assert_ptr_nonnull(strstr(f->module, "test_symbolize"));
    symbolizer_free(s);
    maps_free(&maps);
}
END_TEST

START_TEST(libc_function_and_unknown_address)
{
    struct symbolizer *s;
    const struct sym_result *r;
    struct maps maps;

    deps_load();
    s = symbolizer_new(0);
    refresh(s, &maps);
    /* getpid: a libc function no sanitizer runtime intercepts. */
    r = symbolize(s, (uintptr_t)getpid, 1);
    ck_assert_ptr_nonnull(strstr(outermost(r)->module, "libc.so"));
    ck_assert_ptr_nonnull(outermost(r)->function);
    /* The same address twice is served from the cache. */
    ck_assert_ptr_eq(symbolize(s, (uintptr_t)getpid, 1), r);
    r = symbolize(s, 16, 1);
    ck_assert_ptr_null(outermost(r)->module);
    ck_assert_ptr_null(outermost(r)->function);
    symbolizer_free(s);
    maps_free(&maps);
}
END_TEST

START_TEST(results_outlive_elfutils_until_the_code_changes)
{
    struct symbolizer *s;
    const struct sym_result *r;
    struct maps maps;
    char name[128];

    deps_load();
    s = symbolizer_new(0);
    refresh(s, &maps);
    r = symbolize(s, (uintptr_t)known_static_function, 1);
    snprintf(name, sizeof(name), "%s", outermost(r)->function);
    symbolizer_shed(s);
    maps_free(&maps);
    /* Same map: the result, strings and all, is still there. */
    refresh(s, &maps);
    ck_assert_ptr_eq(symbolize(s, (uintptr_t)known_static_function, 1), r);
    ck_assert_str_eq(outermost(r)->function, name);
    symbolizer_shed(s);
    maps_free(&maps);
    /* A map with code elsewhere: looked up afresh, and still right. */
    ck_assert_int_eq(maps_read(&maps), 0);
    maps.n = maps.n > 1 ? maps.n - 1 : 0;
    symbolizer_refresh(s, &maps);
    r = symbolize(s, (uintptr_t)known_static_function, 1);
    ck_assert_str_eq(outermost(r)->function, "known_static_function");
    symbolizer_free(s);
    maps_free(&maps);
}
END_TEST

START_TEST(symcache_copies_interns_and_gives_back)
{
    struct symcache c;
    struct sym_frame f[2];
    struct sym_result in = {2, f};
    const struct sym_result *a, *b;
    char fn[32];
    uintptr_t k;

    memset(&c, 0, sizeof(c));
    memset(f, 0, sizeof(f));
    snprintf(fn, sizeof(fn), "inner");
    f[0].function = fn;
    f[0].inlined = 1;
    f[1].function = "outer";
    f[1].file = "x.c";
    f[1].line = 7;
    a = symcache_put(&c, 1, &in);
    fn[0] = 'X'; /* the cache holds a copy */
    ck_assert_str_eq(a->frames[0].function, "inner");
    ck_assert_int_eq(a->frames[1].line, 7);
    ck_assert_ptr_ne(a->frames[1].function, f[1].function);
    /* Many more keys: the table grows, earlier results stay put. */
    for (k = 2; k < 5000; k++)
        ck_assert_ptr_nonnull(symcache_put(&c, k << 4, &in));
    ck_assert_ptr_eq(symcache_find(&c, 1), a);
    b = symcache_find(&c, 4999 << 4);
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_eq(b->frames[1].function, a->frames[1].function); /* interned */
    ck_assert_ptr_null(symcache_find(&c, 3));
    ck_assert_uint_gt(symcache_bytes(&c), 0);
    symcache_clear(&c);
    ck_assert_uint_eq(symcache_bytes(&c), 0);
    ck_assert_ptr_null(symcache_find(&c, 1));
}
END_TEST

static void check_name(struct symbolizer *s, int (*fn)(void), const char *shown, const char *raw)
{
    const struct sym_frame *f = outermost(symbolize(s, (uintptr_t)fn, 1));

    ck_assert_str_eq(f->function, shown);
    ck_assert_str_eq(f->raw, raw);
}

START_TEST(mangled_names_shown_demangled)
{
    struct symbolizer *s;
    struct maps maps;

    deps_load();
    ck_assert_ptr_nonnull(deps_demangler());
    s = symbolizer_new(0);
    refresh(s, &maps);
    check_name(s, cxx_method, "app::Worker::depth(int)", "_ZN3app6Worker5depthEi");
    check_name(s, cxx_anonymous, "(anonymous namespace)::hidden(int)",
               "_ZN12_GLOBAL__N_16hiddenEi");
    check_name(s, rust_plain, "threads::main", "_ZN7threads4main17h0123456789abcdefE");
    check_name(s, rust_escapes, "core::ptr::drop_in_place<std::rt::lang_start<()>::{{closure}}>",
               "_ZN4core3ptr85drop_in_place$LT$std..rt..lang_start$LT$$LP$$RP$$GT$..$u7b$$u7b$"
               "closure$u7d$$u7d$$GT$17h0123456789abcdefE");
    check_name(s, rust_llvm_suffix, "std::rt::lang_start",
               "_ZN3std2rt10lang_start17hfedcba9876543210E.llvm.4F2A1B");
    check_name(s, cxx_not_rust, "threads::main::h0123456789ABCDEF",
               "_ZN7threads4main17h0123456789ABCDEFE");
    /* A name that is not mangled has no raw form. */
    ck_assert_ptr_null(outermost(symbolize(s, (uintptr_t)known_static_function, 1))->raw);
    symbolizer_free(s);
    maps_free(&maps);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("symbolize");
    TCase *tc = tcase_create("symbolize");

    tcase_add_test(tc, static_function_and_line);
    tcase_add_test(tc, libc_function_and_unknown_address);
    tcase_add_test(tc, results_outlive_elfutils_until_the_code_changes);
    tcase_add_test(tc, symcache_copies_interns_and_gives_back);
    tcase_add_test(tc, mangled_names_shown_demangled);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    int failed;

    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
