// gradcheck_pkm.c: central finite differences (double build) against the
// analytic backward of product-key search and of the whole PKM layer.
//
// The loss is L = sum(out * R) for a fixed random R, so dL/dout = R. Top-k is
// piecewise constant: a finite difference is only meaningful if the +-eps
// perturbation leaves the selection alone. Every perturbed forward compares
// its selected slots with the unperturbed ones; if any flips, the whole check
// is redrawn with the next seed (it never silently skips an entry).
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/params.h"
#include "base/rng.h"
#include "helpers/testutil.h"
#include "memory/pkm.h"
#include "memory/product_keys.h"

#include "helpers/fdcheck.h"

#define EPS 1e-5
#define TOL 1e-6
#define MAX_DRAWS 20

// Relative error, with an absolute floor for entries whose gradient is ~0.
static double grad_err(double analytic, double numeric) {
    double scale = fabs(analytic) + fabs(numeric);
    return fabs(analytic - numeric) / (scale > 1e-6 ? scale : 1e-6);
}

// ---------------------------------------------------------------- product keys alone

typedef struct {
    int n, half, k;
    real *q1, *q2, *K1, *K2, *c;  // c: weights of the loss sum_j c_j scores_j
    int *ref_slots;
    UmPkSearch ws;
} PkCase;

static int pk_loss(PkCase *p, double *L) {
    int slots[16];
    real scores[16];
    pk_search(&p->ws, slots, scores, p->q1, p->q2, p->K1, p->K2);
    if (memcmp(slots, p->ref_slots, p->k * sizeof(int))) return -1;
    *L = 0;
    for (int j = 0; j < p->k; j++) *L += p->c[j] * scores[j];
    return 0;
}

// Returns the worst error, or -1 if the selection flipped.
static double pk_check_tensor(PkCase *p, real *x, const real *analytic, int len) {
    double worst = 0;
    for (int i = 0; i < len; i++) {
        real saved = x[i];
        double Lp, Lm;
        x[i] = saved + EPS;
        int flip = pk_loss(p, &Lp);
        x[i] = saved - EPS;
        flip |= pk_loss(p, &Lm);
        x[i] = saved;
        if (flip) return -1;
        double e = grad_err(analytic[i], (Lp - Lm) / (2 * EPS));
        if (e > worst) worst = e;
    }
    return worst;
}

static double pk_gradcheck(uint64_t seed) {
    PkCase p = {.n = 7, .half = 3, .k = 4};
    UmRng rng;
    rng_seed(&rng, seed);
    int nh = p.n * p.half;
    p.q1 = calloc(p.half, sizeof(real));
    p.q2 = calloc(p.half, sizeof(real));
    p.K1 = calloc(nh, sizeof(real));
    p.K2 = calloc(nh, sizeof(real));
    p.c = calloc(p.k, sizeof(real));
    p.ref_slots = calloc(p.k, sizeof(int));
    fill_normal(p.q1, p.half, &rng, 1);
    fill_normal(p.q2, p.half, &rng, 1);
    fill_normal(p.K1, nh, &rng, 1);
    fill_normal(p.K2, nh, &rng, 1);
    fill_normal(p.c, p.k, &rng, 1);
    pk_search_alloc(&p.ws, p.n, p.half, p.k);
    real scores[16];
    pk_search(&p.ws, p.ref_slots, scores, p.q1, p.q2, p.K1, p.K2);
    real *dq1 = calloc(p.half, sizeof(real)), *dq2 = calloc(p.half, sizeof(real));
    real *dK1 = calloc(nh, sizeof(real)), *dK2 = calloc(nh, sizeof(real));
    pk_backward(dq1, dq2, dK1, dK2, p.c, p.ref_slots, p.q1, p.q2, p.K1, p.K2, p.n, p.half, p.k);
    double worst = 0;
    real *xs[] = {p.q1, p.q2, p.K1, p.K2};
    real *gs[] = {dq1, dq2, dK1, dK2};
    int lens[] = {p.half, p.half, nh, nh};
    for (int t = 0; t < 4 && worst >= 0; t++) {
        double e = pk_check_tensor(&p, xs[t], gs[t], lens[t]);
        worst = e < 0 ? -1 : fmax(worst, e);
    }
    pk_search_free(&p.ws);
    free(p.q1), free(p.q2), free(p.K1), free(p.K2), free(p.c), free(p.ref_slots);
    free(dq1), free(dq2), free(dK1), free(dK2);
    return worst;
}

START_TEST(test_gradcheck_product_keys) {
    for (uint64_t seed = 1; seed <= MAX_DRAWS; seed++) {
        double worst = pk_gradcheck(seed);
        if (worst < 0) continue;  // selection flipped under +-eps: redraw
        ck_assert_msg(worst < TOL, "product keys: worst relative error %g", worst);
        return;
    }
    ck_abort_msg("every draw flipped the selection");
}
END_TEST

// ---------------------------------------------------------------- the PKM layer

typedef struct {
    UmParamRegistry reg;
    UmPkm l;
    real *inp, *out, *R, *dinp;
    int *ref_slots;
    int N, D;
} LayerCase;

