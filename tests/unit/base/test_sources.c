/*
 * test_sources.c - readers of system files: /proc/net socket tables and
 * the dpkg database (a fake one, built here).
 */
#include "base/dpkg.h"
#include "base/netsock.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

START_TEST(tcp_v4)
{
    struct sock_info s;
    /* A line as /proc/net/tcp prints it (memcached listening on 11211). */
    const char *line = "   0: 0100007F:2BCB 00000000:0000 0A 00000000:00000000 00:00000000 "
                       "00000000   104        0 123456 1 0000000000000000 100 0 0 10 0";

    ck_assert_int_eq(netsock_parse_inet(line, "tcp", 0, &s), 0);
    ck_assert_str_eq(s.local, "127.0.0.1:11211");
    ck_assert_str_eq(s.remote, "");
    ck_assert_str_eq(s.state, "LISTEN");
    ck_assert_uint_eq(s.inode, 123456);
    line = "   1: 0100007F:C350 0100007F:2BCB 01 00000000:00000000 00:00000000 00000000  0 "
           "0 777 1 0000000000000000 20 4 30 10 -1";
    ck_assert_int_eq(netsock_parse_inet(line, "tcp", 0, &s), 0);
    ck_assert_str_eq(s.local, "127.0.0.1:50000");
    ck_assert_str_eq(s.remote, "127.0.0.1:11211");
    ck_assert_str_eq(s.state, "ESTABLISHED");
    ck_assert_int_eq(
        netsock_parse_inet("  sl  local_address rem_address   st tx_queue", "tcp", 0, &s), -1);
}
END_TEST

START_TEST(tcp_v6_and_udp)
{
    struct sock_info s;
    const char *line = "   0: 00000000000000000000000001000000:0050 "
                       "00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 "
                       "00000000     0        0 42 1 0000000000000000 100 0 0 10 0";

    ck_assert_int_eq(netsock_parse_inet(line, "tcp6", 1, &s), 0);
    ck_assert_str_eq(s.local, "[::1]:80");
    ck_assert_str_eq(s.remote, "");
    line = "  711: 00000000:0044 00000000:0000 07 00000000:00000000 00:00000000 00000000     0  "
           "      0 99 2 0000000000000000 0";
    ck_assert_int_eq(netsock_parse_inet(line, "udp", 0, &s), 0);
    ck_assert_str_eq(s.local, "0.0.0.0:68");
    ck_assert_str_eq(s.state, "UNCONNECTED");
}
END_TEST

START_TEST(unix_sockets)
{
    struct sock_info s;

    ck_assert_int_eq(netsock_parse_unix("0000000000000000: 00000002 00000000 00010000 0001 01 "
                                        "31337 /run/daemon.sock",
                                        &s),
                     0);
    ck_assert_uint_eq(s.inode, 31337);
    ck_assert_str_eq(s.state, "STREAM");
    ck_assert_str_eq(s.local, "/run/daemon.sock");
    ck_assert_int_eq(netsock_parse_unix("0000000000000000: 00000003 00000000 00000000 0002 03 "
                                        "555",
                                        &s),
                     0);
    ck_assert_str_eq(s.state, "DGRAM");
    ck_assert_str_eq(s.remote, "(connected)");
    ck_assert_int_eq(
        netsock_parse_unix("Num       RefCount Protocol Flags    Type St Inode Path", &s), -1);
}
END_TEST

static char admindir[64];

static void put(const char *name, const char *text)
{
    char path[256];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", admindir, name);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static void fake_dpkg(void)
{
    char info[128];

    snprintf(admindir, sizeof(admindir), "/tmp/gmr-dpkg-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(admindir));
    snprintf(info, sizeof(info), "%s/info", admindir);
    mkdir(info, 0755);
    put("info/foo.list", "/.\n/usr\n/usr/bin\n/usr/bin/foo\n/usr/share/doc/foo\n");
    put("info/libzap1:amd64.list", "/.\n/bin/zapper\n/usr/lib/libzap.so.1\n");
    put("info/decoy.list", "/usr/bin/foobar\n/usr/bin/fo\n/home/me/bin/tool\n");
    put("status", "Package: decoy\nStatus: install ok installed\nVersion: 9\n\n"
                  "Package: libzap1\nStatus: deinstall ok config-files\nVersion: 0.9\n\n"
                  "Package: libzap1\nStatus: install ok installed\nArchitecture: amd64\n"
                  "Version: 1.2-3\n\n"
                  "Package: foo\nStatus: install ok installed\nVersion: 2:4.5-1\n");
}

static void remove_fake_dpkg(void)
{
    static const char *const files[] = {
        "info/foo.list", "info/libzap1:amd64.list", "info/decoy.list", "status", "info", ""};
    char path[256];
    size_t i;

    for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", admindir, files[i]);
        remove(path);
    }
}

START_TEST(dpkg_lookup)
{
    char pkg[64], version[64];

    fake_dpkg();
    ck_assert_int_eq(
        dpkg_owner(admindir, "/usr/bin/foo", pkg, sizeof(pkg), version, sizeof(version)), 0);
    ck_assert_str_eq(pkg, "foo");
    ck_assert_str_eq(version, "2:4.5-1");
    /* usrmerge: the kernel says /usr/bin/zapper, dpkg lists /bin/zapper;
       and the package name is not the file's. */
    ck_assert_int_eq(
        dpkg_owner(admindir, "/usr/bin/zapper", pkg, sizeof(pkg), version, sizeof(version)), 0);
    ck_assert_str_eq(pkg, "libzap1");
    ck_assert_str_eq(version, "1.2-3");
    /* Outside the trees packages install into, no search at all (the fake
       list claims it, which dpkg never would). */
    ck_assert_int_eq(
        dpkg_owner(admindir, "/home/me/bin/tool", pkg, sizeof(pkg), version, sizeof(version)), -1);
    /* A prefix of a listed path is not a match. */
    ck_assert_int_eq(
        dpkg_owner(admindir, "/usr/bin/foob", pkg, sizeof(pkg), version, sizeof(version)), -1);
    ck_assert_int_eq(
        dpkg_owner("/nonexistent", "/usr/bin/foo", pkg, sizeof(pkg), version, sizeof(version)), -1);
    remove_fake_dpkg();
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("sources");
    TCase *tc = tcase_create("sources");

    tcase_add_test(tc, tcp_v4);
    tcase_add_test(tc, tcp_v6_and_udp);
    tcase_add_test(tc, unix_sockets);
    tcase_add_test(tc, dpkg_lookup);
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
