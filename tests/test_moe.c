// test_moe.c: the MoE layer's forward pass, routing, statistics and aux losses
// (float build). Gradients are checked in gradcheck_moe.c (double build).
#include <check.h>
#include <math.h>
#include <string.h>

#include "base/alloc.h"
#include "base/params.h"
#include "base/rng.h"
#include "helpers/testutil.h"
#include "memory/moe.h"
#include "probe/moe_probe.h"

// A layer plus its registry, so each test can build one in two lines.
typedef struct {
    UmParamRegistry reg;
    UmMoe moe;
} Fixture;

static void fixture_init(Fixture *f, const UmMoeConfig *cfg, int D, int max_tokens, uint64_t seed) {
    UmRng rng;
    rng_seed(&rng, seed);
    params_init(&f->reg);
    um_moe_init(&f->moe, cfg, D, max_tokens, &f->reg, &rng, "moe.");
}

static void fixture_free(Fixture *f) {
    um_moe_free(&f->moe);
    params_free(&f->reg);
}

static UmMoeConfig small_config(int X, int k, int Fe, int shared, int normalize) {
    UmMoeConfig cfg;
    um_moe_config_default(&cfg);
    cfg.n_experts = X;
    cfg.top_k = k;
    cfg.expert_hidden = Fe;
    cfg.shared_expert = shared;
    cfg.normalize_topk = normalize;
    cfg.router_init_std = 0.5f;  // spread-out routing, so the tests see real choices
    cfg.expert_init_std = 0.3f;
    return cfg;
}

// ---------------------------------------------------------------- naive references

static double gelu_naive(double x) { return 0.5 * x * (1 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x))); }

// y (D) += scale * (W2 gelu(W1 x + b1) + b2), one token, in double.
static void mlp_naive(double *y, double scale, const real *x, const real *w1, const real *b1, const real *w2,
                      const real *b2, int D, int F) {
    double h[256];
    ck_assert_int_le(F, 256);
    for (int f = 0; f < F; f++) {
        double a = b1[f];
        for (int d = 0; d < D; d++) a += (double)w1[f * D + d] * x[d];
        h[f] = gelu_naive(a);
    }
    for (int d = 0; d < D; d++) {
        double a = b2[d];
        for (int f = 0; f < F; f++) a += (double)w2[d * F + f] * h[f];
        y[d] += scale * a;
    }
}

// Router softmax of one token in double.
static void probs_naive(double *p, const real *x, const real *wr, int D, int X) {
    double mx = -1e300;
    for (int i = 0; i < X; i++) {
        double a = 0;
        for (int d = 0; d < D; d++) a += (double)wr[i * D + d] * x[d];
        p[i] = a;
        mx = a > mx ? a : mx;
    }
    double s = 0;
    for (int i = 0; i < X; i++) s += (p[i] = exp(p[i] - mx));
    for (int i = 0; i < X; i++) p[i] /= s;
}

static real *random_input(int N, int D, uint64_t seed) {
    UmRng rng;
    rng_seed(&rng, seed);
    real *x = um_alloc((size_t)N * D * sizeof(real));
    fill_normal(x, (size_t)N * D, &rng, 1.0);
    return x;
}

// ---------------------------------------------------------------- routing

START_TEST(test_routing_picks_k_largest) {
    int D = 12, X = 7, k = 3, N = 40;
    UmMoeConfig cfg = small_config(X, k, 8, 0, 1);
    Fixture f;
    fixture_init(&f, &cfg, D, N, 1);
    real *x = random_input(N, D, 2), *out = um_alloc((size_t)N * D * sizeof(real));
    um_moe_forward(&f.moe, out, x, N);
    for (int t = 0; t < N; t++) {
        double p[16];
        probs_naive(p, x + t * D, f.moe.router->data, D, X);
        for (int i = 0; i < X; i++) ck_assert_double_eq_tol(f.moe.probs[t * X + i], p[i], 1e-5);
        const int *c = f.moe.chosen + t * k;
        for (int j = 0; j < k; j++) {
            if (j > 0) ck_assert(p[c[j - 1]] >= p[c[j]]);  // most probable first
            for (int i = 0; i < X; i++) {                  // every unchosen expert is no more probable
                int taken = 0;
                for (int q = 0; q < k; q++) taken |= c[q] == i;
                if (!taken) ck_assert(p[i] <= p[c[j]] + 1e-7);
            }
        }
    }
    um_free(x);
    um_free(out);
    fixture_free(&f);
}
END_TEST

