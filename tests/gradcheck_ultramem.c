// gradcheck_ultramem.c: central finite differences (double build) against the
// analytic backward of the UltraMem layer, for every trick off, each trick on
// alone, and all on, plus the Tucker core's auxiliary loss on its own.
//
// The loss is L = sum(out * R) + aux_loss for a fixed random R, so
// dL/dout = R and the aux gradient (added inside backward) is checked too.
// Selection is piecewise constant: every perturbed forward compares its
// winners (virtual addresses) with the unperturbed ones, and if any flips the
// whole check is redrawn with the next seed (nothing is silently skipped).
// Perturbing a core also moves u, t (the selection vectors): that is fine as
// long as the winners stay the same, since no gradient flows through u, t.
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "base/alloc.h"
#include "base/params.h"
#include "base/rng.h"
#include "helpers/testutil.h"
#include "memory/tucker.h"
#include "memory/ultramem.h"

#include "helpers/fdcheck.h"

#define EPS 1e-5
#define TOL 1e-6
#define MAX_DRAWS 30

// Relative error with an absolute floor. The floor is the finite
// difference's own rounding noise: (L(x+eps) - L(x-eps)) / 2eps carries an
// error of about ulp(L) / eps ~ 1e-16 * |L| / 1e-5 ~ 1e-11 .. 1e-10 for the
// losses here, so a gradient that is exactly 0 (a key row no winner used)
// reads as +-4e-11 numerically. Dividing by at least 1e-4 keeps such entries
// at an absolute tolerance of TOL * 1e-4 = 1e-10, that noise level, while
// every entry above 1e-4 is still checked to a relative 1e-6.
static double grad_err(double analytic, double numeric) {
    double scale = fabs(analytic) + fabs(numeric);
    return fabs(analytic - numeric) / (scale > 1e-4 ? scale : 1e-4);
}

// Check forks each test: this runs in the child only. One thread: these
// layers are tiny and thousands of forwards pay OpenMP's wake-up cost.
static void one_thread(void) {
#ifdef _OPENMP
    omp_set_num_threads(1);
#endif
}

typedef struct {
    UmParamRegistry reg;
    UmUltraMem l;
    real *inp, *out, *R, *dinp;
    int *ref_virt;
    int N, D;
} Case;

static int loss(Case *c, double *L) {
    um_ultramem_forward(&c->l, c->out, c->inp, c->N);
    size_t reads = (size_t)c->N * c->l.cfg.H * c->l.cfg.m;
    if (memcmp(c->l.virt, c->ref_virt, reads * sizeof(int))) return -1;
    *L = c->l.aux_loss;
    for (size_t i = 0; i < (size_t)c->N * c->D; i++) *L += c->out[i] * c->R[i];
    return 0;
}

static int loss_cb(void *ctx, double *L) { return loss(ctx, L); }

static double check_tensor(Case *c, real *x, const real *analytic, size_t len, const char *name) {
    return fd_check_tensor(x, analytic, len, name, loss_cb, c, EPS, TOL, 1e-4);
}

// Worst relative error over dinp and every parameter, or -1 on a flip.
// use_R = 0 checks the aux loss alone.
static double layer_gradcheck(const UmUltraMemConfig *cfg, uint64_t seed, int use_R, int *n_checked,
                              double *aux_loss) {
    Case c = {.N = 5, .D = 8};
    UmRng rng;
    rng_seed(&rng, seed);
    params_init(&c.reg);
    um_ultramem_init(&c.l, cfg, c.D, c.N, &c.reg, &rng, "um.");
    size_t nd = (size_t)c.N * c.D, reads = (size_t)c.N * c.l.cfg.H * c.l.cfg.m;
    c.inp = um_alloc(nd * sizeof(real));
    c.out = um_alloc(nd * sizeof(real));
    c.R = um_alloc(nd * sizeof(real));
    c.dinp = um_alloc(nd * sizeof(real));
    c.ref_virt = um_alloc(reads * sizeof(int));
    fill_normal(c.inp, nd, &rng, 1);
    if (use_R) fill_normal(c.R, nd, &rng, 1);
    // Norm weights away from their constant init, so their gradients are
    // tested at a generic point.
    for (int i = 0; i < c.reg.count; i++)
        if (strstr(c.reg.params[i]->name, "norm"))
            for (size_t j = 0; j < c.reg.params[i]->numel; j++) c.reg.params[i]->data[j] *= 1 + 0.3 * rng_normal(&rng);

    um_ultramem_forward(&c.l, c.out, c.inp, c.N);
    memcpy(c.ref_virt, c.l.virt, reads * sizeof(int));
    *aux_loss = c.l.aux_loss;
    params_zero_grad(&c.reg);
    um_ultramem_backward(&c.l, c.dinp, c.R, c.inp, c.N);

    double worst = check_tensor(&c, c.inp, c.dinp, nd, "dinp");
    *n_checked = 1;
    for (int i = 0; i < c.reg.count && worst >= 0; i++) {
        UmParam *p = c.reg.params[i];
        double e = check_tensor(&c, p->data, p->grad, p->numel, p->name);
        worst = e < 0 ? -1 : fmax(worst, e);
        ++*n_checked;
    }
    um_ultramem_free(&c.l);
    params_free(&c.reg);
    um_free(c.inp), um_free(c.out), um_free(c.R), um_free(c.dinp), um_free(c.ref_virt);
    return worst;
}

