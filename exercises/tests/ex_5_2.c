// ex_5_2.c: exercise 5.2, the exact rescoring of the m1 x m2 candidates and
// its backward (tucker_grid and tucker_score_backward in lib/memory/tucker.c).
//
//   grid[a*m2 + b] = R[a]^T C Q[b]           R (m1, r), Q (m2, r), C (r, r)
//   forward s = sum_ab R[a] C[a,b] Q[b]; so
//   dR[a] += g sum_b C[a,b] Q[b],  dQ[b] += g sum_a R[a] C[a,b],  dC[a,b] += g R[a] Q[b]
// (each gradient pointer may be NULL: the layer asks for dR, dQ in one pass
// and for dC in another). Checked against the reference and by finite
// differences of tucker_score.
#include <stdio.h>

#include "grade_util.h"
#include "memory/tucker.h"

void ref_tucker_grid(real *grid, const real *R, int m1, const real *Q, int m2, const real *C, int r);
void ref_tucker_score_backward(real *dR, real *dQ, real *dC, real g, const real *R, const real *C, const real *Q,
                               int r);

#define TAG "ex_5_2"

START_TEST(grid_fixed) {
    const real R[] = {1, 2, -1, 0.5, 0, 3}, Q[] = {2, -1, 0.5, 1};
    const real C[] = {0.7, 0.2, 0.4, 0.9};
    real yours[6], ref[6];
    for (int i = 0; i < 6; i++) yours[i] = 1e30;
    tucker_grid(yours, R, 3, Q, 2, C, 2);
    ref_tucker_grid(ref, R, 3, Q, 2, C, 2);
    gu_expect_close("grid", yours, ref, 6, 2,
                    " Inputs: m1=3 m2=2 r=2 R=[1 2; -1 0.5; 0 3] Q=[2 -1; 0.5 1] C=[0.7 0.2; 0.4 0.9].");
}
END_TEST

START_TEST(grid_random) {
    UmRng rng;
    rng_seed(&rng, 0x5201);
    for (int trial = 0; trial < 40; trial++) {
        int r = 1 + trial % 2, m1 = gu_between(&rng, 1, 9), m2 = gu_between(&rng, 1, 9);
        real *R = gu_reals((size_t)m1 * r), *Q = gu_reals((size_t)m2 * r), C[4];
        real *yours = gu_reals((size_t)m1 * m2), *ref = gu_reals((size_t)m1 * m2);
        gu_fill(R, (size_t)m1 * r, &rng, 1), gu_fill(Q, (size_t)m2 * r, &rng, 1), gu_fill(C, 4, &rng, 1);
        for (int i = 0; i < m1 * m2; i++) yours[i] = 1e30;
        tucker_grid(yours, R, m1, Q, m2, C, r);
        ref_tucker_grid(ref, R, m1, Q, m2, C, r);
        char ctx[96];
        snprintf(ctx, sizeof ctx, " Random m1=%d m2=%d r=%d.", m1, m2, r);
        gu_expect_close("grid", yours, ref, (size_t)m1 * m2, m2, ctx);
    }
}
END_TEST

// The three gradients, accumulated onto nonzero starting values.
START_TEST(backward_matches) {
    UmRng rng;
    rng_seed(&rng, 0x5202);
    for (int trial = 0; trial < 40; trial++) {
        int r = 1 + trial % 2;
        real R[2], Q[2], C[4], g = (real)rng_normal(&rng);
        real dR[2], dQ[2], dC[4], dR_r[2], dQ_r[2], dC_r[4];
        gu_fill(R, 2, &rng, 1), gu_fill(Q, 2, &rng, 1), gu_fill(C, 4, &rng, 1);
        gu_fill(dR, 2, &rng, 1), gu_fill(dQ, 2, &rng, 1), gu_fill(dC, 4, &rng, 1);
        gu_copy(dR_r, dR, 2), gu_copy(dQ_r, dQ, 2), gu_copy(dC_r, dC, 4);
        tucker_score_backward(dR, dQ, dC, g, R, C, Q, r);
        ref_tucker_score_backward(dR_r, dQ_r, dC_r, g, R, C, Q, r);
        char ctx[96];
        snprintf(ctx, sizeof ctx, " r=%d, g=%.6g, gradients starting from random values (+=).", r, (double)g);
        gu_expect_close("dR", dR, dR_r, r, 0, ctx);
        gu_expect_close("dQ", dQ, dQ_r, r, 0, ctx);
        gu_expect_close("dC", dC, dC_r, (size_t)r * r, r, ctx);
    }
}
END_TEST