START_TEST(test_gates_normalised_and_raw) {
    int D = 10, X = 6, k = 2, N = 25;
    for (int normalize = 0; normalize <= 1; normalize++) {
        UmMoeConfig cfg = small_config(X, k, 8, 0, normalize);
        Fixture f;
        fixture_init(&f, &cfg, D, N, 3);
        real *x = random_input(N, D, 4), *out = um_alloc((size_t)N * D * sizeof(real));
        um_moe_forward(&f.moe, out, x, N);
        for (int t = 0; t < N; t++) {
            double sum = 0, psum = 0;
            for (int j = 0; j < k; j++) {
                sum += f.moe.gates[t * k + j];
                psum += f.moe.probs[t * X + f.moe.chosen[t * k + j]];
            }
            if (normalize) {
                ck_assert_double_eq_tol(sum, 1.0, 1e-6);
            } else {  // Switch/DeepSeek: the gates are the probabilities themselves
                ck_assert_double_eq_tol(sum, psum, 1e-7);
                ck_assert(sum < 1.0);
            }
        }
        um_free(x);
        um_free(out);
        fixture_free(&f);
    }
}
END_TEST

// ---------------------------------------------------------------- dropless output

// Every token's output equals sum_j g_j MLP_{c_j}(x) (+ shared), computed one
// token at a time in double with no grouping at all.
static void check_dropless(int X, int k, int shared, int normalize) {
    int D = 16, N = 33, Fe = 12;
    UmMoeConfig cfg = small_config(X, k, Fe, shared, normalize);
    cfg.shared_hidden = shared ? 20 : 0;
    Fixture f;
    fixture_init(&f, &cfg, D, 64, 5);
    real *x = random_input(N, D, 6), *out = um_alloc((size_t)N * D * sizeof(real));
    um_moe_forward(&f.moe, out, x, N);
    UmMoe *m = &f.moe;
    for (int t = 0; t < N; t++) {
        double y[16] = {0}, p[64];
        probs_naive(p, x + t * D, m->router->data, D, X);
        double S = 0;
        for (int j = 0; j < k; j++) S += p[m->chosen[t * k + j]];
        for (int j = 0; j < k; j++) {
            int e = m->chosen[t * k + j];
            double g = normalize ? p[e] / S : p[e];
            mlp_naive(y, g, x + t * D, m->w1->data + e * Fe * D, m->b1->data + e * Fe, m->w2->data + e * D * Fe,
                      m->b2->data + e * D, D, Fe);
        }
        if (shared) mlp_naive(y, 1.0, x + t * D, m->sw1->data, m->sb1->data, m->sw2->data, m->sb2->data, D, m->Fs);
        for (int d = 0; d < D; d++) ck_assert_double_eq_tol(out[t * D + d], y[d], 2e-5 * (1 + fabs(y[d])));
    }
    um_free(x);
    um_free(out);
    fixture_free(&f);
}

START_TEST(test_dropless_equals_naive) {
    check_dropless(8, 2, 0, 1);
    check_dropless(8, 2, 1, 1);
    check_dropless(5, 1, 0, 0);
    check_dropless(16, 4, 1, 0);
    check_dropless(4, 4, 0, 1);  // k = X: every expert serves every token
}
END_TEST

START_TEST(test_load_counts) {
    int D = 8, X = 6, k = 2, N = 50;
    UmMoeConfig cfg = small_config(X, k, 4, 0, 1);
    Fixture f;
    fixture_init(&f, &cfg, D, N, 7);
    real *x = random_input(N, D, 8), *out = um_alloc((size_t)N * D * sizeof(real));
    um_moe_forward(&f.moe, out, x, N);
    int count[6] = {0}, total = 0;
    for (int s = 0; s < N * k; s++) count[f.moe.chosen[s]]++;
    for (int e = 0; e < X; e++) {
        ck_assert_int_eq(f.moe.load[e], count[e]);
        total += f.moe.load[e];
    }
    ck_assert_int_eq(total, N * k);
    um_free(x);
    um_free(out);
    fixture_free(&f);
}
END_TEST

// ---------------------------------------------------------------- statistics and aux losses

// Router W = c * identity on D = X = 4; token t's input is the unit vector of
// the expert it should pick, so the routing is whatever we want it to be.
static void set_identity_router(UmMoe *m, real c) {
    memset(m->router->data, 0, m->router->numel * sizeof(real));
    for (int i = 0; i < m->X; i++) m->router->data[i * m->D + i] = c;
}

