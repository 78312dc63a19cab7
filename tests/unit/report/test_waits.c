/*
 * test_waits.c - the wait-for graph: which threads are in a deadlock, and
 * which chains of waits end where.
 */
#include "report/waits.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

/* Threads 1..n; holder[i] is whom thread i + 1 waits for (0: no one). */
static void graph_of(struct waits *w, const pid_t *holder, size_t n)
{
    size_t i;

    memset(w, 0, sizeof(*w));
    w->v = calloc(n, sizeof(*w->v));
    ck_assert_ptr_nonnull(w->v);
    w->n = n;
    for (i = 0; i < n; i++) {
        w->v[i].tid = (pid_t)(i + 1);
        w->v[i].holder = holder[i];
    }
    waits_graph(w);
}

static void ck_run(const pid_t *tids, const size_t *at, const size_t *len, size_t k,
                   const pid_t *expect, size_t n)
{
    ck_assert_uint_eq(len[k], n);
    ck_assert_mem_eq(tids + at[k], expect, n * sizeof(*expect));
}

START_TEST(two_in_a_cycle)
{
    const pid_t holder[] = {2, 1, 0};
    const pid_t cycle[] = {1, 2};
    struct waits w;

    graph_of(&w, holder, 3);
    ck_assert_uint_eq(w.ncycles, 1);
    ck_run(w.cycle, w.cycle_at, w.cycle_len, 0, cycle, 2);
    ck_assert(w.v[0].in_cycle && w.v[1].in_cycle && !w.v[2].in_cycle);
    ck_assert_uint_eq(w.nchains, 0);
    waits_free(&w);
}
END_TEST

START_TEST(a_thread_that_waits_for_itself)
{
    const pid_t holder[] = {1};
    const pid_t cycle[] = {1};
    struct waits w;

    graph_of(&w, holder, 1);
    ck_assert_uint_eq(w.ncycles, 1);
    ck_run(w.cycle, w.cycle_at, w.cycle_len, 0, cycle, 1);
    waits_free(&w);
}
END_TEST

START_TEST(chains_end_where_no_one_is_waited_for)
{
    /* 1 -> 2 -> 3 (free); 4 -> 3; 5 -> 6 -> 7 -> 6 (a cycle); 8 -> 99 (not ours) */
    const pid_t holder[] = {2, 3, 0, 3, 6, 7, 6, 0};
    const pid_t chain1[] = {1, 2, 3}, chain4[] = {4, 3}, chain5[] = {5, 6}, cycle[] = {6, 7};
    struct waits w;

    graph_of(&w, holder, 8);
    ck_assert_uint_eq(w.ncycles, 1);
    ck_run(w.cycle, w.cycle_at, w.cycle_len, 0, cycle, 2);
    ck_assert_uint_eq(w.nchains, 3);
    ck_run(w.chain, w.chain_at, w.chain_len, 0, chain1, 3);
    ck_run(w.chain, w.chain_at, w.chain_len, 1, chain4, 2);
    ck_run(w.chain, w.chain_at, w.chain_len, 2, chain5, 2); /* into the deadlock */
    ck_assert(!w.v[4].in_cycle);
    waits_free(&w);
}
END_TEST

START_TEST(three_cycles_and_no_false_one)
{
    const pid_t holder[] = {2, 3, 1, 5, 6, 4, 8, 9, 7, 0};
    struct waits w;

    graph_of(&w, holder, 10);
    ck_assert_uint_eq(w.ncycles, 3);
    ck_assert(!w.v[9].in_cycle);
    waits_free(&w);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("waits");
    TCase *tc = tcase_create("graph");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, two_in_a_cycle);
    tcase_add_test(tc, a_thread_that_waits_for_itself);
    tcase_add_test(tc, chains_end_where_no_one_is_waited_for);
    tcase_add_test(tc, three_cycles_and_no_false_one);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
