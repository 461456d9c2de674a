// ex_5_1.c: exercise 5.1, the closed-form SVD of a 2x2 Tucker core with the
// sign fixed (tucker_svd and fix_sign in lib/memory/tucker.c).
//
//   C = s0 u t^T + s1 u2 t2^T,  s0 >= s1 >= 0,  {u, u2}, {t, t2} orthonormal
//   t = (cos th, sin th), th = atan2(2b, a - c) / 2 for C^T C = [[a, b], [b, c]]
//   u = C t / s0, s1 = |det C| / s0, u2 = sign(det C) perp(u), t2 = perp(t)
//   sign: flip (u, t) together so u's largest-magnitude entry is positive
// Checked against the reference on fixed and random cores, by reconstruction
// (the four rank-1 pieces must add back to C), and on the sign rule.
#include <math.h>
#include <stdio.h>

#include "grade_util.h"
#include "memory/tucker.h"

void ref_tucker_svd(UmSvd2 *svd, const real *C, int r);

#define TAG "ex_5_1"

// Everything the struct holds, as 11 numbers, for gu_expect_close.
static void flatten(real *out, const UmSvd2 *s) {
    const double v[11] = {s->s[0], s->s[1], s->u[0], s->u[1], s->t[0], s->t[1],
                          s->u2[0], s->u2[1], s->t2[0], s->t2[1], s->r};
    for (int i = 0; i < 11; i++) out[i] = (real)v[i];
}

static void garbage(UmSvd2 *s) {
    s->r = -7;
    for (int i = 0; i < 2; i++) s->s[i] = s->u[i] = s->t[i] = s->u2[i] = s->t2[i] = 1e30;
}

static void compare(const real *C, int r) {
    UmSvd2 yours, ref;
    garbage(&yours);
    tucker_svd(&yours, C, r);
    ref_tucker_svd(&ref, C, r);
    real y[11], f[11];
    flatten(y, &yours), flatten(f, &ref);
    char ctx[256];
    snprintf(ctx, sizeof ctx,
             " Order: s0 s1 u0 u1 t0 t1 u2_0 u2_1 t2_0 t2_1 r. Input: r=%d C=[%.6g %.6g; %.6g %.6g].", r,
             (double)C[0], r == 2 ? (double)C[1] : 0.0, r == 2 ? (double)C[2] : 0.0, r == 2 ? (double)C[3] : 0.0);
    gu_expect_close("svd", y, f, r == 2 ? 11 : 11, 0, ctx);
}

START_TEST(fixed_cores) {
    const real cases[][4] = {
        {0.7, 0.2, 0.4, 0.9},   // positive, like the U(0,1) init
        {1, 0, 0, 0.5},         // diagonal
        {0.5, 0, 0, 1},         // diagonal, the larger one second
        {0, 1, 1, 0},           // equal singular values
        {2, 1, 4, 2},           // rank 1
        {-1, 0.3, 0.2, -0.8},   // negative entries: the sign rule matters
        {0.3, -0.9, 0.8, 0.1},  // negative determinant
        {0, 0, 0, 0},           // zero
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) compare(cases[i], 2);
}
END_TEST

START_TEST(rank_one) {
    const real cs[] = {0.8, -0.3, 0};
    for (int i = 0; i < 3; i++) compare(&cs[i], 1);
}
END_TEST

START_TEST(random_cores) {
    UmRng rng;
    rng_seed(&rng, 0x5101);
    for (int trial = 0; trial < 200; trial++) {
        real C[4];
        gu_fill(C, 4, &rng, trial % 2 ? 1 : 0.1);
        compare(C, 2);
    }
}
END_TEST

// The four pieces add back to C, the vectors are unit length, s0 >= s1 >= 0.
START_TEST(reconstructs) {
    UmRng rng;
    rng_seed(&rng, 0x5102);
    for (int trial = 0; trial < 100; trial++) {
        real C[4];
        gu_fill(C, 4, &rng, 1);
        UmSvd2 s;
        garbage(&s);
        tucker_svd(&s, C, 2);
        real back[4], want[4];
        for (int a = 0; a < 2; a++)
            for (int b = 0; b < 2; b++)
                back[a * 2 + b] = (real)(s.s[0] * s.u[a] * s.t[b] + s.s[1] * s.u2[a] * s.t2[b]), want[a * 2 + b] = C[a * 2 + b];
        char ctx[160];
        snprintf(ctx, sizeof ctx, " s0 u t^T + s1 u2 t2^T should give back C=[%.6g %.6g; %.6g %.6g].", (double)C[0],
                 (double)C[1], (double)C[2], (double)C[3]);
        gu_expect_close("reconstruction of C", back, want, 4, 2, ctx);
        ck_assert_msg(s.s[0] >= s.s[1] && s.s[1] >= 0, "need s0 >= s1 >= 0, got s0=%g s1=%g.%s", s.s[0], s.s[1], ctx);
        double nu = hypot(s.u[0], s.u[1]), nt = hypot(s.t[0], s.t[1]);
        ck_assert_msg(fabs(nu - 1) < 1e-9 && fabs(nt - 1) < 1e-9, "u and t must be unit vectors: |u|=%g |t|=%g.%s",
                      nu, nt, ctx);
    }
}
END_TEST

// Flipping C flips t (u keeps its positive largest entry): the top-m search
// then still looks for the largest u.R, never the most negative.
START_TEST(sign_rule) {
    UmRng rng;
    rng_seed(&rng, 0x5103);
    for (int trial = 0; trial < 100; trial++) {
        real C[4];
        gu_fill(C, 4, &rng, 1);
        UmSvd2 s;
        garbage(&s);
        tucker_svd(&s, C, 2);
        int big = fabs(s.u[1]) > fabs(s.u[0]);
        ck_assert_msg(fabs(hypot(s.u[0], s.u[1]) - 1) < 1e-9, "u must be a unit vector, got u=(%g, %g).", s.u[0],
                      s.u[1]);
        ck_assert_msg(s.u[big] > 0,
                      "the largest-magnitude entry of u must be positive (flip u and t together), got u=(%g, %g) for "
                      "C=[%.6g %.6g; %.6g %.6g].",
                      s.u[0], s.u[1], (double)C[0], (double)C[1], (double)C[2], (double)C[3]);
    }
}
END_TEST

Suite *exercise_suite(void) {
    Suite *s = suite_create("exercise 5.1: 2x2 SVD of the Tucker core");
    GU_ADD(s, TAG, fixed_cores);
    GU_ADD(s, TAG, rank_one);
    GU_ADD(s, TAG, random_cores);
    GU_ADD(s, TAG, reconstructs);
    GU_ADD(s, TAG, sign_rule);
    return s;
}
