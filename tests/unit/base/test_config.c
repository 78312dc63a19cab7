/*
 * test_config.c - settings: defaults, environment, ini files, bad values.
 */
#include "base/config.h"
#include "base/signames.h"

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

/* Collects warnings so tests can assert on them. */
static char warnings[8192];
static int nwarnings;

static void collect(void *ctx, const char *msg)
{
    (void)ctx;
    nwarnings++;
    strncat(warnings, msg, sizeof(warnings) - strlen(warnings) - 2);
    strcat(warnings, "\n");
}

static void reset(struct gmr_config *cfg)
{
    warnings[0] = '\0';
    nwarnings = 0;
    memset(cfg, 0, sizeof(*cfg));
    config_defaults(cfg);
}

/* config_defaults writes values directly; they must be what the
   documented default texts parse to. */
START_TEST(defaults_are_the_documented_texts)
{
    static struct gmr_config direct, parsed;
    const char *why;
    int k;

    config_defaults(&direct);
    for (k = 0; k < CFG_COUNT; k++) {
        const char *text = config_default_text((enum cfg_key)k);

        if (text)
            ck_assert_msg(config_set(&parsed, (enum cfg_key)k, text, CFG_FROM_FILE, &why) == 0,
                          "%s: default %s rejected: %s", config_env_name((enum cfg_key)k), text,
                          why);
    }
    ck_assert_int_eq(direct.signal, parsed.signal);
    ck_assert_int_eq(direct.trigger_interval_ms, parsed.trigger_interval_ms);
    ck_assert_int_eq(direct.format, parsed.format);
    ck_assert_int_eq(direct.crash, parsed.crash);
    ck_assert_int_eq(direct.timeout_ms, parsed.timeout_ms);
    ck_assert_int_eq(direct.timeout_abort, parsed.timeout_abort);
    ck_assert_int_eq(direct.inherit, parsed.inherit);
    ck_assert_int_eq(direct.debuginfod, parsed.debuginfod);
    ck_assert_int_eq(direct.output, parsed.output);
    ck_assert_int_eq(direct.max_reports, parsed.max_reports);
    ck_assert_int_eq(direct.capture_signal, parsed.capture_signal);
    ck_assert_int_eq(direct.capture_timeout_ms, parsed.capture_timeout_ms);
    ck_assert_int_eq(direct.max_frames, parsed.max_frames);
    ck_assert_str_eq(config_redact(&direct), parsed.redact);
    memset(parsed.source, 0, sizeof(parsed.source));
    memset(parsed.redact, 0, sizeof(parsed.redact));
    ck_assert(!memcmp(&direct, &parsed, sizeof(direct))); /* and nothing else differs */
}
END_TEST

START_TEST(signal_names)
{
    ck_assert_int_eq(signal_parse("USR2"), SIGUSR2);
    ck_assert_int_eq(signal_parse("SIGUSR2"), SIGUSR2);
    ck_assert_int_eq(signal_parse("usr1"), SIGUSR1);
    ck_assert_int_eq(signal_parse("SigHup"), SIGHUP);
    ck_assert_int_eq(signal_parse("12"), 12);
    ck_assert_int_eq(signal_parse("none"), 0);
    ck_assert_int_eq(signal_parse("RTMIN"), SIGRTMIN);
    ck_assert_int_eq(signal_parse("RTMIN+4"), SIGRTMIN + 4);
    ck_assert_int_eq(signal_parse("SIGRTMAX-2"), SIGRTMAX - 2);
    ck_assert_int_eq(signal_parse("RTMIN+99"), -1);
    /* glibc's own (its SIGCANCEL and SIGSETXID), below SIGRTMIN. */
    ck_assert_int_eq(signal_parse("32"), -1);
    ck_assert_int_eq(signal_parse("33"), -1);
    ck_assert_int_eq(signal_parse("31"), SIGSYS);
    ck_assert_int_eq(signal_parse("RTMIN4"), -1);
    ck_assert_int_eq(signal_parse("0"), -1);
    ck_assert_int_eq(signal_parse("65"), -1);
    ck_assert_int_eq(signal_parse("USR3"), -1);
    ck_assert_int_eq(signal_parse(""), -1);
    ck_assert_int_eq(signal_parse("12x"), -1);
}
END_TEST

