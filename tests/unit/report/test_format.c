/*
 * test_format.c - the pure pieces of output: redaction, escaping, UTC
 * time and report file names.
 */
#include "base/buf.h"
#include "render/emit.h"
#include "base/redact.h"
#include "report/sink.h"
#include "base/timefmt.h"

#include <check.h>
#include <string.h>

START_TEST(globs)
{
    ck_assert(redact_glob("*KEY*", 5, "api_key", 7));
    ck_assert(redact_glob("*KEY*", 5, "KEY", 3));
    ck_assert(!redact_glob("*KEY*", 5, "KY", 2));
    ck_assert(redact_glob("A?C", 3, "abc", 3));
    ck_assert(!redact_glob("A?C", 3, "abcd", 4));
    ck_assert(redact_glob("*", 1, "", 0));
    ck_assert(redact_glob("a*b*c", 5, "aXXbYYbZc", 9));
    ck_assert(!redact_glob("a*b*c", 5, "aXXbYYbZ", 8));
    ck_assert(redact_glob("**x", 3, "x", 1));
}
END_TEST

START_TEST(secret_names)
{
    const char *def = "*PASSWORD*,*PASSWD*,*SECRET*,*TOKEN*,*KEY*,*CREDENTIAL*,*AUTH*";

    ck_assert(redact_name(def, "DB_PASSWORD", 11));
    ck_assert(redact_name(def, "github_token", 12));
    ck_assert(redact_name(def, "AWS_SECRET_ACCESS_KEY", 21));
    ck_assert(redact_name(def, "OAuthClient", 11));
    ck_assert(!redact_name(def, "PATH", 4));
    ck_assert(!redact_name(def, "HOME", 4));
    ck_assert(!redact_name("", "DB_PASSWORD", 11));
    /* Only the first nlen bytes count: "PATH=..." is the name PATH. */
    ck_assert(!redact_name(def, "PATH=token", 4));
}
END_TEST

static void check_cmdline(const char *args, size_t len, const char *expect, int masked)
{
    struct buf out = {0};

    ck_assert_int_eq(redact_cmdline("*PASSWORD*,*TOKEN*,*KEY*", args, len, &out), masked);
    ck_assert_str_eq(buf_cstr(&out), expect);
    buf_free(&out);
}

START_TEST(command_lines)
{
    static const char a[] = "prog\0--db-password=x\0--verbose\0";
    static const char b[] = "prog\0--token\0abc\0-v\0--api-key\0--other\0";
    static const char c[] = "--password=self\0--password\0";
    static const char d[] = "prog\0with space\0\0";
    static const char title[] = "nginx: worker\0\0\0\0\0";
    static const char inner[] = "prog\0\0x\0";

    check_cmdline(a, sizeof(a) - 1, "prog --db-password=*** --verbose", 1);
    check_cmdline(b, sizeof(b) - 1, "prog --token *** -v --api-key --other", 1);
    /* argv[0] is never taken for an option; a flag at the end masks nothing. */
    check_cmdline(c, sizeof(c) - 1, "--password=self --password", 0);
    /* Empty arguments: left out at the end (a title's padding), kept
       inside. */
    check_cmdline(d, sizeof(d) - 1, "prog 'with space'", 0);
    check_cmdline(title, sizeof(title) - 1, "'nginx: worker'", 0);
    check_cmdline(inner, sizeof(inner) - 1, "prog '' x", 0);
}
END_TEST

static const char *escaped(void (*fn)(struct buf *, const char *), const char *in)
{
    static struct buf b;

    buf_reset(&b);
    fn(&b, in);
    return buf_cstr(&b);
}

START_TEST(text_escaping)
{
    ck_assert_str_eq(escaped(emit_escaped_text, "plain é"), "plain é");
    ck_assert_str_eq(escaped(emit_escaped_text, "a\nb\tc\\d\x01\x7f"), "a\\nb\\tc\\\\d\\x01\\x7f");
}
END_TEST

