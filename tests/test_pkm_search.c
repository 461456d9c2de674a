// test_pkm_search.c: the fast search pieces PKM and PEER use give the same
// answers as the plain ones: topk_insert/topk_rank/topk_small against
// topk_tiekey (ties included), pk_select against pk_search's own steps on
// the same side scores, and the batched side scores and their backward
// against pk_side_scores and pk_backward.
#include <check.h>
#include <math.h>
#include <string.h>

#include "base/alloc.h"
#include "base/rng.h"
#include "helpers/testutil.h"
#include "memory/product_keys.h"
#include "memory/topk.h"

// levels > 0 rounds values to that many distinct levels, so ties are common.
static void fill_values(real *x, int n, UmRng *rng, int levels) {
    for (int i = 0; i < n; i++) {
        real v = (real)rng_normal(rng);
        x[i] = levels ? (real)floor(v * levels) / levels : v;
    }
}

START_TEST(test_topk_variants_agree) {
    UmRng rng;
    rng_seed(&rng, 11);
    int sizes[][2] = {{1, 1}, {5, 5}, {6, 3}, {53, 48}, {43, 32}, {64, 64}, {65, 16}, {128, 16},
                      {256, 32}, {256, 64}, {300, 7}, {100, 90}};
    for (size_t c = 0; c < sizeof sizes / sizeof sizes[0]; c++)
        for (int levels = 0; levels <= 4; levels += 2)
            for (int rep = 0; rep < 20; rep++) {
                int n = sizes[c][0], k = sizes[c][1];
                real x[300], v_ref[300], v[300];
                int key[300], i_ref[300], idx[300];
                fill_values(x, n, &rng, levels);
                for (int i = 0; i < n; i++) key[i] = (int)rng_below(&rng, 1000) * 300 + i;  // distinct
                for (int use_key = 0; use_key < 2; use_key++) {
                    const int *tk = use_key ? key : NULL;
                    topk_tiekey(i_ref, v_ref, x, tk, n, k);
                    void (*fns[3])(int *, real *, const real *, const int *, int, int) = {topk_insert, topk_rank,
                                                                                          topk_small};
                    for (int f = 0; f < 3; f++) {
                        memset(idx, -1, sizeof idx);
                        fns[f](idx, v, x, tk, n, k);
                        for (int j = 0; j < k; j++) {
                            ck_assert_msg(idx[j] == i_ref[j], "fn %d n %d k %d levels %d key %d: j %d idx %d vs %d", f,
                                          n, k, levels, use_key, j, idx[j], i_ref[j]);
                            ck_assert(v[j] == v_ref[j]);
                        }
                    }
                }
            }
}
END_TEST

START_TEST(test_pk_select_matches_search) {
    UmRng rng;
    rng_seed(&rng, 12);
    int sizes[][2] = {{6, 3}, {8, 4}, {16, 16}, {43, 32}, {53, 48}, {128, 16}, {256, 32}};
    for (size_t c = 0; c < sizeof sizes / sizeof sizes[0]; c++)
        for (int levels = 0; levels <= 8; levels += 4)
            for (int rep = 0; rep < 30; rep++) {
                int n = sizes[c][0], k = sizes[c][1];
                UmPkSearch ref, fast;
                pk_search_alloc(&ref, n, 2, k);
                pk_search_alloc(&fast, n, 2, k);
                fill_values(ref.s1, n, &rng, levels);
                fill_values(ref.s2, n, &rng, levels);
                int slots_ref[256], slots[256];
                real scores_ref[256], scores[256];
                pk_search_scored(&ref, slots_ref, scores_ref);
                pk_select(&fast, slots, scores, ref.s1, ref.s2);
                for (int j = 0; j < k; j++) {
                    ck_assert_msg(slots[j] == slots_ref[j], "n %d k %d levels %d j %d: %d vs %d", n, k, levels, j,
                                  slots[j], slots_ref[j]);
                    ck_assert(scores[j] == scores_ref[j]);
                    ck_assert(fast.grid_slot[fast.sel_cell[j]] == slots[j]);
                }
                pk_search_free(&ref);
                pk_search_free(&fast);
            }
}
END_TEST