START_TEST(signal_name_roundtrip)
{
    char buf[32];
    int sig;

    ck_assert_str_eq(signal_name(SIGUSR2, buf, sizeof(buf)), "USR2");
    ck_assert_str_eq(signal_name(SIGRTMIN + 3, buf, sizeof(buf)), "RTMIN+3");
    ck_assert_str_eq(signal_name(SIGRTMAX - 1, buf, sizeof(buf)), "RTMAX-1");
    /* Every signal a program may use; not the C library's own, between. */
    for (sig = 1; sig <= SIGRTMAX; sig++)
        if (sig != SIGIOT && sig != SIGPOLL && (sig <= SIGSYS || sig >= SIGRTMIN))
            ck_assert_int_eq(signal_parse(signal_name(sig, buf, sizeof(buf))), sig);
}
END_TEST

START_TEST(defaults)
{
    struct gmr_config cfg;
    char buf[256];
    int k;

    reset(&cfg);
    ck_assert_int_eq(cfg.signal, SIGUSR2);
    ck_assert_int_eq(cfg.trigger_interval_ms, 1000);
    ck_assert_str_eq(cfg.log_dir, "");
    ck_assert_int_eq(cfg.format, FORMAT_TEXT);
    ck_assert_int_eq(cfg.crash, 1);
    ck_assert_int_eq(cfg.timeout_ms, 0);
    ck_assert_int_eq(cfg.inherit, 1);
    ck_assert_int_eq(cfg.debuginfod, 0);
    ck_assert_int_eq(cfg.capture_timeout_ms, 1000);
    ck_assert_int_eq(cfg.max_frames, 256);
    ck_assert_int_eq(cfg.output, OUTPUT_AUTO);
    ck_assert_int_eq(config_output(&cfg), OUTPUT_STDERR);
    ck_assert_int_eq(cfg.max_reports, 100);
    ck_assert_str_eq(config_redact(&cfg),
                     "*PASSWORD*,*PASSWD*,*SECRET*,*TOKEN*,*KEY*,*CREDENTIAL*,*AUTH*");
    for (k = 0; k < CFG_COUNT; k++)
        ck_assert_int_eq(cfg.source[k], CFG_FROM_DEFAULT);
    ck_assert_str_eq(config_value_text(&cfg, CFG_SIGNAL, buf, sizeof(buf)), "USR2");
    ck_assert_str_eq(config_value_text(&cfg, CFG_LOG_DIR, buf, sizeof(buf)), "(unset)");
}
END_TEST

START_TEST(environment_values)
{
    struct gmr_config cfg;
    char *env[] = {"PATH=/bin",
                   "GMR_SIGNAL=RTMIN+2",
                   "GMR_LOG_DIR=/var/log/gmr",
                   "GMR_FORMAT=JSON",
                   "GMR_CRASH=off",
                   "GMR_TIMEOUT=2.5",
                   "GMR_REDACT= *pw* , ,SECRET ",
                   "GMR_TRIGGER_INTERVAL=0.25",
                   "GMR_MAX_FRAMES=64",
                   "GMR_CONFIG=/ignored/here",
                   NULL};
    char buf[64];

    reset(&cfg);
    config_apply_env(&cfg, env, collect, NULL);
    ck_assert_msg(nwarnings == 0, "unexpected: %s", warnings);
    ck_assert_int_eq(cfg.signal, SIGRTMIN + 2);
    ck_assert_str_eq(cfg.log_dir, "/var/log/gmr");
    ck_assert_int_eq(cfg.format, FORMAT_JSON);
    ck_assert_int_eq(cfg.crash, 0);
    ck_assert_int_eq(cfg.timeout_ms, 2500);
    ck_assert_str_eq(config_redact(&cfg), "*pw*,SECRET");
    ck_assert_int_eq(cfg.trigger_interval_ms, 250);
    ck_assert_int_eq(cfg.max_frames, 64);
    ck_assert_int_eq(cfg.source[CFG_SIGNAL], CFG_FROM_ENV);
    ck_assert_int_eq(cfg.source[CFG_INHERIT], CFG_FROM_DEFAULT);
    ck_assert_str_eq(config_value_text(&cfg, CFG_TIMEOUT, buf, sizeof(buf)), "2.500");
}
END_TEST

