/*
 * test_symbolize.c - elfutils finds a static function of this very test
 * binary by name, with the source line of a call in it.
 */
#include "deps.h"
#include "symbolize.h"

#include <check.h>
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
    void *ra = known_static_function();

    deps_load();
    s = symbolizer_new(0);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(symbolizer_refresh(s), 0);
    f = outermost(symbolize(s, (uintptr_t)ra, 0));
    ck_assert_str_eq(f->function, "known_static_function");
    ck_assert(f->has_offset);
    ck_assert_uint_eq(f->offset, (uintptr_t)ra - (uintptr_t)known_static_function);
    ck_assert_ptr_nonnull(f->file);
    ck_assert_ptr_nonnull(strstr(f->file, "test_symbolize.c"));
    ck_assert_int_eq(f->line, call_line);
    ck_assert_ptr_nonnull(strstr(f->module, "test_symbolize"));
    symbolizer_free(s);
}
END_TEST

START_TEST(libc_function_and_unknown_address)
{
    struct symbolizer *s;
    const struct sym_result *r;

    deps_load();
    s = symbolizer_new(0);
    ck_assert_int_eq(symbolizer_refresh(s), 0);
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
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("symbolize");
    TCase *tc = tcase_create("symbolize");

    tcase_add_test(tc, static_function_and_line);
    tcase_add_test(tc, libc_function_and_unknown_address);
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