START_TEST(test_overflow_on_skewed_routing) {
    int D = 4, X = 4, k = 1, N = 8;
    UmMoeConfig cfg = small_config(X, k, 4, 0, 1);
    Fixture f;
    fixture_init(&f, &cfg, D, N, 9);
    set_identity_router(&f.moe, 10);
    real *x = um_alloc((size_t)N * D * sizeof(real)), *out = um_alloc((size_t)N * D * sizeof(real));
    for (int t = 0; t < N; t++) x[t * D + (t < 6 ? 0 : 1)] = 1;  // 6 tokens to expert 0, 2 to expert 1
    um_moe_forward(&f.moe, out, x, N);
    ck_assert_int_eq(f.moe.load[0], 6);
    ck_assert_int_eq(f.moe.load[1], 2);
    // capacity = ceil(1.25 * 8 * 1 / 4) = 3, so expert 0 overflows by 3 of 8 slots
    ck_assert_double_eq_tol(f.moe.overflow_frac, 3.0 / 8.0, 1e-12);
    um_free(x);
    um_free(out);
    fixture_free(&f);
}
END_TEST

START_TEST(test_balance_loss_uniform_is_alpha) {
    int D = 4, X = 4, k = 1, N = 8;
    UmMoeConfig cfg = small_config(X, k, 4, 0, 1);
    cfg.balance_alpha = 0.01f;
    Fixture f;
    fixture_init(&f, &cfg, D, N, 10);
    set_identity_router(&f.moe, 3);
    real *x = um_alloc((size_t)N * D * sizeof(real)), *out = um_alloc((size_t)N * D * sizeof(real));
    for (int t = 0; t < N; t++) x[t * D + t % X] = 1;  // each expert gets 2 tokens; P_i = 1/X by symmetry
    um_moe_forward(&f.moe, out, x, N);
    for (int e = 0; e < X; e++) ck_assert_int_eq(f.moe.load[e], 2);
    ck_assert_double_eq_tol(f.moe.balance_loss, 0.01, 1e-8);
    ck_assert_double_eq(f.moe.overflow_frac, 0.0);

    // Skewed: all 8 tokens to expert 0 -> f = (1,0,0,0), P_0 = softmax(3,0,0,0)_0
    memset(x, 0, (size_t)N * D * sizeof(real));
    for (int t = 0; t < N; t++) x[t * D] = 1;
    um_moe_forward(&f.moe, out, x, N);
    double p0 = exp(3.0) / (exp(3.0) + 3);
    ck_assert_double_eq_tol(f.moe.balance_loss, 0.01 * X * p0, 1e-7);
    um_free(x);
    um_free(out);
    fixture_free(&f);
}
END_TEST

START_TEST(test_zloss_known_logits) {
    int D = 3, X = 3, k = 1, N = 2;
    UmMoeConfig cfg = small_config(X, k, 4, 0, 1);
    cfg.zloss_beta = 1e-3f;
    Fixture f;
    fixture_init(&f, &cfg, D, N, 11);
    set_identity_router(&f.moe, 1);  // logits = inputs
    real x[6] = {1, 2, 3, -1, 0, 0.5f}, out[6];
    um_moe_forward(&f.moe, out, x, N);
    double l0 = log(exp(1.0) + exp(2.0) + exp(3.0)), l1 = log(exp(-1.0) + 1 + exp(0.5));
    ck_assert_double_eq_tol(f.moe.z_loss, 1e-3 * (l0 * l0 + l1 * l1) / 2, 1e-8);
    ck_assert_double_eq_tol(f.moe.aux_loss, f.moe.z_loss + f.moe.balance_loss, 1e-9);
    ck_assert_double_eq_tol(f.moe.mean_lse, (l0 + l1) / 2, 1e-6);
    fixture_free(&f);
}
END_TEST

// ---------------------------------------------------------------- threads, probe, accounting

START_TEST(test_bit_identical_runs) {
    int D = 32, X = 8, k = 2, N = 300;
    UmMoeConfig cfg = small_config(X, k, 16, 1, 1);
    Fixture f;
    fixture_init(&f, &cfg, D, N, 12);
    real *x = random_input(N, D, 13), *dout = random_input(N, D, 14);
    size_t nd = (size_t)N * D;
    real *out1 = um_alloc(nd * sizeof(real)), *out2 = um_alloc(nd * sizeof(real));
    real *dx1 = um_alloc(nd * sizeof(real)), *dx2 = um_alloc(nd * sizeof(real));
    size_t nw = f.moe.w1->numel;
    real *g1 = um_alloc(nw * sizeof(real));
    um_moe_forward(&f.moe, out1, x, N);
    um_moe_backward(&f.moe, dx1, dout, x, N);
    memcpy(g1, f.moe.w1->grad, nw * sizeof(real));
    params_zero_grad(&f.reg);
    um_moe_forward(&f.moe, out2, x, N);
    um_moe_backward(&f.moe, dx2, dout, x, N);
    ck_assert(memcmp(out1, out2, nd * sizeof(real)) == 0);
    ck_assert(memcmp(dx1, dx2, nd * sizeof(real)) == 0);
    ck_assert(memcmp(g1, f.moe.w1->grad, nw * sizeof(real)) == 0);
    real *bufs[] = {x, dout, out1, out2, dx1, dx2, g1};
    for (int i = 0; i < 7; i++) um_free(bufs[i]);
    fixture_free(&f);
}
END_TEST