START_TEST(bad_environment_values_keep_defaults)
{
    struct gmr_config cfg;
    char *env[] = {"GMR_SIGNAL=KILL",
                   "GMR_FORMAT=yaml",
                   "GMR_CRASH=maybe",
                   "GMR_TIMEOUT=-1",
                   "GMR_TIMEOUT=1e3",
                   "GMR_MAX_FRAMES=0",
                   "GMR_LOG_DIR=",
                   "GMR_TRIGGER_INTERVAL=0",
                   "GMR_CAPTURE_SIGNAL=USR1",
                   "GMR_REDACT=,,",
                   "GMR_WHAT=1",
                   "GMR_SIGNAL=SEGV",
                   NULL};

    reset(&cfg);
    config_apply_env(&cfg, env, collect, NULL);
    ck_assert_int_eq(nwarnings, 12);
    ck_assert_int_eq(cfg.signal, SIGUSR2);
    ck_assert_int_eq(cfg.format, FORMAT_TEXT);
    ck_assert_int_eq(cfg.crash, 1);
    ck_assert_int_eq(cfg.timeout_ms, 0);
    ck_assert_int_eq(cfg.max_frames, 256);
    ck_assert_str_eq(cfg.log_dir, "");
    ck_assert_int_eq(cfg.capture_signal, 0);
    ck_assert_ptr_nonnull(strstr(warnings, "GMR_SIGNAL='KILL': this signal cannot be a trigger; "
                                           "using USR2\n"));
    ck_assert_ptr_nonnull(strstr(warnings, "GMR_FORMAT='yaml': expected text or json; using text"));
    ck_assert_ptr_nonnull(strstr(warnings, "GMR_WHAT: unknown variable; ignored"));
    ck_assert_ptr_nonnull(strstr(warnings, "GMR_LOG_DIR='': empty value; using (unset)"));
}
END_TEST

START_TEST(overlong_value_is_clipped_in_message)
{
    struct gmr_config cfg;
    char value[6000], var[6100];
    char *env[] = {var, NULL};

    memset(value, 'x', sizeof(value) - 1);
    value[sizeof(value) - 1] = '\0';
    snprintf(var, sizeof(var), "GMR_LOG_DIR=%s", value);
    reset(&cfg);
    config_apply_env(&cfg, env, collect, NULL);
    ck_assert_int_eq(nwarnings, 1);
    ck_assert_ptr_nonnull(strstr(warnings, "value too long"));
    ck_assert_uint_lt(strlen(warnings), 400);
    ck_assert_str_eq(cfg.log_dir, "");
}
END_TEST

static const char oslo_ini[] = "# a nova.conf, say\n"
                               "[DEFAULT]\n"
                               "debug = true\n"
                               "\n"
                               "[oslo_reports]\n"
                               "log_dir = /var/log/nova/gmr\n"
                               "file_event_handler = /var/run/nova/gmr-trigger\n"
                               "file_event_handler_interval = 5\n"
                               "[gmr]\n"
                               "; libgmr's own\n"
                               "signal = USR1\n"
                               "format=json\n";

