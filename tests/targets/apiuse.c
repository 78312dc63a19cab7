/*
 * apiuse.c - libgmr's public API at its edges, for the integration tests.
 *
 * Linked against nothing: the functions are weak and libgmr is preloaded.
 * Registers sections that misbehave (unbalanced, too deep, NULL keys,
 * control characters, invalid UTF-8), checks registration rules, calls
 * gmr_report from four threads at once and from inside a section,
 * unregisters a section while a report runs it, and has a section that
 * (un)registers another and removes itself. Prints one line per
 * check ("<name> <result>"), then "ready <pid>".
 *
 *   apiuse fault-section | fault-green [HANG_MS]
 *
 * A section callback (or the coroutine lister) that faults on libgmr's
 * watcher thread, with a gmr_report call waiting for that report. Then,
 * from the main thread: gmr_report, gmr_unregister_section (or replacing
 * the lister), gmr_report again, a new section registered and removed.
 * Each step runs in a thread of its own, given HANG_MS (default 5000) to
 * return; prints "<step> rc=<rc> errno=<name> ms=<n>" or "<step> hung",
 * the waiting caller's ms counted from the fault. Last, from the main
 * thread, "setxid": as root, the ids change as a daemon drops root
 * keeping a capability in one thread (setresuid, capset, setresgid: glibc
 * makes every thread make the call, the faulted watcher's included unless
 * it is gone); rc 77 without root. Then "ready <pid>".
 */
#include <gmr.h>

#include <errno.h>
#include <linux/capability.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#pragma weak gmr_register_section
#pragma weak gmr_unregister_section
#pragma weak gmr_report
#pragma weak gmr_register_green_threads
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

/* Registers and removes another section, then removes itself: on the
   watcher, in a callback, none of that may wait. */
static atomic_int self_id, self_calls, self_result = -1;

