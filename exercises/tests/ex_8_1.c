// ex_8_1.c: exercise 8.1, UltraMemV2's PEER-style slot weights and their
// backward (um_v2_slot_weights, um_v2_slot_weights_backward in
// lib/memory/ultramem_v2.c).
//
//   act_j = pre_j (or gelu(pre_j)),  w_jc = s_jc * act_j
//   dscore_jc = dw_jc act_j,  dpre_j = act'(pre_j) sum_c dw_jc s_jc
// Checked against the reference on random shapes (with and without GELU)
// and by finite differences of L = sum(w * R).
#include <math.h>
#include <stdio.h>

#include "grade_util.h"
#include "memory/ultramem_v2.h"

#define TAG "ex_8_1"

void ref_um_v2_slot_weights(real *weight, real *act, const real *score, const real *pre, int m, int h, int use_gelu);
void ref_um_v2_slot_weights_backward(real *dscore, real *dpre, const real *dweight, const real *score,
                                     const real *pre, const real *act, int m, int h, int use_gelu);

START_TEST(forward_matches) {
    UmRng rng;
    rng_seed(&rng, 0x8101);
    for (int trial = 0; trial < 8; trial++) {
        int m = gu_between(&rng, 1, 9), h = gu_between(&rng, 1, 3), g = trial % 2;
        real *s = gu_reals(m * h), *pre = gu_reals(m), *w = gu_reals(m * h), *a = gu_reals(m);
        real *wr = gu_reals(m * h), *ar = gu_reals(m);
        gu_fill(s, m * h, &rng, 1), gu_fill(pre, m, &rng, 1);
        um_v2_slot_weights(w, a, s, pre, m, h, g);
        ref_um_v2_slot_weights(wr, ar, s, pre, m, h, g);
        char ctx[512];
        snprintf(ctx, sizeof ctx, " m=%d h=%d use_gelu=%d.", m, h, g);
        gu_describe(ctx, sizeof ctx, " pre", pre, m);
        gu_expect_close("act", a, ar, m, 0, ctx);
        gu_expect_close("weight", w, wr, m * h, h, ctx);
        gu_free_all();
    }
}
END_TEST

START_TEST(backward_matches) {
    UmRng rng;
    rng_seed(&rng, 0x8102);
    for (int trial = 0; trial < 8; trial++) {
        int m = gu_between(&rng, 1, 9), h = gu_between(&rng, 1, 3), g = trial % 2;
        real *s = gu_reals(m * h), *pre = gu_reals(m), *w = gu_reals(m * h), *a = gu_reals(m), *dw = gu_reals(m * h);
        real *ds = gu_reals(m * h), *dp = gu_reals(m), *dsr = gu_reals(m * h), *dpr = gu_reals(m);
        gu_fill(s, m * h, &rng, 1), gu_fill(pre, m, &rng, 1), gu_fill(dw, m * h, &rng, 1);
        ref_um_v2_slot_weights(w, a, s, pre, m, h, g);
        um_v2_slot_weights_backward(ds, dp, dw, s, pre, a, m, h, g);
        ref_um_v2_slot_weights_backward(dsr, dpr, dw, s, pre, a, m, h, g);
        char ctx[128];
        snprintf(ctx, sizeof ctx, " m=%d h=%d use_gelu=%d.", m, h, g);
        gu_expect_close("dscore", ds, dsr, m * h, h, ctx);
        gu_expect_close("dpre", dp, dpr, m, 0, ctx);
        gu_free_all();
    }
}
END_TEST

typedef struct {
    real *s, *pre, *R;
    int m, h, g;
} Fd;

static double fd_loss(void *ctx) {
    Fd *f = ctx;
    real w[64], a[16];
    ref_um_v2_slot_weights(w, a, f->s, f->pre, f->m, f->h, f->g);
    double L = 0;
    for (int i = 0; i < f->m * f->h; i++) L += w[i] * f->R[i];
    return L;
}

START_TEST(finite_differences) {
    UmRng rng;
    rng_seed(&rng, 0x8103);
    for (int g = 0; g < 2; g++) {
        Fd f = {.m = 5, .h = 2, .g = g};
        f.s = gu_reals(10), f.pre = gu_reals(5), f.R = gu_reals(10);
        real *w = gu_reals(10), *a = gu_reals(5), *ds = gu_reals(10), *dp = gu_reals(5);
        gu_fill(f.s, 10, &rng, 1), gu_fill(f.pre, 5, &rng, 1), gu_fill(f.R, 10, &rng, 1);
        ref_um_v2_slot_weights(w, a, f.s, f.pre, 5, 2, g);
        um_v2_slot_weights_backward(ds, dp, f.R, f.s, f.pre, a, 5, 2, g);
        const char *ctx = g ? " L = sum(w * R), m=5 h=2, with GELU." : " L = sum(w * R), m=5 h=2, no activation.";
        for (int i = 0; i < 10; i++) gu_expect_fd("dscore", i, ds[i], f.s, fd_loss, &f, ctx);
        for (int i = 0; i < 5; i++) gu_expect_fd("dpre", i, dp[i], f.pre, fd_loss, &f, ctx);
        gu_free_all();
    }
}
END_TEST

Suite *exercise_suite(void) {
    Suite *s = suite_create("exercise 8.1: PEER-style slot weights");
    GU_ADD(s, TAG, forward_matches);
    GU_ADD(s, TAG, backward_matches);
    GU_ADD(s, TAG, finite_differences);
    return s;
}
