// test_peer.c: the PEER layer in the float build: its output equals a naive
// computation (score every one of the n*n experts by brute force, take the
// top-k per head, softmax, single-neuron experts), and the accounting.
#include <check.h>
#include <math.h>
#include <string.h>

#include "base/alloc.h"
#include "base/params.h"
#include "base/rng.h"
#include "helpers/testutil.h"
#include "memory/peer.h"
#include "memory/topk.h"
#include "nn/gelu.h"

START_TEST(test_peer_matches_brute_force) {
    UmPeerConfig cfg = um_peer_config_default();
    cfg.n = 6, cfg.H = 3, cfg.Dk = 8, cfg.k = 4;
    int N = 7, D = 12, S = cfg.n * cfg.n, half = cfg.Dk / 2;
    UmParamRegistry reg;
    params_init(&reg);
    UmRng rng;
    rng_seed(&rng, 5);
    UmPeer l;
    um_peer_init(&l, &cfg, D, N, &reg, &rng, "p.");
    real *x = um_alloc((size_t)N * D * sizeof(real)), *y = um_alloc((size_t)N * D * sizeof(real));
    fill_normal(x, (size_t)N * D, &rng, 1);
    um_peer_forward(&l, y, x, N);
    const real *K1 = l.keys->data, *K2 = K1 + (size_t)cfg.n * half;
    for (int t = 0; t < N; t++) {
        real ref[12] = {0};
        for (int h = 0; h < cfg.H; h++) {
            const real *q = l.qn + ((size_t)t * cfg.H + h) * cfg.Dk;
            real all[36];
            for (int s = 0; s < S; s++) {
                real a = 0;
                for (int c = 0; c < half; c++) a += q[c] * K1[(s / cfg.n) * half + c] + q[half + c] * K2[(s % cfg.n) * half + c];
                all[s] = a;
            }
            int idx[4];
            real val[4], sum = 0, g[4];
            topk(idx, val, all, S, cfg.k);
            for (int j = 0; j < cfg.k; j++) sum += g[j] = (real)exp(val[j] - val[0]);
            for (int j = 0; j < cfg.k; j++) {
                const real *u = l.up->data + (size_t)idx[j] * D, *v = l.down->data + (size_t)idx[j] * D;
                real a = 0, hid;
                for (int c = 0; c < D; c++) a += u[c] * x[t * D + c];
                gelu_forward(&hid, &a, 1);
                for (int c = 0; c < D; c++) ref[c] += g[j] / sum * hid * v[c];
            }
        }
        for (int c = 0; c < D; c++) ck_assert_msg(fabs(y[t * D + c] - ref[c]) < 1e-5, "t %d c %d: %g vs %g", t, c, y[t * D + c], ref[c]);
    }
    ck_assert_int_eq(um_peer_activated_params(&l), l.wq->numel + l.norm_w->numel + l.keys->numel + 3 * 4 * 2 * 12);
    um_peer_free(&l);
    params_free(&reg);
    um_free(x), um_free(y);
}
END_TEST

Suite *peer_suite(void) {
    Suite *s = suite_create("peer");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_peer_matches_brute_force);
    suite_add_tcase(s, tc);
    return s;
}
