// ex_3_2.c: exercise 3.2, product-key backward (pk_backward in lib/memory/product_keys.c).
//
// forward:  scores[j] = <q1, K1[row_j]> + <q2, K2[col_j]>,  row_j = slots[j] / n, col_j = slots[j] % n
// backward: dq1, dq2 (half) and dK1, dK2 (n, half) += through the selected scores only.
// Several selected slots may share a row or a column: their gradients add up.
#include <stdio.h>
#include <string.h>

#include "grade_util.h"
#include "memory/product_keys.h"

void ref_pk_backward(real *dq1, real *dq2, real *dK1, real *dK2, const real *dscores, const int *slots,
                     const real *q1, const real *q2, const real *K1, const real *K2, int n, int half, int k);

#define TAG "ex_3_2"

typedef struct {
    int n, half, k;
    real *q1, *q2, *K1, *K2, *dscores;
    int *slots;
    real *g[4], *g_r[4];  // dq1, dq2, dK1, dK2: yours and the reference
} Case;

static const char *NAMES[4] = {"dq1", "dq2", "dK1", "dK2"};

static void make_case(Case *c, int n, int half, int k, UmRng *rng) {
    c->n = n, c->half = half, c->k = k;
    c->q1 = gu_reals(half), c->q2 = gu_reals(half);
    c->K1 = gu_reals((size_t)n * half), c->K2 = gu_reals((size_t)n * half);
    c->dscores = gu_reals(k), c->slots = gu_ints(k);
    gu_fill(c->q1, half, rng, 1);
    gu_fill(c->q2, half, rng, 1);
    gu_fill(c->K1, (size_t)n * half, rng, 1);
    gu_fill(c->K2, (size_t)n * half, rng, 1);
    gu_fill(c->dscores, k, rng, 1);
    // Distinct slots drawn at random, so rows and columns repeat now and then.
    for (int j = 0; j < k; j++) {
        int s, dup;
        do {
            s = (int)rng_below(rng, (uint32_t)(n * n));
            dup = 0;
            for (int i = 0; i < j; i++) dup |= c->slots[i] == s;
        } while (dup);
        c->slots[j] = s;
    }
    size_t sizes[4] = {(size_t)half, (size_t)half, (size_t)n * half, (size_t)n * half};
    for (int t = 0; t < 4; t++) {
        c->g[t] = gu_reals(sizes[t]), c->g_r[t] = gu_reals(sizes[t]);
        gu_fill(c->g[t], sizes[t], rng, 1);  // backward adds: start from nonzero values
        gu_copy(c->g_r[t], c->g[t], sizes[t]);
    }
}

static void compare(const Case *c, int mask, const char *context) {
    size_t sizes[4] = {(size_t)c->half, (size_t)c->half, (size_t)c->n * c->half, (size_t)c->n * c->half};
    for (int t = 0; t < 4; t++)
        if (mask & (1 << t)) gu_expect_close(NAMES[t], c->g[t], c->g_r[t], sizes[t], t < 2 ? 0 : c->half, context);
}

static void run_both(Case *c, int mask) {
    real *g[4], *g_r[4];
    for (int t = 0; t < 4; t++) g[t] = mask & (1 << t) ? c->g[t] : NULL, g_r[t] = mask & (1 << t) ? c->g_r[t] : NULL;
    pk_backward(g[0], g[1], g[2], g[3], c->dscores, c->slots, c->q1, c->q2, c->K1, c->K2, c->n, c->half, c->k);
    ref_pk_backward(g_r[0], g_r[1], g_r[2], g_r[3], c->dscores, c->slots, c->q1, c->q2, c->K1, c->K2, c->n, c->half,
                    c->k);
}

