// gradcheck_ultramem_v2.c: central finite differences (double build) against
// the analytic backward of the UltraMemV2 layer: the default (per-rank
// queries, MCS, PEER-style values), one query per side, the GELU flag,
// rank 1 with one core, and ring-shared value tables across 4 layers.
//
// L = sum over layers of sum(out_l * R_l) for fixed random R_l, so every
// layer's dout is its R_l; with a ring each table gets gradient from the g
// layers that read it. Selection is piecewise constant: a perturbation that
// flips any winner is detected (fd_check_tensor returns -1) and the whole
// check is redrawn with the next seed.
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
#include "helpers/fdcheck.h"
#include "helpers/testutil.h"
#include "memory/ultramem_v2.h"

#define EPS 1e-5
#define TOL 1e-6
#define MAX_DRAWS 30
#define MAX_L 4

typedef struct {
    UmParamRegistry reg;
    UmUltraMemV2 l[MAX_L];
    int L, N, D;
    real *inp, *out, *R[MAX_L], *dinp;
    int *ref_virt[MAX_L];
} Case;

static int loss(void *ctx, double *Lout) {
    Case *c = ctx;
    size_t nd = (size_t)c->N * c->D;
    double L = 0;
    for (int i = 0; i < c->L; i++) {
        um_ultramem_v2_forward(&c->l[i], c->out, c->inp, c->N);
        if (memcmp(c->l[i].virt, c->ref_virt[i], (size_t)c->N * c->l[i].cfg.m * sizeof(int))) return -1;
        for (size_t k = 0; k < nd; k++) L += c->out[k] * c->R[i][k];
    }
    *Lout = L;
    return 0;
}

static double gradcheck(UmUltraMemV2Config cfg, int L, uint64_t seed, int *n_checked) {
#ifdef _OPENMP
    omp_set_num_threads(1);
#endif
    Case c = {.L = L, .N = 5, .D = 8};
    UmRng rng;
    rng_seed(&rng, seed);
    params_init(&c.reg);
    size_t nd = (size_t)c.N * c.D;
    UmUltraMemV2 *ptrs[MAX_L];
    for (int i = 0; i < L; i++) {
        char prefix[32];
        snprintf(prefix, sizeof prefix, "l%d.", i);
        cfg.layer = i, cfg.n_layers = L;
        um_ultramem_v2_init(&c.l[i], &cfg, c.D, c.N, &c.reg, &rng, prefix);
        ptrs[i] = &c.l[i];
        c.R[i] = um_alloc(nd * sizeof(real));
        fill_normal(c.R[i], nd, &rng, 1);
        c.ref_virt[i] = um_alloc((size_t)c.N * cfg.m * sizeof(int));
    }
    um_ultramem_v2_link_ring(ptrs, L);
    c.inp = um_alloc(nd * sizeof(real));
    c.out = um_alloc(nd * sizeof(real));
    c.dinp = um_alloc(nd * sizeof(real));
    fill_normal(c.inp, nd, &rng, 1);
    // Move every tensor away from its init (norm weights are constant,
    // values tiny) so each gradient is tested at a generic point.
    for (int i = 0; i < c.reg.count; i++) {
        UmParam *p = c.reg.params[i];
        for (size_t j = 0; j < p->numel; j++)
            p->data[j] = strstr(p->name, "norm") ? p->data[j] * (1 + 0.3 * rng_normal(&rng))
                                                 : p->data[j] + 0.3 * rng_normal(&rng);
    }
    params_zero_grad(&c.reg);
    for (int i = 0; i < L; i++) {
        um_ultramem_v2_forward(&c.l[i], c.out, c.inp, c.N);
        memcpy(c.ref_virt[i], c.l[i].virt, (size_t)c.N * cfg.m * sizeof(int));
        um_ultramem_v2_backward(&c.l[i], c.dinp, c.R[i], c.inp, c.N);
    }
    double worst = fd_check_tensor(c.inp, c.dinp, nd, "dinp", loss, &c, EPS, TOL, 1e-4);
    *n_checked = 1;
    for (int i = 0; i < c.reg.count && worst >= 0; i++) {
        UmParam *p = c.reg.params[i];
        double e = fd_check_tensor(p->data, p->grad, p->numel, p->name, loss, &c, EPS, TOL, 1e-4);
        worst = e < 0 ? -1 : fmax(worst, e);
        ++*n_checked;
    }
    for (int i = 0; i < L; i++) um_ultramem_v2_free(&c.l[i]), um_free(c.R[i]), um_free(c.ref_virt[i]);
    params_free(&c.reg);
    um_free(c.inp), um_free(c.out), um_free(c.dinp);
    return worst;
}

static UmUltraMemV2Config small(void) {
    UmUltraMemV2Config c = um_ultramem_v2_config_default();
    c.n = 4, c.Dk = 4, c.m = 3, c.Dv = 4, c.Dp = 3;
    return c;
}

// dinp + 9 tensors per layer
static void check(const char *what, UmUltraMemV2Config cfg, int L) {
    for (uint64_t seed = 1; seed <= MAX_DRAWS; seed++) {
        int n = 0;
        double worst = gradcheck(cfg, L, seed, &n);
        if (worst < 0) continue;
        ck_assert_int_eq(n, 1 + 9 * L);
        ck_assert_msg(worst < TOL, "ultramem_v2 %s: worst relative error %g", what, worst);
        return;
    }
    ck_abort_msg("ultramem_v2 %s: every draw flipped the selection", what);
}

START_TEST(test_gc_v2_default) { check("default", small(), 1); }
END_TEST

START_TEST(test_gc_v2_one_query_per_side) {
    UmUltraMemV2Config c = small();
    c.per_rank_query = 0;
    check("one query per side", c, 1);
}
END_TEST

START_TEST(test_gc_v2_gelu) {
    UmUltraMemV2Config c = small();
    c.gelu = 1;
    check("gelu", c, 1);
}
END_TEST

START_TEST(test_gc_v2_rank1) {
    UmUltraMemV2Config c = small();
    c.r = 1, c.cores = 1;
    check("rank 1, one core", c, 1);
}
END_TEST

START_TEST(test_gc_v2_ring) {
    UmUltraMemV2Config c = small();
    c.n = 3, c.share_g = 4, c.m = 3;
    check("ring of 4 tables over 4 layers", c, 4);
}
END_TEST

Suite *ultramem_v2_gradcheck_suite(void) {
    Suite *s = suite_create("ultramem_v2_gradcheck");
    TCase *tc = tcase_create("fd");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_gc_v2_default);
    tcase_add_test(tc, test_gc_v2_one_query_per_side);
    tcase_add_test(tc, test_gc_v2_gelu);
    tcase_add_test(tc, test_gc_v2_rank1);
    tcase_add_test(tc, test_gc_v2_ring);
    suite_add_tcase(s, tc);
    return s;
}
