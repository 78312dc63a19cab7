/*
 * apiuse.c - libgmr's public API at its edges, for the integration tests.
 *
 * Linked against nothing: the functions are weak and libgmr is preloaded.
 * Registers sections that misbehave (unbalanced, too deep, NULL keys,
 * control characters, invalid UTF-8), checks registration rules, calls
 * gmr_report from four threads at once and from inside a section, and
 * unregisters a section while a report runs it. Prints one line per
 * check ("<name> <result>"), then "ready <pid>".
 */
#include <gmr.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#pragma weak gmr_register_section
#pragma weak gmr_unregister_section
#pragma weak gmr_report
#pragma weak gmr_emit_str
#pragma weak gmr_emit_int
#pragma weak gmr_emit_text
#pragma weak gmr_emit_begin_object
#pragma weak gmr_emit_end_object
#pragma weak gmr_emit_begin_list
#pragma weak gmr_emit_end_list

static atomic_int slow_running, slow_calls, deadlock_errno = -1;

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, ms % 1000 * 1000000};
    nanosleep(&ts, NULL);
}

static void unbalanced(struct gmr_emitter *e, void *arg)
{
    (void)arg;
    gmr_emit_begin_object(e, "open");
    gmr_emit_begin_list(e, "never closed");
    gmr_emit_str(e, "ignored key", "item");
    gmr_emit_end_object(e); /* wrong kind: ignored */
}

static void deep(struct gmr_emitter *e, void *arg)
{
    int i;

    (void)arg;
    for (i = 0; i < 40; i++)
        gmr_emit_begin_object(e, "level");
    gmr_emit_int(e, "bottom", 40);
    for (i = 0; i < 45; i++) /* more ends than begins */
        gmr_emit_end_object(e);
    gmr_emit_str(e, "after", "still fine");
}

static void weird(struct gmr_emitter *e, void *arg)
{
    (void)arg;
    gmr_emit_str(e, NULL, "no key");
    gmr_emit_str(e, "newline\nkey", "value\twith\ncontrols\x01");
    gmr_emit_str(e, "latin1", "caf\xe9 \xff\xfe");
    gmr_emit_str(e, "null value", NULL);
    gmr_emit_text(e, NULL);
    gmr_emit_text(e, "quote \" and backslash \\");
}

static void reentrant(struct gmr_emitter *e, void *arg)
{
    (void)arg;
    if (gmr_report("from a section") < 0)
        atomic_store(&deadlock_errno, errno);
    gmr_emit_int(e, "gmr_report_errno", atomic_load(&deadlock_errno));
}

static void slow(struct gmr_emitter *e, void *arg)
{
    (void)arg;
    atomic_store(&slow_running, 1);
    atomic_fetch_add(&slow_calls, 1);
    sleep_ms(400);
    gmr_emit_str(e, "slow", "done");
    atomic_store(&slow_running, 0);
}

static void *reporter(void *arg)
{
    int rc = gmr_report((const char *)arg);

    printf("concurrent %s\n", rc == 0 ? "ok" : strerror(errno));
    return NULL;
}

static void *report_once(void *arg)
{
    (void)arg;
    gmr_report("slow section");
    return NULL;
}

static void check_registration(void)
{
    static int dummy;
    int a = gmr_register_section("Twice", unbalanced, &dummy);
    int b = gmr_register_section("Twice", unbalanced, &dummy);
    int c = gmr_register_section("Threads", unbalanced, &dummy);
    int d = gmr_register_section("", unbalanced, &dummy);
    int f = gmr_register_section("No function", NULL, &dummy);

    printf("registration %s\n", a > 0 && b < 0 && c < 0 && d < 0 && f < 0 ? "ok" : "wrong");
    printf("unregister %s\n",
           gmr_unregister_section(a) == 0 && gmr_unregister_section(a) < 0 ? "ok" : "wrong");
}

static void check_unregister_waits(void)
{
    pthread_t t;
    int id = gmr_register_section("Slow", slow, NULL);

    pthread_create(&t, NULL, report_once, NULL);
    while (!atomic_load(&slow_running))
        sleep_ms(1);
    gmr_unregister_section(id);
    printf("unregister-waits %s\n", atomic_load(&slow_running) ? "no" : "ok");
    pthread_join(t, NULL);
}

int main(void)
{
    pthread_t t[4];
    int i;

    if (!gmr_register_section) {
        printf("libgmr not loaded\n");
        return 1;
    }
    check_registration();
    gmr_register_section("Unbalanced", unbalanced, NULL);
    gmr_register_section("Deep", deep, NULL);
    gmr_register_section("Weird", weird, NULL);
    gmr_register_section("Reentrant", reentrant, NULL);
    check_unregister_waits();
    for (i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, reporter, "four at once");
    for (i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    printf("deadlock %s\n", atomic_load(&deadlock_errno) == EDEADLK ? "ok" : "wrong");
    printf("slow-calls %d\n", atomic_load(&slow_calls));
    printf("ready %d\n", (int)getpid());
    fflush(stdout);
    for (;;)
        sleep_ms(100);
}
