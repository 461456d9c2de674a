// moe_pair.h: two MoE layers with the same parameters, one built from your
// lib/memory/moe.c (with your exercise region) and one from the reference
// (ref_um_moe_*), run on the same input. Shared by ex_4_1.c and ex_4_2.c.
#ifndef UM_MOE_PAIR_H
#define UM_MOE_PAIR_H

#include <stdio.h>
#include <string.h>

#include "base/params.h"
#include "grade_util.h"
#include "memory/moe.h"

void ref_um_moe_init(UmMoe *l, const UmMoeConfig *cfg, int D, int max_tokens, UmParamRegistry *reg, UmRng *rng,
                     const char *prefix);
void ref_um_moe_forward(UmMoe *l, real *out, const real *inp, int N);
void ref_um_moe_backward(UmMoe *l, real *dinp, const real *dout, const real *inp, int N);
void ref_um_moe_free(UmMoe *l);

typedef struct {
    int N, D;
    UmMoeConfig cfg;
    UmParamRegistry reg, reg_r;
    UmMoe l, l_r;  // yours, reference
    real *x, *out, *out_r, *dout, *dx, *dx_r;
    char shape[1024];  // for failure messages
} MoePair;

// Same seed for both inits, so both layers hold the same parameters.
static void moe_pair_init(MoePair *p, const UmMoeConfig *cfg, int N, int D, uint64_t seed) {
    UmRng rng, rng_r, data;
    p->N = N, p->D = D, p->cfg = *cfg;
    params_init(&p->reg);
    params_init(&p->reg_r);
    rng_seed(&rng, seed), rng_seed(&rng_r, seed), rng_seed(&data, seed + 1);
    um_moe_init(&p->l, cfg, D, N, &p->reg, &rng, "moe.");
    ref_um_moe_init(&p->l_r, cfg, D, N, &p->reg_r, &rng_r, "moe.");
    size_t ND = (size_t)N * D;
    p->x = gu_reals(ND), p->out = gu_reals(ND), p->out_r = gu_reals(ND), p->dout = gu_reals(ND);
    p->dx = gu_reals(ND), p->dx_r = gu_reals(ND);
    gu_fill(p->x, ND, &data, 1);
    gu_fill(p->dout, ND, &data, 1);
    snprintf(p->shape, sizeof p->shape, " N=%d tokens, D=%d, X=%d experts, top_k=%d, normalize_topk=%d (seeded).", N, D,
             cfg->n_experts, cfg->top_k, cfg->normalize_topk);
}

// The router's weights are larger than at init, so the routing is decisive.
static void moe_pair_sharpen_router(MoePair *p, double std, uint64_t seed) {
    UmRng rng;
    rng_seed(&rng, seed);
    gu_fill(p->l.router->data, p->l.router->numel, &rng, std);
    gu_copy(p->l_r.router->data, p->l.router->data, p->l.router->numel);
}

static void moe_pair_forward(MoePair *p) {
    um_moe_forward(&p->l, p->out, p->x, p->N);
    ref_um_moe_forward(&p->l_r, p->out_r, p->x, p->N);
}

static void moe_pair_backward(MoePair *p) {
    um_moe_backward(&p->l, p->dx, p->dout, p->x, p->N);
    ref_um_moe_backward(&p->l_r, p->dx_r, p->dout, p->x, p->N);
}

// Every parameter gradient and dinp, yours against the reference.
static void moe_pair_compare_grads(MoePair *p) {
    gu_expect_close("dinp", p->dx, p->dx_r, (size_t)p->N * p->D, p->D, p->shape);
    for (int i = 0; i < p->reg.count; i++) {
        char what[96];
        snprintf(what, sizeof what, "gradient of %s", p->reg.params[i]->name);
        gu_expect_close(what, p->reg.params[i]->grad, p->reg_r.params[i]->grad, p->reg.params[i]->numel, 0, p->shape);
    }
}

static void moe_pair_free(MoePair *p) {
    um_moe_free(&p->l);
    ref_um_moe_free(&p->l_r);
    params_free(&p->reg);
    params_free(&p->reg_r);
}

#endif
