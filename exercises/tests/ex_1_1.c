// ex_1_1.c: exercise 1.1, matmul backward (matmul_backward_ref in lib/kernels/matmul.c).
//
// forward:  out (N,OC) = inp (N,C) @ weight (OC,C)^T + bias (OC)
// backward: dinp += dout @ weight, dweight += dout^T @ inp, dbias += column sums of dout
// Checked against the reference on a fixed small case (printed on failure),
// on random shapes, with NULL outputs, and by finite differences.
#include <stdio.h>
#include <string.h>

#include "grade_util.h"
#include "kernels/matmul.h"

void ref_matmul_backward_ref(real *dinp, real *dweight, real *dbias, const real *dout, const real *inp,
                             const real *weight, int N, int C, int OC);

#define TAG "ex_1_1"

typedef struct {
    int N, C, OC;
    real *inp, *weight, *dout;
    real *dinp, *dweight, *dbias;            // yours (start from nonzero values: backward must +=)
    real *dinp_r, *dweight_r, *dbias_r;      // reference
} Case;

static void make_case(Case *c, int N, int C, int OC, UmRng *rng) {
    c->N = N, c->C = C, c->OC = OC;
    c->inp = gu_reals((size_t)N * C), c->weight = gu_reals((size_t)OC * C), c->dout = gu_reals((size_t)N * OC);
    c->dinp = gu_reals((size_t)N * C), c->dweight = gu_reals((size_t)OC * C), c->dbias = gu_reals(OC);
    c->dinp_r = gu_reals((size_t)N * C), c->dweight_r = gu_reals((size_t)OC * C), c->dbias_r = gu_reals(OC);
    gu_fill(c->inp, (size_t)N * C, rng, 1);
    gu_fill(c->weight, (size_t)OC * C, rng, 1);
    gu_fill(c->dout, (size_t)N * OC, rng, 1);
    gu_fill(c->dinp, (size_t)N * C, rng, 1);
    gu_fill(c->dweight, (size_t)OC * C, rng, 1);
    gu_fill(c->dbias, OC, rng, 1);
    gu_copy(c->dinp_r, c->dinp, (size_t)N * C);
    gu_copy(c->dweight_r, c->dweight, (size_t)OC * C);
    gu_copy(c->dbias_r, c->dbias, OC);
}

static void compare(Case *c, const char *context) {
    gu_expect_close("dinp", c->dinp, c->dinp_r, (size_t)c->N * c->C, c->C, context);
    gu_expect_close("dweight", c->dweight, c->dweight_r, (size_t)c->OC * c->C, c->C, context);
    gu_expect_close("dbias", c->dbias, c->dbias_r, c->OC, 0, context);
}

START_TEST(fixed_small) {
    // N=2 tokens, C=3 inputs, OC=2 outputs; the gradients start at 0.5 so a
    // backward that overwrites instead of adding is caught.
    real inp[6] = {1, 2, 3, -1, 0, 2}, weight[6] = {0.5, -1, 2, 1, 1, -0.5}, dout[4] = {1, -2, 0.5, 3};
    Case c = {2, 3, 2, inp, weight, dout, gu_reals(6), gu_reals(6), gu_reals(2), gu_reals(6), gu_reals(6), gu_reals(2)};
    for (int i = 0; i < 6; i++) c.dinp[i] = c.dinp_r[i] = c.dweight[i] = c.dweight_r[i] = 0.5;
    c.dbias[0] = c.dbias[1] = c.dbias_r[0] = c.dbias_r[1] = 0.5;
    matmul_backward_ref(c.dinp, c.dweight, c.dbias, dout, inp, weight, 2, 3, 2);
    ref_matmul_backward_ref(c.dinp_r, c.dweight_r, c.dbias_r, dout, inp, weight, 2, 3, 2);
    compare(&c, " Inputs: N=2 C=3 OC=2 inp=[1,2,3; -1,0,2] weight=[0.5,-1,2; 1,1,-0.5] dout=[1,-2; 0.5,3], "
                "every gradient starting at 0.5 (backward adds).");
}
END_TEST

