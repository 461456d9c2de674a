// gradcheck_peer.c: central finite differences (double build) against the
// analytic backward of the PEER layer (multi-head, with and without the
// query norm). L = sum(out * R); a perturbation that flips a selection is
// detected and the check redrawn with the next seed.
#include <check.h>
#include <math.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "base/alloc.h"
#include "base/params.h"
#include "base/rng.h"
#include "helpers/fdcheck.h"
#include "helpers/testutil.h"
#include "memory/peer.h"

#define EPS 1e-5
#define TOL 1e-6
#define MAX_DRAWS 30

typedef struct {
    UmParamRegistry reg;
    UmPeer l;
    int N, D;
    real *inp, *out, *R, *dinp;
    int *ref;
} Case;

static int loss(void *ctx, double *L) {
    Case *c = ctx;
    um_peer_forward(&c->l, c->out, c->inp, c->N);
    if (memcmp(c->l.slots, c->ref, (size_t)c->N * c->l.cfg.H * c->l.cfg.k * sizeof(int))) return -1;
    *L = 0;
    for (size_t i = 0; i < (size_t)c->N * c->D; i++) *L += c->out[i] * c->R[i];
    return 0;
}

static double gradcheck(UmPeerConfig cfg, uint64_t seed, int *n_checked) {
#ifdef _OPENMP
    omp_set_num_threads(1);
#endif
    Case c = {.N = 5, .D = 8};
    UmRng rng;
    rng_seed(&rng, seed);
    params_init(&c.reg);
    um_peer_init(&c.l, &cfg, c.D, c.N, &c.reg, &rng, "peer.");
    size_t nd = (size_t)c.N * c.D, reads = (size_t)c.N * cfg.H * cfg.k;
    c.inp = um_alloc(nd * sizeof(real)), c.out = um_alloc(nd * sizeof(real));
    c.R = um_alloc(nd * sizeof(real)), c.dinp = um_alloc(nd * sizeof(real));
    c.ref = um_alloc(reads * sizeof(int));
    fill_normal(c.inp, nd, &rng, 1);
    fill_normal(c.R, nd, &rng, 1);
    for (int i = 0; i < c.reg.count; i++)
        if (strstr(c.reg.params[i]->name, "norm"))
            for (size_t j = 0; j < c.reg.params[i]->numel; j++) c.reg.params[i]->data[j] *= 1 + 0.3 * rng_normal(&rng);
    um_peer_forward(&c.l, c.out, c.inp, c.N);
    memcpy(c.ref, c.l.slots, reads * sizeof(int));
    params_zero_grad(&c.reg);
    um_peer_backward(&c.l, c.dinp, c.R, c.inp, c.N);
    double worst = fd_check_tensor(c.inp, c.dinp, nd, "dinp", loss, &c, EPS, TOL, 1e-4);
    *n_checked = 1;
    for (int i = 0; i < c.reg.count && worst >= 0; i++) {
        UmParam *p = c.reg.params[i];
        double e = fd_check_tensor(p->data, p->grad, p->numel, p->name, loss, &c, EPS, TOL, 1e-4);
        worst = e < 0 ? -1 : fmax(worst, e);
        ++*n_checked;
    }
    um_peer_free(&c.l);
    params_free(&c.reg);
    um_free(c.inp), um_free(c.out), um_free(c.R), um_free(c.dinp), um_free(c.ref);
    return worst;
}

static void check(const char *what, UmPeerConfig cfg, int tensors) {
    for (uint64_t seed = 1; seed <= MAX_DRAWS; seed++) {
        int n = 0;
        double worst = gradcheck(cfg, seed, &n);
        if (worst < 0) continue;
        ck_assert_int_eq(n, tensors);
        ck_assert_msg(worst < TOL, "peer %s: worst relative error %g", what, worst);
        return;
    }
    ck_abort_msg("peer %s: every draw flipped the selection", what);
}

static UmPeerConfig small(void) {
    UmPeerConfig c = um_peer_config_default();
    c.n = 4, c.H = 3, c.Dk = 4, c.k = 3;
    return c;
}

// dinp, query.weight, query_norm.weight, keys, experts_up, experts_down
START_TEST(test_gc_peer) { check("3 heads, query norm", small(), 6); }
END_TEST

START_TEST(test_gc_peer_no_norm) {
    UmPeerConfig c = small();
    c.query_norm = 0, c.H = 1;
    check("1 head, no norm", c, 5);
}
END_TEST

Suite *peer_gradcheck_suite(void) {
    Suite *s = suite_create("peer_gradcheck");
    TCase *tc = tcase_create("fd");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_gc_peer);
    tcase_add_test(tc, test_gc_peer_no_norm);
    suite_add_tcase(s, tc);
    return s;
}
