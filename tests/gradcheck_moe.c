// gradcheck_moe.c: finite-difference check of every MoE gradient (double build).
//
// Objective L = sum(out * R) + aux_loss, so backward gets dout = R and must
// add the balance and z-loss gradients itself. Top-k is piecewise constant:
// the check is only valid while no perturbation changes the routing, so the
// setup redraws the input until the k-th and (k+1)-th logits of every token
// are well apart, and every perturbed forward asserts the routing is unchanged.
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/params.h"
#include "base/rng.h"
#include "helpers/testutil.h"
#include "memory/moe.h"

#define EPS 1e-5
// Pass when |numeric - analytic| <= TOL * max(|numeric|, |analytic|) + ATOL.
// ATOL is the finite-difference noise floor: L is O(10), so rounding in
// (L+ - L-) / (2 EPS) is about 1e-16 * 10 / 1e-5 = 1e-10; ATOL sits 10x above.
#define TOL 1e-6
#define ATOL 1e-9

typedef struct {
    UmParamRegistry reg;
    UmMoe moe;
    int N, D;
    real *x, *R, *out, *dx;
    int *chosen0;  // the routing at the unperturbed point
} Check;

// Smallest gap, over tokens, between the k-th chosen logit and the best unchosen one.
static double routing_margin(const UmMoe *m) {
    double margin = INFINITY;
    for (int t = 0; t < m->n_tokens; t++) {
        const real *lg = m->logits + (size_t)t * m->X;
        double kth = lg[m->chosen[t * m->k + m->k - 1]], best_out = -INFINITY;
        for (int i = 0; i < m->X; i++) {
            int taken = 0;
            for (int j = 0; j < m->k; j++) taken |= m->chosen[t * m->k + j] == i;
            if (!taken && lg[i] > best_out) best_out = lg[i];
        }
        if (m->k < m->X && kth - best_out < margin) margin = kth - best_out;
    }
    return margin;
}

static double objective(Check *c) {
    um_moe_forward(&c->moe, c->out, c->x, c->N);
    int same = memcmp(c->chosen0, c->moe.chosen, (size_t)c->N * c->moe.k * sizeof(int)) == 0;
    ck_assert_msg(same, "a perturbation changed the routing; the check is invalid here");
    double L = c->moe.aux_loss;
    for (int i = 0; i < c->N * c->D; i++) L += c->out[i] * c->R[i];
    return L;
}

static void check_setup(Check *c, const UmMoeConfig *cfg, int N, int D, double R_scale) {
    UmRng rng;
    rng_seed(&rng, 42);
    params_init(&c->reg);
    um_moe_init(&c->moe, cfg, D, N, &c->reg, &rng, "moe.");
    // biases start at 0; give them values so their gradients are not trivially checked at a special point
    UmParam *biases[] = {c->moe.b1, c->moe.b2, c->moe.sb1, c->moe.sb2};
    for (int i = 0; i < 4; i++)
        if (biases[i]) param_normal(biases[i], &rng, 0.2);
    c->N = N;
    c->D = D;
    size_t nd = (size_t)N * D;
    c->x = um_alloc(nd * sizeof(real));
    c->R = um_alloc(nd * sizeof(real));
    c->out = um_alloc(nd * sizeof(real));
    c->dx = um_alloc(nd * sizeof(real));
    c->chosen0 = um_alloc((size_t)N * cfg->top_k * sizeof(int));
    fill_normal(c->R, nd, &rng, R_scale);
    // redraw the input until the routing has a clear margin (perturbations move logits by ~1e-5)
    for (int tries = 0;; tries++) {
        ck_assert_msg(tries < 100, "no well-separated routing found");
        fill_normal(c->x, nd, &rng, 1.0);
        um_moe_forward(&c->moe, c->out, c->x, N);
        if (routing_margin(&c->moe) > 1e-3) break;
    }
    memcpy(c->chosen0, c->moe.chosen, (size_t)N * cfg->top_k * sizeof(int));
}