START_TEST(output_and_retention)
{
    struct gmr_config cfg;
    char *env[] = {"GMR_OUTPUT=Journal", "GMR_MAX_REPORTS=0", NULL};
    char *bad[] = {"GMR_OUTPUT=syslog",       "GMR_MAX_REPORTS=-1", "GMR_MAX_REPORTS=5x",
                   "GMR_MAX_REPORTS=1000001", "GMR_OUTPUT=",        NULL};
    const char ini[] = "[gmr]\noutput = files\nmax_reports = 7\n[oslo_reports]\nlog_dir = /l\n";
    char buf[64];

    reset(&cfg);
    config_apply_env(&cfg, env, collect, NULL);
    ck_assert_msg(nwarnings == 0, "unexpected: %s", warnings);
    ck_assert_int_eq(config_output(&cfg), OUTPUT_JOURNAL);
    ck_assert_int_eq(cfg.max_reports, 0);
    ck_assert_str_eq(config_value_text(&cfg, CFG_OUTPUT, buf, sizeof(buf)), "journal");
    ck_assert_str_eq(config_value_text(&cfg, CFG_MAX_REPORTS, buf, sizeof(buf)), "0");

    reset(&cfg);
    config_apply_env(&cfg, bad, collect, NULL);
    ck_assert_int_eq(nwarnings, 5);
    ck_assert_int_eq(cfg.output, OUTPUT_AUTO);
    ck_assert_int_eq(cfg.max_reports, 100);
    ck_assert_ptr_nonnull(strstr(warnings, "GMR_OUTPUT='syslog': expected stderr, files or "
                                           "journal; using files with a log directory, else "
                                           "stderr\n"));
    ck_assert_ptr_nonnull(strstr(warnings, "GMR_MAX_REPORTS='5x': expected a whole number from 0 "
                                           "(keep all) to 1000000; using 100\n"));

    /* Unset, the output follows the log dir. */
    reset(&cfg);
    config_apply_ini(&cfg, "/etc/g.ini", ini, sizeof(ini) - 1, collect, NULL);
    config_check(&cfg, collect, NULL);
    ck_assert_msg(nwarnings == 0, "unexpected: %s", warnings);
    ck_assert_int_eq(config_output(&cfg), OUTPUT_FILES);
    ck_assert_int_eq(cfg.source[CFG_OUTPUT], CFG_FROM_FILE);
    ck_assert_int_eq(cfg.max_reports, 7);
    reset(&cfg);
    config_set(&cfg, CFG_LOG_DIR, "/var/log/gmr", CFG_FROM_ENV, &(const char *){NULL});
    ck_assert_int_eq(config_output(&cfg), OUTPUT_FILES);
    ck_assert_str_eq(config_value_text(&cfg, CFG_OUTPUT, buf, sizeof(buf)), "files");
}
END_TEST

START_TEST(files_without_a_log_dir_use_stderr)
{
    struct gmr_config cfg;
    char *env[] = {"GMR_OUTPUT=files", NULL};

    reset(&cfg);
    config_apply_env(&cfg, env, collect, NULL);
    ck_assert_int_eq(nwarnings, 0);
    config_check(&cfg, collect, NULL);
    ck_assert_int_eq(nwarnings, 1);
    ck_assert_str_eq(warnings,
                     "GMR_OUTPUT=files: no log directory is set (GMR_LOG_DIR); using stderr\n");
    ck_assert_int_eq(config_output(&cfg), OUTPUT_STDERR);
}
END_TEST

START_TEST(oslo_reports_section)
{
    struct gmr_config cfg;

    reset(&cfg);
    config_apply_ini(&cfg, "nova.conf", oslo_ini, strlen(oslo_ini), collect, NULL);
    ck_assert_msg(nwarnings == 0, "unexpected: %s", warnings);
    ck_assert_str_eq(cfg.log_dir, "/var/log/nova/gmr");
    ck_assert_str_eq(cfg.trigger_file, "/var/run/nova/gmr-trigger");
    ck_assert_int_eq(cfg.trigger_interval_ms, 5000);
    ck_assert_int_eq(cfg.signal, SIGUSR1);
    ck_assert_int_eq(cfg.format, FORMAT_JSON);
    ck_assert_int_eq(cfg.source[CFG_LOG_DIR], CFG_FROM_FILE);
}
END_TEST

START_TEST(environment_wins_over_file)
{
    struct gmr_config cfg;
    char *env[] = {"GMR_LOG_DIR=/from/env", NULL};

    reset(&cfg);
    config_apply_ini(&cfg, "f.ini", oslo_ini, strlen(oslo_ini), collect, NULL);
    config_apply_env(&cfg, env, collect, NULL);
    ck_assert_str_eq(cfg.log_dir, "/from/env");
    ck_assert_int_eq(cfg.source[CFG_LOG_DIR], CFG_FROM_ENV);
    ck_assert_int_eq(cfg.signal, SIGUSR1);
}
END_TEST