static int layer_loss(LayerCase *c, double *L) {
    um_pkm_forward(&c->l, c->out, c->inp, c->N);
    size_t reads = (size_t)c->N * c->l.cfg.H * c->l.cfg.k;
    if (memcmp(c->l.slots, c->ref_slots, reads * sizeof(int))) return -1;
    *L = 0;
    for (size_t i = 0; i < (size_t)c->N * c->D; i++) *L += c->out[i] * c->R[i];
    return 0;
}

static int layer_loss_cb(void *ctx, double *L) { return layer_loss(ctx, L); }

static double layer_check_tensor(LayerCase *c, real *x, const real *analytic, size_t len, const char *name) {
    return fd_check_tensor(x, analytic, len, name, layer_loss_cb, c, EPS, TOL, 1e-6);
}

// Returns the worst relative error over dinp and every parameter gradient,
// or -1 if some perturbation flipped the selection.
static double layer_gradcheck(const UmPkmConfig *cfg, uint64_t seed, int *n_checked) {
    LayerCase c = {.N = 6, .D = 8};
    UmRng rng;
    rng_seed(&rng, seed);
    params_init(&c.reg);
    um_pkm_init(&c.l, cfg, c.D, c.N, &c.reg, &rng, "pkm.");
    size_t nd = (size_t)c.N * c.D, reads = (size_t)c.N * cfg->H * cfg->k;
    c.inp = um_alloc(nd * sizeof(real));
    c.out = um_alloc(nd * sizeof(real));
    c.R = um_alloc(nd * sizeof(real));
    c.dinp = um_alloc(nd * sizeof(real));
    c.ref_slots = um_alloc(reads * sizeof(int));
    fill_normal(c.inp, nd, &rng, 1);
    fill_normal(c.R, nd, &rng, 1);
    // Non-trivial norm parameters so their gradients are tested away from 1 and 0.
    for (int i = 0; i < c.reg.count; i++)
        if (strstr(c.reg.params[i]->name, "query_norm") || strstr(c.reg.params[i]->name, "query.bias"))
            for (size_t j = 0; j < c.reg.params[i]->numel; j++) c.reg.params[i]->data[j] += 0.3 * rng_normal(&rng);

    um_pkm_forward(&c.l, c.out, c.inp, c.N);
    memcpy(c.ref_slots, c.l.slots, reads * sizeof(int));
    params_zero_grad(&c.reg);
    um_pkm_backward(&c.l, c.dinp, c.R, c.inp, c.N);

    double worst = layer_check_tensor(&c, c.inp, c.dinp, nd, "dinp");
    *n_checked = 1;
    for (int i = 0; i < c.reg.count && worst >= 0; i++) {
        UmParam *p = c.reg.params[i];
        double e = layer_check_tensor(&c, p->data, p->grad, p->numel, p->name);
        worst = e < 0 ? -1 : fmax(worst, e);
        ++*n_checked;
    }
    um_pkm_free(&c.l);
    params_free(&c.reg);
    um_free(c.inp), um_free(c.out), um_free(c.R), um_free(c.dinp), um_free(c.ref_slots);
    return worst;
}

static void check_layer(UmQueryNormKind kind, int bias, int expected_tensors) {
    UmPkmConfig cfg = um_pkm_config_default();
    cfg.n = 5;
    cfg.H = 2;
    cfg.Dk = 4;
    cfg.k = 3;
    cfg.query_norm = kind;
    cfg.query_bias = bias;
    for (uint64_t seed = 1; seed <= MAX_DRAWS; seed++) {
        int n_checked = 0;
        double worst = layer_gradcheck(&cfg, seed, &n_checked);
        if (worst < 0) continue;  // selection flipped under +-eps: redraw
        ck_assert_int_eq(n_checked, expected_tensors);
        ck_assert_msg(worst < TOL, "pkm (norm %d, bias %d): worst relative error %g", kind, bias, worst);
        return;
    }
    ck_abort_msg("every draw flipped the selection");
}

// dinp + query.weight + query_norm.{weight,bias} + keys + values
START_TEST(test_gradcheck_pkm_layernorm) { check_layer(UM_QUERY_NORM_LAYERNORM, 0, 6); }
END_TEST
// dinp + query.{weight,bias} + query_norm.weight + keys + values
START_TEST(test_gradcheck_pkm_rmsnorm_bias) { check_layer(UM_QUERY_NORM_RMSNORM, 1, 6); }
END_TEST
// dinp + query.{weight,bias} + keys + values
START_TEST(test_gradcheck_pkm_no_norm) { check_layer(UM_QUERY_NORM_NONE, 1, 5); }
END_TEST

Suite *gradcheck_pkm_suite(void) {
    Suite *s = suite_create("gradcheck_pkm");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_gradcheck_product_keys);
    tcase_add_test(tc, test_gradcheck_pkm_layernorm);
    tcase_add_test(tc, test_gradcheck_pkm_rmsnorm_bias);
    tcase_add_test(tc, test_gradcheck_pkm_no_norm);
    tcase_set_timeout(tc, 30);
    suite_add_tcase(s, tc);
    return s;
}
