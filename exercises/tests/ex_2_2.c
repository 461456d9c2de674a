// ex_2_2.c: exercise 2.2, LayerNorm backward, the input gradient
// (layernorm_backward_inp in lib/nn/layernorm.c, called by layernorm_backward).
//
// forward:  norm = (x - mean) * rstd,  y = norm * w + b   per row of D
// backward: dx (N,D) += the gradient through norm, mean and rstd.
// dweight and dbias are computed by the given code; only dinp is yours.
#include <stdio.h>
#include <string.h>

#include "grade_util.h"
#include "nn/layernorm.h"

void ref_layernorm_backward(real *dinp, real *dweight, real *dbias, const real *dout, const real *inp,
                            const real *weight, const real *mean, const real *rstd, int N, int D);

#define TAG "ex_2_2"

typedef struct {
    int N, D;
    real *x, *w, *b, *dout, *out, *mean, *rstd;
    real *dx, *dw, *db, *dx_r, *dw_r, *db_r;
} Case;

static void make_case(Case *c, int N, int D, UmRng *rng) {
    size_t ND = (size_t)N * D;
    c->N = N, c->D = D;
    c->x = gu_reals(ND), c->w = gu_reals(D), c->b = gu_reals(D), c->dout = gu_reals(ND), c->out = gu_reals(ND);
    c->mean = gu_reals(N), c->rstd = gu_reals(N);
    c->dx = gu_reals(ND), c->dw = gu_reals(D), c->db = gu_reals(D);
    c->dx_r = gu_reals(ND), c->dw_r = gu_reals(D), c->db_r = gu_reals(D);
    gu_fill(c->x, ND, rng, 2);
    for (size_t i = 0; i < ND; i++) c->x[i] += (real)1.5;  // a nonzero mean, so the centring matters
    gu_fill(c->w, D, rng, 1);
    gu_fill(c->b, D, rng, 1);
    gu_fill(c->dout, ND, rng, 1);
    gu_fill(c->dx, ND, rng, 1);
    gu_copy(c->dx_r, c->dx, ND);
    layernorm_forward(c->out, c->mean, c->rstd, c->x, c->w, c->b, N, D);
}

static void run_both(Case *c) {
    layernorm_backward(c->dx, c->dw, c->db, c->dout, c->x, c->w, c->mean, c->rstd, c->N, c->D);
    ref_layernorm_backward(c->dx_r, c->dw_r, c->db_r, c->dout, c->x, c->w, c->mean, c->rstd, c->N, c->D);
}

START_TEST(fixed_small) {
    real x[8] = {1, 2, 4, -1, 0.5, 0.5, 3, 0}, w[4] = {1, 0.5, -1, 2}, b[4] = {0, 0.1, 0.2, 0.3};
    real dout[8] = {1, -1, 0.5, 2, 0, 1, -2, 0.5};
    Case c = {2, 4, x, w, b, dout, gu_reals(8), gu_reals(2), gu_reals(2), gu_reals(8), gu_reals(4), gu_reals(4),
              gu_reals(8), gu_reals(4), gu_reals(4)};
    layernorm_forward(c.out, c.mean, c.rstd, x, w, b, 2, 4);
    for (int i = 0; i < 8; i++) c.dx[i] = c.dx_r[i] = 0.25;
    run_both(&c);
    gu_expect_close("dinp", c.dx, c.dx_r, 8, 4,
                    " Inputs: N=2 D=4 x=[1,2,4,-1; 0.5,0.5,3,0] w=[1,0.5,-1,2] b=[0,0.1,0.2,0.3] "
                    "dout=[1,-1,0.5,2; 0,1,-2,0.5], dinp starting at 0.25 (backward adds).");
}
END_TEST

START_TEST(random_shapes) {
    UmRng rng;
    rng_seed(&rng, 0x2201);
    for (int trial = 0; trial < 6; trial++) {
        Case c;
        make_case(&c, gu_between(&rng, 1, 8), gu_between(&rng, 2, 33), &rng);
        run_both(&c);
        char ctx[96];
        snprintf(ctx, sizeof ctx, " Random shape N=%d D=%d (seeded).", c.N, c.D);
        gu_expect_close("dinp", c.dx, c.dx_r, (size_t)c.N * c.D, c.D, ctx);
    }
}
END_TEST

static double loss(void *ctx) {  // L = sum(dout * layernorm(x))
    Case *c = ctx;
    real mean[8], rstd[8];
    layernorm_forward(c->out, mean, rstd, c->x, c->w, c->b, c->N, c->D);
    double L = 0;
    for (int i = 0; i < c->N * c->D; i++) L += (double)c->out[i] * c->dout[i];
    return L;
}

START_TEST(finite_differences) {
    UmRng rng;
    rng_seed(&rng, 0x2202);
    Case c;
    make_case(&c, 3, 6, &rng);
    memset(c.dx, 0, sizeof(real) * 18);
    run_both(&c);
    for (size_t i = 0; i < 18; i++)
        gu_expect_fd("dinp", i, c.dx[i], c.x, loss, &c, " L = sum(dout * layernorm(x)), N=3 D=6, dinp from 0.");
}
END_TEST

Suite *exercise_suite(void) {
    Suite *s = suite_create("exercise 2.2: LayerNorm backward");
    GU_ADD(s, TAG, fixed_small);
    GU_ADD(s, TAG, random_shapes);
    GU_ADD(s, TAG, finite_differences);
    return s;
}
