// ex_2_1.c: exercise 2.1, softmax cross-entropy backward
// (softmax_crossentropy_backward in lib/nn/crossentropy.c).
//
// forward:  p = softmax(z) per row, loss_n = -log p[n][target_n]; the model's
//           loss is scale * sum_n loss_n (scale = 1/N for the mean)
// backward: dlogits (N,V) += d(scale * sum loss) / dz, from the cached probs.
#include <stdio.h>
#include <string.h>

#include "grade_util.h"
#include "nn/crossentropy.h"

void ref_softmax_crossentropy_backward(real *dlogits, const real *probs, const int *targets, real scale, int N, int V);

#define TAG "ex_2_1"

typedef struct {
    int N, V;
    real scale;
    real *logits, *probs, *losses, *dz, *dz_r;
    int *targets;
} Case;

static void make_case(Case *c, int N, int V, UmRng *rng) {
    c->N = N, c->V = V;
    c->scale = (real)(0.25 + rng_uniform(rng));
    c->logits = gu_reals((size_t)N * V), c->probs = gu_reals((size_t)N * V), c->losses = gu_reals(N);
    c->dz = gu_reals((size_t)N * V), c->dz_r = gu_reals((size_t)N * V);
    c->targets = gu_ints(N);
    gu_fill(c->logits, (size_t)N * V, rng, 2);
    for (int n = 0; n < N; n++) c->targets[n] = (int)rng_below(rng, (uint32_t)V);
    gu_fill(c->dz, (size_t)N * V, rng, 1);
    gu_copy(c->dz_r, c->dz, (size_t)N * V);
    softmax_crossentropy_forward(c->losses, c->probs, c->logits, c->targets, N, V);
}

START_TEST(fixed_small) {
    real logits[8] = {1, 2, 0.5, -1, 0, 0, 3, 1};
    int targets[2] = {1, 3};
    real probs[8], losses[2], dz[8], dz_r[8];
    softmax_crossentropy_forward(losses, probs, logits, targets, 2, 4);
    for (int i = 0; i < 8; i++) dz[i] = dz_r[i] = 0.25;
    softmax_crossentropy_backward(dz, probs, targets, (real)0.5, 2, 4);
    ref_softmax_crossentropy_backward(dz_r, probs, targets, (real)0.5, 2, 4);
    gu_expect_close("dlogits", dz, dz_r, 8, 4,
                    " Inputs: N=2 V=4 logits=[1,2,0.5,-1; 0,0,3,1] targets=[1,3] scale=0.5, dlogits starting at 0.25 "
                    "(backward adds).");
}
END_TEST

START_TEST(random_shapes) {
    UmRng rng;
    rng_seed(&rng, 0x2101);
    for (int trial = 0; trial < 6; trial++) {
        Case c;
        make_case(&c, gu_between(&rng, 1, 9), gu_between(&rng, 2, 40), &rng);
        softmax_crossentropy_backward(c.dz, c.probs, c.targets, c.scale, c.N, c.V);
        ref_softmax_crossentropy_backward(c.dz_r, c.probs, c.targets, c.scale, c.N, c.V);
        char ctx[512];
        snprintf(ctx, sizeof ctx, " Random shape N=%d V=%d scale=%.6g (seeded).", c.N, c.V, (double)c.scale);
        gu_describe_ints(ctx, sizeof ctx, "targets", c.targets, c.N);
        gu_expect_close("dlogits", c.dz, c.dz_r, (size_t)c.N * c.V, c.V, ctx);
    }
}
END_TEST

static double loss(void *ctx) {
    Case *c = ctx;
    real *probs = gu_reals((size_t)c->N * c->V);
    softmax_crossentropy_forward(c->losses, probs, c->logits, c->targets, c->N, c->V);
    double L = 0;
    for (int n = 0; n < c->N; n++) L += c->losses[n];
    return c->scale * L;
}

START_TEST(finite_differences) {
    UmRng rng;
    rng_seed(&rng, 0x2102);
    Case c;
    make_case(&c, 3, 7, &rng);
    memset(c.dz, 0, sizeof(real) * 21);
    softmax_crossentropy_backward(c.dz, c.probs, c.targets, c.scale, 3, 7);
    for (size_t i = 0; i < 21; i++)
        gu_expect_fd("dlogits", i, c.dz[i], c.logits, loss, &c, " L = scale * sum of the 3 losses, V=7.");
}
END_TEST

Suite *exercise_suite(void) {
    Suite *s = suite_create("exercise 2.1: softmax cross-entropy backward");
    GU_ADD(s, TAG, fixed_small);
    GU_ADD(s, TAG, random_shapes);
    GU_ADD(s, TAG, finite_differences);
    return s;
}
