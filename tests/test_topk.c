// test_topk.c: top-k by partial selection against a full sort.
#include <check.h>
#include <stdlib.h>

#include "base/rng.h"
#include "memory/topk.h"

// The order topk promises: larger value first, then lower key.
static const real *g_x;
static const int *g_key;
static int by_value_then_key(const void *a, const void *b) {
    int i = *(const int *)a, j = *(const int *)b;
    if (g_x[i] != g_x[j]) return g_x[i] > g_x[j] ? -1 : 1;
    int ki = g_key ? g_key[i] : i, kj = g_key ? g_key[j] : j;
    return (ki > kj) - (ki < kj);
}

// Compare topk(x) with the first k of a full qsort. levels > 0 draws values
// from a few integers so ties are everywhere.
static void check_against_sort(UmRng *rng, int n, int k, int levels, int with_keys) {
    real *x = malloc(n * sizeof *x), *val = malloc(k * sizeof *val);
    int *key = malloc(n * sizeof *key), *idx = malloc(k * sizeof *idx), *order = malloc(n * sizeof *order);
    for (int i = 0; i < n; i++) {
        x[i] = levels ? (real)rng_below(rng, levels) : (real)rng_normal(rng);
        key[i] = i;
        order[i] = i;
    }
    for (int i = n - 1; i > 0; i--) {  // a random permutation of tie keys
        int j = rng_below(rng, i + 1), t = key[i];
        key[i] = key[j];
        key[j] = t;
    }
    g_x = x;
    g_key = with_keys ? key : NULL;
    qsort(order, n, sizeof *order, by_value_then_key);
    if (with_keys)
        topk_tiekey(idx, val, x, key, n, k);
    else
        topk(idx, val, x, n, k);
    for (int i = 0; i < k; i++) {
        ck_assert_msg(idx[i] == order[i], "n=%d k=%d levels=%d: rank %d is %d, sort says %d", n, k, levels, i,
                      idx[i], order[i]);
        ck_assert(val[i] == x[order[i]]);
    }
    free(x);
    free(val);
    free(key);
    free(idx);
    free(order);
}

START_TEST(test_topk_random) {
    UmRng rng;
    rng_seed(&rng, 1);
    int sizes[] = {1, 2, 3, 7, 16, 33, 128, 1000};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        int n = sizes[s];
        int ks[] = {1, 2, n / 2, n - 1, n};
        for (int i = 0; i < 5; i++) {
            if (ks[i] < 1 || ks[i] > n) continue;
            for (int rep = 0; rep < 5; rep++) check_against_sort(&rng, n, ks[i], 0, 0);
        }
    }
}
END_TEST

START_TEST(test_topk_ties) {
    UmRng rng;
    rng_seed(&rng, 2);
    for (int rep = 0; rep < 200; rep++) {
        int n = 1 + rng_below(&rng, 60), k = 1 + rng_below(&rng, n);
        check_against_sort(&rng, n, k, 1 + rng_below(&rng, 4), 0);
        check_against_sort(&rng, n, k, 1 + rng_below(&rng, 4), 1);
    }
}
END_TEST

START_TEST(test_topk_all_equal_lower_index_wins) {
    real x[6] = {3, 3, 3, 3, 3, 3};
    int idx[3];
    topk(idx, NULL, x, 6, 3);
    ck_assert_int_eq(idx[0], 0);
    ck_assert_int_eq(idx[1], 1);
    ck_assert_int_eq(idx[2], 2);
}
END_TEST

Suite *topk_suite(void) {
    Suite *s = suite_create("topk");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_topk_random);
    tcase_add_test(tc, test_topk_ties);
    tcase_add_test(tc, test_topk_all_equal_lower_index_wins);
    suite_add_tcase(s, tc);
    return s;
}