// NULL gradients are skipped: the layer passes dC = NULL, or dR = dQ = NULL.
START_TEST(backward_null_outputs) {
    real R[2] = {0.3, -1.2}, Q[2] = {0.8, 0.5}, C[4] = {0.7, 0.2, 0.4, 0.9};
    real dC[4] = {1, 1, 1, 1}, dC_r[4] = {1, 1, 1, 1}, dR[2] = {1, 1}, dQ[2] = {1, 1}, dR_r[2] = {1, 1},
         dQ_r[2] = {1, 1};
    tucker_score_backward(NULL, NULL, dC, 2, R, C, Q, 2);
    ref_tucker_score_backward(NULL, NULL, dC_r, 2, R, C, Q, 2);
    gu_expect_close("dC (dR = dQ = NULL)", dC, dC_r, 4, 2, " R=[0.3 -1.2] Q=[0.8 0.5] C=[0.7 0.2; 0.4 0.9] g=2.");
    tucker_score_backward(dR, dQ, NULL, 2, R, C, Q, 2);
    ref_tucker_score_backward(dR_r, dQ_r, NULL, 2, R, C, Q, 2);
    gu_expect_close("dR (dC = NULL)", dR, dR_r, 2, 0, " R=[0.3 -1.2] Q=[0.8 0.5] C=[0.7 0.2; 0.4 0.9] g=2.");
    gu_expect_close("dQ (dC = NULL)", dQ, dQ_r, 2, 0, " R=[0.3 -1.2] Q=[0.8 0.5] C=[0.7 0.2; 0.4 0.9] g=2.");
}
END_TEST

// loss = g * R^T C Q, through the reference score.
typedef struct {
    real R[2], Q[2], C[4], g;
} ScoreCase;
static double score_loss(void *ctx) {
    ScoreCase *c = ctx;
    return (double)c->g * tucker_score(c->R, c->C, c->Q, 2);
}

START_TEST(finite_differences) {
    UmRng rng;
    rng_seed(&rng, 0x5203);
    for (int trial = 0; trial < 20; trial++) {
        ScoreCase c;
        gu_fill(c.R, 2, &rng, 1), gu_fill(c.Q, 2, &rng, 1), gu_fill(c.C, 4, &rng, 1);
        c.g = (real)(0.5 + rng_uniform(&rng));
        real dR[2] = {0, 0}, dQ[2] = {0, 0}, dC[4] = {0, 0, 0, 0};
        tucker_score_backward(dR, dQ, dC, c.g, c.R, c.C, c.Q, 2);
        for (int i = 0; i < 2; i++) gu_expect_fd("dR", i, dR[i], c.R, score_loss, &c, " loss = g R^T C Q, r=2.");
        for (int i = 0; i < 2; i++) gu_expect_fd("dQ", i, dQ[i], c.Q, score_loss, &c, " loss = g R^T C Q, r=2.");
        for (int i = 0; i < 4; i++) gu_expect_fd("dC", i, dC[i], c.C, score_loss, &c, " loss = g R^T C Q, r=2.");
    }
}
END_TEST

Suite *exercise_suite(void) {
    Suite *s = suite_create("exercise 5.2: rescoring the candidates and its backward");
    GU_ADD(s, TAG, grid_fixed);
    GU_ADD(s, TAG, grid_random);
    GU_ADD(s, TAG, backward_matches);
    GU_ADD(s, TAG, backward_null_outputs);
    GU_ADD(s, TAG, finite_differences);
    return s;
}
