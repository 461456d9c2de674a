// ex_1_2.c: exercise 1.2, the GELU derivative (gelu_derivative in lib/nn/gelu.c).
//
// forward:  y = 0.5 x (1 + tanh(u)),  u = sqrt(2/pi) (x + 0.044715 x^3)
// gelu_backward (given) does dinp += gelu_derivative(inp) * dout, and the MLP
// and every MoE expert call it, so this one function is all of GELU's backward.
#include <math.h>
#include <stdio.h>

#include "grade_util.h"
#include "nn/gelu.h"

real ref_gelu_derivative(real x);
void ref_gelu_backward(real *dinp, const real *inp, const real *dout, size_t n);

#define TAG "ex_1_2"

START_TEST(fixed_points) {
    const real xs[] = {-4, -2, -1, -0.5, -0.1, 0, 0.1, 0.5, 1, 2, 4};
    const int n = (int)(sizeof xs / sizeof xs[0]);
    real yours[16], ref[16];
    for (int i = 0; i < n; i++) {
        yours[i] = gelu_derivative(xs[i]);
        ref[i] = ref_gelu_derivative(xs[i]);
    }
    char ctx[512] = " Inputs:";
    gu_describe(ctx, sizeof ctx, "x", xs, n);
    gu_expect_close("gelu_derivative(x)", yours, ref, n, 0, ctx);
}
END_TEST

START_TEST(random_inputs) {
    UmRng rng;
    rng_seed(&rng, 0x1201);
    int n = 1000;
    real *x = gu_reals(n), *yours = gu_reals(n), *ref = gu_reals(n);
    gu_fill(x, n, &rng, 3);
    for (int i = 0; i < n; i++) yours[i] = gelu_derivative(x[i]), ref[i] = ref_gelu_derivative(x[i]);
    gu_expect_close("gelu_derivative(x)", yours, ref, n, 0, " x: 1000 seeded draws from N(0, 3^2).");
}
END_TEST

static real g_x;
static double gelu_at(void *ctx) {
    (void)ctx;
    real y;
    gelu_forward(&y, &g_x, 1);
    return y;
}

START_TEST(finite_differences) {
    UmRng rng;
    rng_seed(&rng, 0x1202);
    for (int i = 0; i < 200; i++) {
        g_x = (real)(2.5 * rng_normal(&rng));
        char ctx[64];
        snprintf(ctx, sizeof ctx, " At x = %.10g.", (double)g_x);
        gu_expect_fd("gelu'(x)", 0, gelu_derivative(g_x), &g_x, gelu_at, NULL, ctx);
    }
}
END_TEST

// Through gelu_backward: the derivative times dout, added to what dinp held.
START_TEST(backward_accumulates) {
    UmRng rng;
    rng_seed(&rng, 0x1203);
    int n = 64;
    real *x = gu_reals(n), *dout = gu_reals(n), *dinp = gu_reals(n), *dinp_r = gu_reals(n);
    gu_fill(x, n, &rng, 2);
    gu_fill(dout, n, &rng, 1);
    gu_fill(dinp, n, &rng, 1);
    gu_copy(dinp_r, dinp, n);
    gelu_backward(dinp, x, dout, n);
    ref_gelu_backward(dinp_r, x, dout, n);
    gu_expect_close("dinp after gelu_backward", dinp, dinp_r, n, 0, " n=64, dinp starting from random values.");
}
END_TEST

Suite *exercise_suite(void) {
    Suite *s = suite_create("exercise 1.2: GELU derivative");
    GU_ADD(s, TAG, fixed_points);
    GU_ADD(s, TAG, random_inputs);
    GU_ADD(s, TAG, finite_differences);
    GU_ADD(s, TAG, backward_accumulates);
    return s;
}