START_TEST(random_shapes) {
    UmRng rng;
    rng_seed(&rng, 0x1101);
    for (int trial = 0; trial < 6; trial++) {
        Case c;
        make_case(&c, gu_between(&rng, 1, 9), gu_between(&rng, 1, 17), gu_between(&rng, 1, 13), &rng);
        matmul_backward_ref(c.dinp, c.dweight, c.dbias, c.dout, c.inp, c.weight, c.N, c.C, c.OC);
        ref_matmul_backward_ref(c.dinp_r, c.dweight_r, c.dbias_r, c.dout, c.inp, c.weight, c.N, c.C, c.OC);
        char ctx[96];
        snprintf(ctx, sizeof ctx, " Random shape N=%d C=%d OC=%d (seeded).", c.N, c.C, c.OC);
        compare(&c, ctx);
    }
}
END_TEST

// Any of dinp, dweight, dbias may be NULL (a first layer needs no dinp, a
// layer without bias has no dbias): compute the others and touch nothing else.
START_TEST(null_outputs) {
    UmRng rng;
    rng_seed(&rng, 0x1102);
    for (int mask = 1; mask < 7; mask++) {  // which outputs are wanted; 7 (all) is the other tests' job
        Case c;
        make_case(&c, 3, 5, 4, &rng);
        matmul_backward_ref(mask & 1 ? c.dinp : NULL, mask & 2 ? c.dweight : NULL, mask & 4 ? c.dbias : NULL, c.dout,
                            c.inp, c.weight, 3, 5, 4);
        ref_matmul_backward_ref(mask & 1 ? c.dinp_r : NULL, mask & 2 ? c.dweight_r : NULL, mask & 4 ? c.dbias_r : NULL,
                                c.dout, c.inp, c.weight, 3, 5, 4);
        char ctx[128];
        snprintf(ctx, sizeof ctx, " N=3 C=5 OC=4 with%s%s%s set to NULL.", mask & 1 ? "" : " dinp",
                 mask & 2 ? "" : " dweight", mask & 4 ? "" : " dbias");
        compare(&c, ctx);
    }
}
END_TEST

// L = sum(dout * (inp @ weight^T + bias)), so dL/dinp is exactly your dinp.
typedef struct {
    Case *c;
    real *bias, *out;
} Fd;

static double loss(void *ctx) {
    Fd *f = ctx;
    Case *c = f->c;
    matmul_forward_ref(f->out, c->inp, c->weight, f->bias, c->N, c->C, c->OC);
    double L = 0;
    for (int i = 0; i < c->N * c->OC; i++) L += (double)f->out[i] * c->dout[i];
    return L;
}

START_TEST(finite_differences) {
    UmRng rng;
    rng_seed(&rng, 0x1103);
    Case c;
    make_case(&c, 4, 6, 5, &rng);
    memset(c.dinp, 0, sizeof(real) * 24), memset(c.dweight, 0, sizeof(real) * 30), memset(c.dbias, 0, sizeof(real) * 5);
    Fd f = {&c, gu_reals(5), gu_reals(20)};
    gu_fill(f.bias, 5, &rng, 1);
    matmul_backward_ref(c.dinp, c.dweight, c.dbias, c.dout, c.inp, c.weight, 4, 6, 5);
    const char *ctx = " L = sum(dout * out), N=4 C=6 OC=5, gradients starting at 0.";
    for (size_t i = 0; i < 24; i++) gu_expect_fd("dinp", i, c.dinp[i], c.inp, loss, &f, ctx);
    for (size_t i = 0; i < 30; i++) gu_expect_fd("dweight", i, c.dweight[i], c.weight, loss, &f, ctx);
    for (size_t i = 0; i < 5; i++) gu_expect_fd("dbias", i, c.dbias[i], f.bias, loss, &f, ctx);
}
END_TEST

Suite *exercise_suite(void) {
    Suite *s = suite_create("exercise 1.1: matmul backward");
    GU_ADD(s, TAG, fixed_small);
    GU_ADD(s, TAG, random_shapes);
    GU_ADD(s, TAG, null_outputs);
    GU_ADD(s, TAG, finite_differences);
    return s;
}