static UmUltraMemConfig small(UmUltraMemConfig c) {
    c.n = 4;
    c.H = 2;
    c.Dk = 4;
    c.m = 3;
    return c;
}

static void check(const char *what, UmUltraMemConfig cfg, int expected_tensors) {
    one_thread();
    for (uint64_t seed = 1; seed <= MAX_DRAWS; seed++) {
        int n_checked = 0;
        double aux;
        double worst = layer_gradcheck(&cfg, seed, 1, &n_checked, &aux);
        if (worst < 0) continue;  // selection flipped under +-eps: redraw
        ck_assert_int_eq(n_checked, expected_tensors);
        ck_assert_msg(worst < TOL, "ultramem %s: worst relative error %g", what, worst);
        return;
    }
    ck_abort_msg("ultramem %s: every draw flipped the selection", what);
}

static UmUltraMemConfig off(void) { return small(um_ultramem_config_pkm_like()); }

// dinp + query.weight + keys + values
START_TEST(test_gc_all_off) { check("all off", off(), 4); }
END_TEST

START_TEST(test_gc_no_softmax) {
    UmUltraMemConfig c = off();
    c.softmax = 0;
    check("no softmax", c, 4);
}
END_TEST

// + value_proj.weight
START_TEST(test_gc_value_proj) {
    UmUltraMemConfig c = off();
    c.value_proj = 1;
    c.Dv = 4;
    check("half vdim + proj", c, 5);
}
END_TEST

START_TEST(test_gc_share_query) {
    UmUltraMemConfig c = off();
    c.share_query = 1;
    check("share query", c, 4);
}
END_TEST

// + query_norm.weight + key_norm.weight
START_TEST(test_gc_qk_norm) {
    UmUltraMemConfig c = off();
    c.qk_norm = 1;
    check("qk norm", c, 6);
}
END_TEST

START_TEST(test_gc_qk_norm_calibrated) {
    UmUltraMemConfig c = off();
    c.qk_norm = 1;
    c.improved_init = 1;
    c.calibrate_norm = 1;
    check("qk norm + improved init", c, 6);
}
END_TEST

// + value_proj.weight
START_TEST(test_gc_ive) {
    UmUltraMemConfig c = off();
    c.value_proj = 1;
    c.E = 4;
    c.Dv = 4;
    check("IVE", c, 5);
}
END_TEST

// + cores
START_TEST(test_gc_tdqkr) {
    UmUltraMemConfig c = off();
    c.tdqkr = 1;
    c.r = 2;
    check("TDQKR", c, 5);
}
END_TEST

START_TEST(test_gc_tdqkr_rank1) {
    UmUltraMemConfig c = off();
    c.tdqkr = 1;
    c.r = 1;
    c.softmax = 0;
    check("TDQKR r=1", c, 5);
}
END_TEST

START_TEST(test_gc_mcs) {
    UmUltraMemConfig c = off();
    c.tdqkr = 1;
    c.r = 2;
    c.cores = 2;
    check("MCS", c, 5);
}
END_TEST

START_TEST(test_gc_mcs_softmax_per_core) {
    UmUltraMemConfig c = off();
    c.tdqkr = 1;
    c.r = 2;
    c.cores = 2;
    c.softmax = 1;
    check("MCS with per-core softmax", c, 5);
}
END_TEST

// Every trick on: + query/key norms, cores, value_proj; aux loss large
// enough (and tau small enough) that it is active and matters.
START_TEST(test_gc_all_on) {
    UmUltraMemConfig c = small(um_ultramem_config_default());
    c.Dv = 4;
    c.aux_alpha = 0.5;
    c.aux_tau = 0.01;
    check("all on", c, 8);
}
END_TEST

