// ex_6_2.c: exercise 6.2, the backward of IVE pooling
// (ive_pool_backward_weights and ive_pool_backward_value in lib/memory/ive.c).
//
//   forward:  acc[block[i], slice c] += w[i,c] V[phys[i], slice c]
//   dw[i,c]  = <dacc[block[i], slice c], V[phys[i], slice c]>       (overwritten)
//   dv       += w[c] dacc_block[slice c]     for one read (dv = dV[phys[i]])
// Checked against the reference and by finite differences of
// loss = <G, acc> with acc from the reference forward.
#include <stdio.h>

#include "grade_util.h"
#include "memory/ive.h"

void ref_ive_pool_token(real *acc, const real *V, const int *phys, const int *block, const real *w, int reads, int E,
                        int Dv, int h);
void ref_ive_pool_backward_weights(real *dw, const real *dacc, const real *V, const int *phys, const int *block,
                                   int reads, int Dv, int h);
void ref_ive_pool_backward_value(real *dv, const real *dacc_block, const real *w, int Dv, int h);

#define TAG "ex_6_2"

typedef struct {
    int P, Dv, E, h, reads;
    real *V, *w, *G, *acc;
    int *phys, *block;
} PoolCase;

static void case_random(PoolCase *c, UmRng *rng) {
    c->h = gu_between(rng, 1, 3), c->Dv = c->h * gu_between(rng, 1, 4), c->E = gu_between(rng, 1, 4);
    c->P = gu_between(rng, 1, 6), c->reads = gu_between(rng, 1, 8);
    c->V = gu_reals((size_t)c->P * c->Dv), c->w = gu_reals((size_t)c->reads * c->h);
    c->G = gu_reals((size_t)c->E * c->Dv), c->acc = gu_reals((size_t)c->E * c->Dv);
    c->phys = gu_ints(c->reads), c->block = gu_ints(c->reads);
    gu_fill(c->V, (size_t)c->P * c->Dv, rng, 1), gu_fill(c->w, (size_t)c->reads * c->h, rng, 1);
    gu_fill(c->G, (size_t)c->E * c->Dv, rng, 1);
    for (int i = 0; i < c->reads; i++) c->phys[i] = gu_between(rng, 0, c->P - 1), c->block[i] = gu_between(rng, 0, c->E - 1);
}

// loss = <G, acc>: its gradient at acc is G, so dacc = G.
static double pool_loss(void *ctx) {
    PoolCase *c = ctx;
    ref_ive_pool_token(c->acc, c->V, c->phys, c->block, c->w, c->reads, c->E, c->Dv, c->h);
    double s = 0;
    for (int i = 0; i < c->E * c->Dv; i++) s += (double)c->G[i] * c->acc[i];
    return s;
}

// dV for all reads, the way the layer does it (one read at a time).
static void value_grads(real *dV, const PoolCase *c, int yours) {
    for (int i = 0; i < c->reads; i++) {
        real *dv = dV + (size_t)c->phys[i] * c->Dv;
        const real *d = c->G + (size_t)c->block[i] * c->Dv, *w = c->w + (size_t)i * c->h;
        if (yours) ive_pool_backward_value(dv, d, w, c->Dv, c->h);
        else ref_ive_pool_backward_value(dv, d, w, c->Dv, c->h);
    }
}

START_TEST(weights_match) {
    UmRng rng;
    rng_seed(&rng, 0x6201);
    for (int trial = 0; trial < 40; trial++) {
        PoolCase c;
        case_random(&c, &rng);
        size_t n = (size_t)c.reads * c.h;
        real *yours = gu_reals(n), *ref = gu_reals(n);
        gu_fill(yours, n, &rng, 5);  // stale values: dw must be overwritten
        ive_pool_backward_weights(yours, c.G, c.V, c.phys, c.block, c.reads, c.Dv, c.h);
        ref_ive_pool_backward_weights(ref, c.G, c.V, c.phys, c.block, c.reads, c.Dv, c.h);
        char ctx[128];
        snprintf(ctx, sizeof ctx, " Random P=%d Dv=%d E=%d h=%d reads=%d (dw: reads x h).", c.P, c.Dv, c.E, c.h,
                 c.reads);
        gu_expect_close("dw", yours, ref, n, c.h, ctx);
    }
}
END_TEST

START_TEST(values_match) {
    UmRng rng;
    rng_seed(&rng, 0x6202);
    for (int trial = 0; trial < 40; trial++) {
        PoolCase c;
        case_random(&c, &rng);
        size_t n = (size_t)c.P * c.Dv;
        real *yours = gu_reals(n), *ref = gu_reals(n);
        gu_fill(yours, n, &rng, 1);
        gu_copy(ref, yours, n);  // accumulated onto nonzero values
        value_grads(yours, &c, 1);
        value_grads(ref, &c, 0);
        char ctx[128];
        snprintf(ctx, sizeof ctx, " Random P=%d Dv=%d E=%d h=%d reads=%d, dV starting from random values (+=).", c.P,
                 c.Dv, c.E, c.h, c.reads);
        gu_expect_close("dV", yours, ref, n, c.Dv, ctx);
    }
}
END_TEST

START_TEST(finite_differences) {
    UmRng rng;
    rng_seed(&rng, 0x6203);
    for (int trial = 0; trial < 10; trial++) {
        PoolCase c;
        case_random(&c, &rng);
        real *dw = gu_reals((size_t)c.reads * c.h), *dV = gu_reals((size_t)c.P * c.Dv);
        ive_pool_backward_weights(dw, c.G, c.V, c.phys, c.block, c.reads, c.Dv, c.h);
        value_grads(dV, &c, 1);
        const char *ctx = " loss = <G, acc>, random shapes.";
        for (int i = 0; i < c.reads * c.h; i++) gu_expect_fd("dw", i, dw[i], c.w, pool_loss, &c, ctx);
        for (int i = 0; i < c.P * c.Dv; i++) gu_expect_fd("dV", i, dV[i], c.V, pool_loss, &c, ctx);
    }
}
END_TEST

Suite *exercise_suite(void) {
    Suite *s = suite_create("exercise 6.2: IVE pooling backward");
    GU_ADD(s, TAG, weights_match);
    GU_ADD(s, TAG, values_match);
    GU_ADD(s, TAG, finite_differences);
    return s;
}