START_TEST(fixed_small) {
    // n=3 (9 slots), half=2, k=3; slots 1 = (row 0, col 1), 5 = (1, 2), 2 = (0, 2): row 0 and col 2 repeat.
    real q1[2] = {1, -1}, q2[2] = {0.5, 2}, K1[6] = {1, 0, 0, 1, 1, 1}, K2[6] = {0.5, 0.5, -1, 0, 2, 1};
    real dscores[3] = {1, -0.5, 2};
    int slots[3] = {1, 5, 2};
    Case c = {3, 2, 3, q1, q2, K1, K2, dscores, slots, {0}, {0}};
    size_t sizes[4] = {2, 2, 6, 6};
    for (int t = 0; t < 4; t++) {
        c.g[t] = gu_reals(sizes[t]), c.g_r[t] = gu_reals(sizes[t]);
        for (size_t i = 0; i < sizes[t]; i++) c.g[t][i] = c.g_r[t][i] = 0.5;
    }
    run_both(&c, 15);
    compare(&c, 15,
            " Inputs: n=3 half=2 k=3 q1=[1,-1] q2=[0.5,2] K1=[1,0; 0,1; 1,1] K2=[0.5,0.5; -1,0; 2,1] "
            "slots=[1,5,2] dscores=[1,-0.5,2], every gradient starting at 0.5 (backward adds).");
}
END_TEST

START_TEST(random_shapes) {
    UmRng rng;
    rng_seed(&rng, 0x3201);
    for (int trial = 0; trial < 8; trial++) {
        Case c;
        int n = gu_between(&rng, 2, 12);
        make_case(&c, n, gu_between(&rng, 1, 6), gu_between(&rng, 1, n), &rng);
        run_both(&c, 15);
        char ctx[512];
        snprintf(ctx, sizeof ctx, " Random shape n=%d half=%d k=%d (seeded)", c.n, c.half, c.k);
        gu_describe_ints(ctx, sizeof ctx, "slots", c.slots, c.k);
        compare(&c, 15, ctx);
    }
}
END_TEST

// Any of the four outputs may be NULL (a layer with frozen keys passes NULL).
START_TEST(null_outputs) {
    UmRng rng;
    rng_seed(&rng, 0x3202);
    for (int mask = 1; mask < 15; mask++) {
        Case c;
        make_case(&c, 5, 3, 4, &rng);
        run_both(&c, mask);
        char ctx[96];
        snprintf(ctx, sizeof ctx, " n=5 half=3 k=4, with%s%s%s%s NULL.", mask & 1 ? "" : " dq1", mask & 2 ? "" : " dq2",
                 mask & 4 ? "" : " dK1", mask & 8 ? "" : " dK2");
        compare(&c, mask, ctx);
    }
}
END_TEST

// L = sum_j dscores[j] * scores[j], with the selection held fixed.
static double loss(void *ctx) {
    const Case *c = ctx;
    double L = 0;
    for (int j = 0; j < c->k; j++) {
        int row = c->slots[j] / c->n, col = c->slots[j] % c->n;
        double s = 0;
        for (int i = 0; i < c->half; i++) s += (double)c->q1[i] * c->K1[row * c->half + i];
        for (int i = 0; i < c->half; i++) s += (double)c->q2[i] * c->K2[col * c->half + i];
        L += c->dscores[j] * s;
    }
    return L;
}

START_TEST(finite_differences) {
    UmRng rng;
    rng_seed(&rng, 0x3203);
    Case c;
    make_case(&c, 4, 3, 4, &rng);
    for (int t = 0; t < 4; t++) memset(c.g[t], 0, sizeof(real) * (t < 2 ? 3 : 12));
    run_both(&c, 15);
    real *x[4] = {c.q1, c.q2, c.K1, c.K2};
    char ctx[256] = " L = sum_j dscores[j] * scores[j], n=4 half=3 k=4, gradients from 0,";
    gu_describe_ints(ctx, sizeof ctx, "slots", c.slots, 4);
    for (int t = 0; t < 4; t++)
        for (size_t i = 0; i < (size_t)(t < 2 ? 3 : 12); i++) gu_expect_fd(NAMES[t], i, c.g[t][i], x[t], loss, &c, ctx);
}
END_TEST

Suite *exercise_suite(void) {
    Suite *s = suite_create("exercise 3.2: product-key backward");
    GU_ADD(s, TAG, fixed_small);
    GU_ADD(s, TAG, random_shapes);
    GU_ADD(s, TAG, null_outputs);
    GU_ADD(s, TAG, finite_differences);
    return s;
}