START_TEST(bad_env_keeps_file_value)
{
    struct gmr_config cfg;
    char *env[] = {"GMR_SIGNAL=nope", NULL};

    reset(&cfg);
    config_apply_ini(&cfg, "f.ini", oslo_ini, strlen(oslo_ini), collect, NULL);
    config_apply_env(&cfg, env, collect, NULL);
    ck_assert_int_eq(cfg.signal, SIGUSR1);
    ck_assert_ptr_nonnull(strstr(warnings, "GMR_SIGNAL='nope': not a signal name or number; "
                                           "using USR1"));
}
END_TEST

START_TEST(garbage_file_reports_lines_and_keeps_the_rest)
{
    static const char text[] = "[gmr\n"
                               "signal = USR1\n"
                               "[gmr]\n"
                               "this is not a pair\n"
                               "sginal = USR1\n"
                               "max_frames = lots\n"
                               "= value\n"
                               "timeout = 7\n"
                               "[oslo_reports]\n"
                               "format = json\n"
                               "\x01\x02\xff\xfe = \x80\n";
    struct gmr_config cfg;

    reset(&cfg);
    config_apply_ini(&cfg, "/etc/g.ini", text, sizeof(text) - 1, collect, NULL);
    ck_assert_int_eq(cfg.timeout_ms, 7000);
    ck_assert_int_eq(cfg.signal, SIGUSR2); /* under the broken header: ignored */
    ck_assert_int_eq(cfg.max_frames, 256);
    ck_assert_int_eq(cfg.format, FORMAT_TEXT);
    ck_assert_ptr_nonnull(strstr(warnings, "/etc/g.ini:1: section header without closing ']'"));
    ck_assert_ptr_nonnull(strstr(warnings, "/etc/g.ini:4: expected 'key = value'; line ignored"));
    ck_assert_ptr_nonnull(strstr(warnings, "/etc/g.ini:5: [gmr] sginal: unknown key; ignored"));
    ck_assert_ptr_nonnull(strstr(warnings, "/etc/g.ini:6: [gmr] max_frames='lots'"));
    ck_assert_ptr_nonnull(strstr(warnings, "/etc/g.ini:7: empty key"));
    ck_assert_ptr_nonnull(strstr(warnings, "/etc/g.ini:10: [oslo_reports] format: unknown key"));
}
END_TEST

START_TEST(nul_bytes_and_long_lines)
{
    static char text[10000];
    struct gmr_config cfg;
    size_t n;

    memset(text, 'a', 5000);
    n = 5000;
    memcpy(text + n, "\n[gmr]\nsig\0nal = USR1\nsignal = HUP\n", 35);
    n += 35;
    reset(&cfg);
    config_apply_ini(&cfg, "x", text, n, collect, NULL);
    ck_assert_int_eq(cfg.signal, SIGHUP);
    ck_assert_ptr_nonnull(strstr(warnings, "x:1: line too long"));
    ck_assert_ptr_nonnull(strstr(warnings, "x:3: NUL byte in line"));
}
END_TEST

START_TEST(relative_paths_become_absolute)
{
    struct gmr_config cfg;
    char *env[] = {"GMR_LOG_DIR=logs", "GMR_TRIGGER_FILE=/abs/trigger", NULL};

    reset(&cfg);
    config_apply_env(&cfg, env, collect, NULL);
    config_absolutize(&cfg, "/srv/app");
    ck_assert_str_eq(cfg.log_dir, "/srv/app/logs");
    ck_assert_str_eq(cfg.trigger_file, "/abs/trigger");
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("config");

    tcase_add_test(tc, signal_names);
    tcase_add_test(tc, signal_name_roundtrip);
    tcase_add_test(tc, defaults);
    tcase_add_test(tc, environment_values);
    tcase_add_test(tc, bad_environment_values_keep_defaults);
    tcase_add_test(tc, overlong_value_is_clipped_in_message);
    tcase_add_test(tc, output_and_retention);
    tcase_add_test(tc, files_without_a_log_dir_use_stderr);
    tcase_add_test(tc, oslo_reports_section);
    tcase_add_test(tc, environment_wins_over_file);
    tcase_add_test(tc, bad_env_keeps_file_value);
    tcase_add_test(tc, garbage_file_reports_lines_and_keeps_the_rest);
    tcase_add_test(tc, nul_bytes_and_long_lines);
    tcase_add_test(tc, relative_paths_become_absolute);
    tcase_add_test(tc, defaults_are_the_documented_texts);
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