START_TEST(test_side_scores_batch) {
    enum { R = 9, n = 7, half = 5, stride = 13 };
    UmRng rng;
    rng_seed(&rng, 13);
    real Q[R * stride], K[n * half], S[R * n], s[n], dS[R * n];
    fill_normal(Q, R * stride, &rng, 1);
    fill_normal(K, n * half, &rng, 1);
    fill_normal(dS, R * n, &rng, 1);
    pk_side_scores_batch(S, Q + 3, stride, K, R, n, half);
    for (int r = 0; r < R; r++) {
        pk_side_scores(s, Q + r * stride + 3, K, n, half);
        for (int i = 0; i < n; i++) ck_assert(fabs(S[r * n + i] - s[i]) < 1e-5);
    }
    // backward against the definition: dQ[r] += sum_i dS[r][i] K[i], dK[i] += sum_r dS[r][i] Q[r]
    real dQ[R * stride], dK[n * half];
    for (int i = 0; i < R * stride; i++) dQ[i] = 1;  // accumulates
    memset(dK, 0, sizeof dK);
    pk_side_scores_batch_backward(dQ + 3, stride, dK, dS, Q + 3, stride, K, R, n, half);
    for (int r = 0; r < R; r++)
        for (int c = 0; c < stride; c++) {
            double want = 1;
            if (c >= 3 && c < 3 + half)
                for (int i = 0; i < n; i++) want += dS[r * n + i] * K[i * half + c - 3];
            ck_assert_msg(fabs(dQ[r * stride + c] - want) < 1e-5, "dQ r %d c %d", r, c);
        }
    for (int i = 0; i < n; i++)
        for (int c = 0; c < half; c++) {
            double want = 0;
            for (int r = 0; r < R; r++) want += dS[r * n + i] * Q[r * stride + 3 + c];
            ck_assert(fabs(dK[i * half + c] - want) < 1e-5);
        }
}
END_TEST

START_TEST(test_select_backward_matches_pk_backward) {
    enum { n = 6, half = 3, k = 4 };
    UmRng rng;
    rng_seed(&rng, 14);
    real q[2 * half], K1[n * half], K2[n * half], ds[k];
    int slots[k] = {7, 8, 13, 35};
    fill_normal(q, 2 * half, &rng, 1);
    fill_normal(K1, n * half, &rng, 1);
    fill_normal(K2, n * half, &rng, 1);
    fill_normal(ds, k, &rng, 1);
    real dq_ref[2 * half] = {0}, dK1_ref[n * half] = {0}, dK2_ref[n * half] = {0};
    pk_backward(dq_ref, dq_ref + half, dK1_ref, dK2_ref, ds, slots, q, q + half, K1, K2, n, half, k);
    real dS1[n] = {0}, dS2[n] = {0}, dq[2 * half] = {0}, dK1[n * half] = {0}, dK2[n * half] = {0};
    pk_select_backward(dS1, dS2, ds, slots, n, k);
    pk_side_scores_batch_backward(dq, 2 * half, dK1, dS1, q, 2 * half, K1, 1, n, half);
    pk_side_scores_batch_backward(dq + half, 2 * half, dK2, dS2, q + half, 2 * half, K2, 1, n, half);
    for (int i = 0; i < 2 * half; i++) ck_assert(fabs(dq[i] - dq_ref[i]) < 1e-5);
    for (int i = 0; i < n * half; i++) ck_assert(fabs(dK1[i] - dK1_ref[i]) < 1e-5 && fabs(dK2[i] - dK2_ref[i]) < 1e-5);
}
END_TEST

Suite *pkm_search_suite(void) {
    Suite *s = suite_create("pkm_search");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_topk_variants_agree);
    tcase_add_test(tc, test_pk_select_matches_search);
    tcase_add_test(tc, test_side_scores_batch);
    tcase_add_test(tc, test_select_backward_matches_pk_backward);
    tcase_set_timeout(tc, 30);
    suite_add_tcase(s, tc);
    return s;
}