// The aux loss alone (R = 0): its gradient reaches only the cores.
START_TEST(test_gc_aux_loss_alone) {
    UmUltraMemConfig c = small(um_ultramem_config_default());
    c.Dv = 4;
    c.aux_alpha = 0.7;
    c.aux_tau = 0.01;
    one_thread();
    for (uint64_t seed = 1; seed <= MAX_DRAWS; seed++) {
        int n_checked = 0;
        double aux;
        double worst = layer_gradcheck(&c, seed, 0, &n_checked, &aux);
        if (worst < 0) continue;
        ck_assert_msg(aux > 1e-4, "aux loss %g is not active", aux);
        ck_assert_msg(worst < TOL, "aux loss: worst relative error %g", worst);
        return;
    }
    ck_abort_msg("every draw flipped the selection");
}
END_TEST

// The aux loss formula itself against its own finite differences on a bare core.
START_TEST(test_gc_tucker_aux_bare) {
    UmRng rng;
    rng_seed(&rng, 3);
    for (int trial = 0; trial < 20; trial++) {
        real C[4], dC[4] = {0};
        for (int i = 0; i < 4; i++) C[i] = rng_normal(&rng);
        UmSvd2 svd;
        tucker_svd(&svd, C, 2);
        double tau = 0.5 * svd.s[1];  // active
        tucker_aux_loss(dC, &svd, 0.3, tau);
        for (int i = 0; i < 4; i++) {
            real saved = C[i];
            C[i] = saved + EPS;
            tucker_svd(&svd, C, 2);
            double Lp = tucker_aux_loss(NULL, &svd, 0.3, tau);
            C[i] = saved - EPS;
            tucker_svd(&svd, C, 2);
            double Lm = tucker_aux_loss(NULL, &svd, 0.3, tau);
            C[i] = saved;
            double e = grad_err(dC[i], (Lp - Lm) / (2 * EPS));
            ck_assert_msg(e < TOL, "aux grad C[%d]: analytic %g numeric %g", i, dC[i], (Lp - Lm) / (2 * EPS));
        }
    }
}
END_TEST

// The Tucker score backward on its own.
START_TEST(test_gc_tucker_score) {
    UmRng rng;
    rng_seed(&rng, 5);
    real R[2], Q[2], C[4];
    for (int i = 0; i < 2; i++) R[i] = rng_normal(&rng), Q[i] = rng_normal(&rng);
    for (int i = 0; i < 4; i++) C[i] = rng_normal(&rng);
    real dR[2] = {0}, dQ[2] = {0}, dC[4] = {0};
    real g = 1.7;
    tucker_score_backward(dR, dQ, dC, g, R, C, Q, 2);
    real *xs[] = {R, Q, C};
    real *gs[] = {dR, dQ, dC};
    int lens[] = {2, 2, 4};
    for (int t = 0; t < 3; t++)
        for (int i = 0; i < lens[t]; i++) {
            real saved = xs[t][i];
            xs[t][i] = saved + EPS;
            double Lp = g * tucker_score(R, C, Q, 2);
            xs[t][i] = saved - EPS;
            double Lm = g * tucker_score(R, C, Q, 2);
            xs[t][i] = saved;
            ck_assert(grad_err(gs[t][i], (Lp - Lm) / (2 * EPS)) < TOL);
        }
}
END_TEST

Suite *gradcheck_ultramem_suite(void) {
    Suite *s = suite_create("gradcheck_ultramem");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_gc_tucker_score);
    tcase_add_test(tc, test_gc_tucker_aux_bare);
    tcase_add_test(tc, test_gc_all_off);
    tcase_add_test(tc, test_gc_no_softmax);
    tcase_add_test(tc, test_gc_value_proj);
    tcase_add_test(tc, test_gc_share_query);
    tcase_add_test(tc, test_gc_qk_norm);
    tcase_add_test(tc, test_gc_qk_norm_calibrated);
    tcase_add_test(tc, test_gc_ive);
    tcase_add_test(tc, test_gc_tdqkr);
    tcase_add_test(tc, test_gc_tdqkr_rank1);
    tcase_add_test(tc, test_gc_mcs);
    tcase_add_test(tc, test_gc_mcs_softmax_per_core);
    tcase_add_test(tc, test_gc_all_on);
    tcase_add_test(tc, test_gc_aux_loss_alone);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return s;
}