static void check_free(Check *c) {
    um_moe_free(&c->moe);
    params_free(&c->reg);
    real *bufs[] = {c->x, c->R, c->out, c->dx};
    for (int i = 0; i < 4; i++) um_free(bufs[i]);
    um_free(c->chosen0);
}

// Central difference of L in v[i] against the analytic g[i], for every i.
static void compare(Check *c, real *v, const real *g, size_t n, const char *what) {
    for (size_t i = 0; i < n; i++) {
        real keep = v[i];
        v[i] = keep + EPS;
        double Lp = objective(c);
        v[i] = keep - EPS;
        double Lm = objective(c);
        v[i] = keep;
        double num = (Lp - Lm) / (2 * EPS), ana = g[i];
        double diff = fabs(num - ana), allowed = TOL * fmax(fabs(num), fabs(ana)) + ATOL;
        ck_assert_msg(diff <= allowed, "%s[%zu]: analytic %.10g numeric %.10g (diff %.3g, allowed %.3g)", what, i, ana,
                      num, diff, allowed);
    }
}

static void run_gradcheck(int X, int k, int Fe, int shared, int normalize, double alpha, double beta, double R_scale) {
    UmMoeConfig cfg;
    um_moe_config_default(&cfg);
    cfg.n_experts = X;
    cfg.top_k = k;
    cfg.expert_hidden = Fe;
    cfg.shared_expert = shared;
    cfg.shared_hidden = 3;
    cfg.normalize_topk = normalize;
    cfg.balance_alpha = alpha;  // large, so the aux gradients are not lost in the main one
    cfg.zloss_beta = beta;
    cfg.router_init_std = 1.0;
    cfg.expert_init_std = 0.5;
    Check c;
    int N = 9, D = 6;
    check_setup(&c, &cfg, N, D, R_scale);

    // analytic: one forward, one backward with dout = R
    params_zero_grad(&c.reg);
    memset(c.dx, 0, (size_t)N * D * sizeof(real));
    um_moe_forward(&c.moe, c.out, c.x, N);
    um_moe_backward(&c.moe, c.dx, c.R, c.x, N);

    // every expert must have been used or its gradients would be trivially zero
    int used = 0;
    for (int e = 0; e < X; e++) used += c.moe.load[e] > 0;
    ck_assert_int_ge(used, X - 1);

    compare(&c, c.x, c.dx, (size_t)N * D, "dinp");
    for (int p = 0; p < c.reg.count; p++) {
        UmParam *prm = c.reg.params[p];
        compare(&c, prm->data, prm->grad, prm->numel, prm->name);
    }
    check_free(&c);
}

START_TEST(test_grad_normalised_shared) { run_gradcheck(5, 2, 4, 1, 1, 0.3, 0.05, 1.0); }
END_TEST
START_TEST(test_grad_unnormalised_shared) { run_gradcheck(5, 2, 4, 1, 0, 0.3, 0.05, 1.0); }
END_TEST
START_TEST(test_grad_normalised_top1) { run_gradcheck(4, 1, 5, 0, 1, 0.3, 0.05, 1.0); }
END_TEST
START_TEST(test_grad_unnormalised_top3) { run_gradcheck(6, 3, 3, 0, 0, 0.3, 0.05, 1.0); }
END_TEST
// R = 0: L is the aux loss alone, so its gradient is checked in isolation
START_TEST(test_grad_aux_only) {
    run_gradcheck(5, 2, 4, 0, 1, 0.3, 0.05, 0.0);
    run_gradcheck(5, 2, 4, 0, 0, 0.3, 0.05, 0.0);
}
END_TEST

Suite *moe_grad_suite(void) {
    Suite *s = suite_create("moe_grad");
    TCase *tc = tcase_create("finite_differences");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_grad_normalised_shared);
    tcase_add_test(tc, test_grad_unnormalised_shared);
    tcase_add_test(tc, test_grad_normalised_top1);
    tcase_add_test(tc, test_grad_unnormalised_top3);
    tcase_add_test(tc, test_grad_aux_only);
    suite_add_tcase(s, tc);
    return s;
}