START_TEST(json_escaping)
{
    ck_assert_str_eq(escaped(emit_escaped_json, "q\"b\\"), "q\\\"b\\\\");
    ck_assert_str_eq(escaped(emit_escaped_json, "\x01\n"), "\\u0001\\n");
    ck_assert_str_eq(escaped(emit_escaped_json, "é€😀"), "é€😀");
    /* Invalid UTF-8: a lone continuation, an overlong '/', a surrogate,
       a truncated sequence. */
    ck_assert_str_eq(escaped(emit_escaped_json, "a\x80z"), "a\\ufffdz");
    ck_assert_str_eq(escaped(emit_escaped_json, "\xc0\xaf"), "\\ufffd\\ufffd");
    ck_assert_str_eq(escaped(emit_escaped_json, "\xed\xa0\x80"), "\\ufffd\\ufffd\\ufffd");
    ck_assert_str_eq(escaped(emit_escaped_json, "\xe2\x82"), "\\ufffd\\ufffd");
    ck_assert_str_eq(escaped(emit_escaped_json, "\xf4\x90\x80\x80"),
                     "\\ufffd\\ufffd\\ufffd\\ufffd");
}
END_TEST

START_TEST(utc_time)
{
    char stamp[15], iso[21];

    time_stamp(0, stamp);
    ck_assert_str_eq(stamp, "19700101000000");
    time_iso8601(951782400, iso); /* a leap day */
    ck_assert_str_eq(iso, "2000-02-29T00:00:00Z");
    time_stamp(1795346471, stamp); /* date -u -d @1795346471 */
    ck_assert_str_eq(stamp, "20261122112111");
    time_iso8601(4107542399LL, iso);
    ck_assert_str_eq(iso, "2100-02-28T23:59:59Z");
}
END_TEST

START_TEST(file_names)
{
    struct sink_target t = {
        .log_dir = "/tmp", .service = "nova-api", .pid = 4242, .when = 1795346471};
    char name[256];

    ck_assert_uint_gt(sink_file_name(name, sizeof(name), &t, 0), 0);
    ck_assert_str_eq(name, "nova-api_gurumeditation_20261122112111_4242");
    sink_file_name(name, sizeof(name), &t, 3);
    ck_assert_str_eq(name, "nova-api_gurumeditation_20261122112111_4242.3");
    t.json = 1;
    sink_file_name(name, sizeof(name), &t, 2);
    ck_assert_str_eq(name, "nova-api_gurumeditation_20261122112111_4242.2.json");
    t.service = "../../etc/pass wd";
    t.json = 0;
    sink_file_name(name, sizeof(name), &t, 0);
    ck_assert_str_eq(name, "_._.._etc_pass_wd_gurumeditation_20261122112111_4242");
    t.service = "";
    sink_file_name(name, sizeof(name), &t, 0);
    ck_assert_str_eq(name, "process_gurumeditation_20261122112111_4242");
    ck_assert_uint_eq(sink_file_name(name, 10, &t, 0), 0);
}
END_TEST

START_TEST(fixed_buffer_never_overflows)
{
    char mem[8];
    struct buf b;

    buf_init_fixed(&b, mem, sizeof(mem));
    buf_str(&b, "1234567");
    ck_assert(!b.failed);
    buf_str(&b, "89");
    ck_assert(b.failed);
    ck_assert_str_eq(buf_cstr(&b), "1234567");
}
END_TEST

START_TEST(numbers)
{
    struct buf b = {0};

    buf_dec(&b, -42);
    buf_char(&b, ' ');
    buf_hex(&b, 0x1f, 4);
    buf_char(&b, ' ');
    buf_udec(&b, 18446744073709551615ULL);
    ck_assert_str_eq(buf_cstr(&b), "-42 0x001f 18446744073709551615");
    buf_free(&b);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("format");
    TCase *tc = tcase_create("format");

    tcase_add_test(tc, globs);
    tcase_add_test(tc, secret_names);
    tcase_add_test(tc, command_lines);
    tcase_add_test(tc, text_escaping);
    tcase_add_test(tc, json_escaping);
    tcase_add_test(tc, utc_time);
    tcase_add_test(tc, file_names);
    tcase_add_test(tc, fixed_buffer_never_overflows);
    tcase_add_test(tc, numbers);
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