static void self_removing(struct gmr_emitter *e, void *arg)
{
    int other = gmr_register_section("Other", unbalanced, NULL);

    (void)arg;
    atomic_fetch_add(&self_calls, 1);
    atomic_store(&self_result, other > 0 && gmr_unregister_section(other) == 0 &&
                                   gmr_unregister_section(atomic_load(&self_id)) == 0);
    gmr_emit_int(e, "removed", atomic_load(&self_result));
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

/* ---- a callback that faults on the watcher ---- */

static volatile int *no_access; /* a PROT_NONE page: faults, whatever the sanitizers think */
static _Atomic long long fault_at_ns;
static long hang_ms = 5000;

static long long now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void fault(void)
{
    sleep_ms(50); /* the gmr_report caller is surely waiting by now */
    atomic_store(&fault_at_ns, now_ns());
    *no_access = 1;
}

static void faulty_section(struct gmr_emitter *e, void *arg)
{
    (void)arg;
    gmr_emit_str(e, "about to", "fault");
    fault();
}

static void faulty_lister(gmr_green_visit_fn visit, void *visit_arg, void *arg)
{
    (void)visit, (void)visit_arg, (void)arg;
    fault();
}

static void fine_section(struct gmr_emitter *e, void *arg)
{
    (void)arg;
    gmr_emit_str(e, "fine", "yes");
}

struct step {
    const char *name;
    int (*fn)(void);
    int rc, err;
    long long start_ns, end_ns;
};

static int faulty_id, fresh_id;

static int report_during_fault(void)
{
    return gmr_report("a callback faults");
}

static int report_after(void)
{
    return gmr_report("after the fault");
}

static int unregister_faulty(void)
{
    return gmr_unregister_section(faulty_id);
}

static int replace_lister(void)
{
    return gmr_register_green_threads(NULL, NULL);
}

static int register_fresh(void)
{
    return (fresh_id = gmr_register_section("Fresh", fine_section, NULL)) > 0 ? 0 : -1;
}

static int unregister_fresh(void)
{
    return gmr_unregister_section(fresh_id);
}

static void *step_thread(void *arg)
{
    struct step *s = arg;

    s->start_ns = now_ns();
    errno = 0;
    s->rc = s->fn();
    s->err = errno;
    s->end_ns = now_ns();
    return NULL;
}

/* Runs one call in a thread of its own and says how it went, or that it
   did not return within hang_ms (the thread is then left where it hangs). */
static void run_step(const char *name, int (*fn)(void))
{
    static struct step steps[8];
    static int n;
    struct step *s = &steps[n++];
    struct timespec until;
    pthread_t t;

    s->name = name;
    s->fn = fn;
    pthread_create(&t, NULL, step_thread, s);
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += hang_ms / 1000;
    until.tv_nsec += hang_ms % 1000 * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    if (pthread_timedjoin_np(t, NULL, &until) != 0) {
        printf("%s hung\n", name);
    } else {
        /* The caller waiting when the watcher faulted: how long after the fault. */
        long long from = fn == report_during_fault && atomic_load(&fault_at_ns)
                             ? atomic_load(&fault_at_ns)
                             : s->start_ns;
        printf("%s rc=%d errno=%s ms=%.3f\n", name, s->rc, s->err ? strerrorname_np(s->err) : "0",
               (double)(s->end_ns - from) / 1e6);
    }
    fflush(stdout);
}

static int change_ids(void)
{
    struct __user_cap_header_struct head = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct caps[2];

    if (geteuid() != 0)
        return 77;
    if (prctl(PR_SET_KEEPCAPS, 1) < 0 || setresuid(65534, 65534, 65534) < 0 ||
        syscall(SYS_capget, &head, caps) < 0)
        return -1;
    caps[0].effective = caps[0].permitted; /* this thread only */
    caps[1].effective = caps[1].permitted;
    if (syscall(SYS_capset, &head, caps) < 0 || setresgid(65534, 65534, 65534) < 0)
        return -1;
    return 0;
}

static int fault_mode(const char *mode)
{
    int green = !strcmp(mode, "fault-green");

    no_access = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (no_access == MAP_FAILED)
        return 1;
    if (green)
        gmr_register_green_threads(faulty_lister, NULL);
    else
        faulty_id = gmr_register_section("Faulty", faulty_section, NULL);
    run_step("report-during-fault", report_during_fault);
    run_step("report-after", report_after);
    run_step(green ? "replace-lister" : "unregister", green ? replace_lister : unregister_faulty);
    run_step("report-again", report_after);
    run_step("register-fresh", register_fresh);
    run_step("unregister-fresh", unregister_fresh);
    {
        long long start = now_ns();
        int rc = change_ids();

        printf("setxid rc=%d errno=%s ms=%.3f\n", rc, rc < 0 ? strerrorname_np(errno) : "0",
               (double)(now_ns() - start) / 1e6);
    }
    printf("ready %d\n", (int)getpid());
    fflush(stdout);
    for (;;)
        sleep_ms(100);
}

int main(int argc, char **argv)
{
    pthread_t t[4];
    int i;

    if (!gmr_register_section) {
        printf("libgmr not loaded\n");
        return 1;
    }
    if (argc > 2)
        hang_ms = atol(argv[2]);
    if (argc > 1)
        return fault_mode(argv[1]);
    check_registration();
    gmr_register_section("Unbalanced", unbalanced, NULL);
    gmr_register_section("Deep", deep, NULL);
    gmr_register_section("Weird", weird, NULL);
    gmr_register_section("Reentrant", reentrant, NULL);
    atomic_store(&self_id, gmr_register_section("SelfRemoving", self_removing, NULL));
    check_unregister_waits();
    for (i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, reporter, "four at once");
    for (i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    printf("deadlock %s\n", atomic_load(&deadlock_errno) == EDEADLK ? "ok" : "wrong");
    printf("slow-calls %d\n", atomic_load(&slow_calls));
    printf("self-unregister %s\n",
           atomic_load(&self_calls) == 1 && atomic_load(&self_result) == 1 ? "ok" : "wrong");
    printf("ready %d\n", (int)getpid());
    fflush(stdout);
    for (;;)
        sleep_ms(100);
}