START_TEST(test_probe_records_only_when_attached) {
    int D = 8, X = 4, k = 2, N = 10;
    UmMoeConfig cfg = small_config(X, k, 4, 0, 1);
    Fixture f;
    fixture_init(&f, &cfg, D, N, 15);
    UmMoeProbe probe;
    um_moe_probe_init(&probe, X, k, 6, 3);  // keeps 6 of the 10 tokens, 3 steps of load
    real *x = random_input(N, D, 16), *out = um_alloc((size_t)N * D * sizeof(real));
    um_moe_forward(&f.moe, out, x, N);
    ck_assert_int_eq(probe.steps, 0);
    um_moe_attach_probe(&f.moe, &probe);
    for (int s = 0; s < 5; s++) um_moe_forward(&f.moe, out, x, N);
    ck_assert_int_eq(probe.steps, 5);
    ck_assert_int_eq(probe.filled, 3);
    ck_assert_int_eq(probe.n_tokens, 6);
    for (int i = 0; i < 6 * X; i++) ck_assert_float_eq(probe.probs[i], (float)f.moe.probs[i]);
    for (int i = 0; i < 6 * k; i++) ck_assert_int_eq(probe.chosen[i], f.moe.chosen[i]);
    double frac[4], sum = 0;
    um_moe_probe_window_fraction(&probe, frac);
    for (int e = 0; e < X; e++) {
        ck_assert_double_eq_tol(frac[e], f.moe.load[e] / (double)(N * k), 1e-12);  // same batch 3 times
        sum += frac[e];
    }
    ck_assert_double_eq_tol(sum, 1.0, 1e-12);
    um_moe_attach_probe(&f.moe, NULL);
    um_moe_forward(&f.moe, out, x, N);
    ck_assert_int_eq(probe.steps, 5);
    um_moe_probe_free(&probe);
    um_free(x);
    um_free(out);
    fixture_free(&f);
}
END_TEST

START_TEST(test_accounting) {
    int D = 64;
    UmMoeConfig cfg;
    um_moe_config_default(&cfg);  // X 8, k 2, F_e = 4D/k = 128
    Fixture f;
    fixture_init(&f, &cfg, D, 4, 17);
    ck_assert_int_eq(f.moe.Fe, 128);
    size_t expert = 2 * 128 * 64 + 128 + 64;
    ck_assert_uint_eq(um_moe_activated_params(&f.moe), 8 * 64 + 2 * expert);
    ck_assert_double_eq_tol(um_moe_flops_per_token(&f.moe), 2.0 * (8 * 64 + 2 * (2 * 64 * 128 + 64)), 1e-9);
    // total registered = router + X experts
    ck_assert_uint_eq(params_total(&f.reg), 8 * 64 + 8 * expert);
    fixture_free(&f);

    cfg.shared_expert = 1;
    cfg.n_experts = 16;
    cfg.top_k = 4;
    cfg.expert_hidden = 64;
    fixture_init(&f, &cfg, D, 4, 18);
    size_t e64 = 2 * 64 * 64 + 64 + 64;
    ck_assert_uint_eq(um_moe_activated_params(&f.moe), 16 * 64 + 4 * e64 + e64);
    ck_assert_ptr_nonnull(params_find(&f.reg, "moe.shared.w2"));
    fixture_free(&f);
}
END_TEST

Suite *moe_suite(void) {
    Suite *s = suite_create("moe");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_routing_picks_k_largest);
    tcase_add_test(tc, test_gates_normalised_and_raw);
    tcase_add_test(tc, test_dropless_equals_naive);
    tcase_add_test(tc, test_load_counts);
    tcase_add_test(tc, test_overflow_on_skewed_routing);
    tcase_add_test(tc, test_balance_loss_uniform_is_alpha);
    tcase_add_test(tc, test_zloss_known_logits);
    tcase_add_test(tc, test_bit_identical_runs);
    tcase_add_test(tc, test_probe_records_only_when_attached);
    tcase_add_test(tc, test_accounting);
    suite_add_tcase(s, tc);
    return s;
}
