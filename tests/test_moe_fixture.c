// test_moe_fixture.c: the C MoE layer against an independent PyTorch one.
//
// tests/ref/moe_reference.py builds a tiny MoE in float64 PyTorch (a plain
// per-token loop, gradients by autograd) and saves its inputs, parameters,
// output, aux losses, routing and every gradient of
//   L = sum(out * R) + aux_loss
// (format: tests/fixtures/README.md). Here the float C layer is loaded with the
// same parameters and must reproduce all of it.
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/params.h"
#include "helpers/testutil.h"
#include "memory/moe.h"

#define N_PARAMS 9  // router, w1, b1, w2, b2, sw1, sb1, sw2, sb2

typedef struct {
    int32_t N, D, X, k, Fe, Fs, normalize;
    double alpha, beta;
    real *x, *R, *out, *dx;
    real *params[N_PARAMS], *grads[N_PARAMS];
    size_t numel[N_PARAMS];
    double aux, balance, z;
    int32_t *chosen;
} Fixture;

static real *read_reals(FILE *f, size_t n) {
    double *tmp = um_alloc(n * sizeof(double));
    ck_assert_msg(fread(tmp, sizeof(double), n, f) == n, "fixture file is truncated");
    real *r = um_alloc(n * sizeof(real));
    for (size_t i = 0; i < n; i++) r[i] = (real)tmp[i];
    um_free(tmp);
    return r;
}

static void fixture_load(Fixture *fx, const char *path) {
    memset(fx, 0, sizeof *fx);
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "%s missing: regenerate with /usr/bin/python3 tests/ref/moe_reference.py", path);
    char magic[8];
    ck_assert(fread(magic, 1, 8, f) == 8 && memcmp(magic, "UMMOEFX1", 8) == 0);
    int32_t hdr[7];
    ck_assert(fread(hdr, sizeof(int32_t), 7, f) == 7);
    fx->N = hdr[0], fx->D = hdr[1], fx->X = hdr[2], fx->k = hdr[3], fx->Fe = hdr[4], fx->Fs = hdr[5];
    fx->normalize = hdr[6];
    ck_assert(fread(&fx->alpha, sizeof(double), 1, f) == 1 && fread(&fx->beta, sizeof(double), 1, f) == 1);
    size_t N = fx->N, D = fx->D, X = fx->X, Fe = fx->Fe, Fs = fx->Fs;
    size_t numel[N_PARAMS] = {X * D, X * Fe * D, X * Fe, X * D * Fe, X * D, Fs * D, Fs, D * Fs, Fs ? D : 0};
    int n_params = Fs ? 9 : 5;
    memcpy(fx->numel, numel, sizeof numel);
    fx->x = read_reals(f, N * D);
    for (int p = 0; p < n_params; p++) fx->params[p] = read_reals(f, numel[p]);
    fx->R = read_reals(f, N * D);
    fx->out = read_reals(f, N * D);
    double losses[3];
    ck_assert(fread(losses, sizeof(double), 3, f) == 3);
    fx->aux = losses[0], fx->balance = losses[1], fx->z = losses[2];
    fx->chosen = um_alloc(N * fx->k * sizeof(int32_t));
    ck_assert(fread(fx->chosen, sizeof(int32_t), N * fx->k, f) == N * fx->k);
    fx->dx = read_reals(f, N * D);
    for (int p = 0; p < n_params; p++) fx->grads[p] = read_reals(f, numel[p]);
    char extra;
    ck_assert_msg(fread(&extra, 1, 1, f) == 0, "fixture file has trailing bytes");
    fclose(f);
}

static void fixture_free(Fixture *fx) {
    um_free(fx->x);
    um_free(fx->R);
    um_free(fx->out);
    um_free(fx->dx);
    um_free(fx->chosen);
    for (int p = 0; p < N_PARAMS; p++) {
        um_free(fx->params[p]);
        um_free(fx->grads[p]);
    }
}

// |C - torch| / (|torch| + ATOL) over a tensor; float arithmetic against float64.
#define ATOL 1e-2
#define TOL 2e-4

static void expect_close(const real *c, const real *ref, size_t n, const char *what) {
    size_t at;
    double d = max_rel_diff(c, ref, n, ATOL, &at);
    ck_assert_msg(d < TOL, "%s[%zu]: C %.8g torch %.8g (rel diff %.3g)", what, at, (double)c[at], (double)ref[at], d);
}

static void check_against_torch(const char *path) {
    Fixture fx;
    fixture_load(&fx, path);
    UmMoeConfig cfg;
    um_moe_config_default(&cfg);
    cfg.n_experts = fx.X;
    cfg.top_k = fx.k;
    cfg.expert_hidden = fx.Fe;
    cfg.shared_expert = fx.Fs > 0;
    cfg.shared_hidden = fx.Fs;
    cfg.normalize_topk = fx.normalize;
    cfg.balance_alpha = (real)fx.alpha;
    cfg.zloss_beta = (real)fx.beta;
    UmParamRegistry reg;
    params_init(&reg);
    UmRng rng;
    rng_seed(&rng, 1);
    UmMoe m;
    um_moe_init(&m, &cfg, fx.D, fx.N, &reg, &rng, "moe.");
    UmParam *params[N_PARAMS] = {m.router, m.w1, m.b1, m.w2, m.b2, m.sw1, m.sb1, m.sw2, m.sb2};
    int n_params = fx.Fs ? 9 : 5;
    for (int p = 0; p < n_params; p++) {
        ck_assert_uint_eq(params[p]->numel, fx.numel[p]);
        memcpy(params[p]->data, fx.params[p], fx.numel[p] * sizeof(real));
    }

    size_t nd = (size_t)fx.N * fx.D;
    real *out = um_alloc(nd * sizeof(real)), *dx = um_alloc(nd * sizeof(real));
    um_moe_forward(&m, out, fx.x, fx.N);
    for (int s = 0; s < fx.N * fx.k; s++) ck_assert_int_eq(m.chosen[s], fx.chosen[s]);
    expect_close(out, fx.out, nd, "out");
    ck_assert_double_eq_tol(m.balance_loss, fx.balance, 1e-6 * (1 + fx.balance));
    ck_assert_double_eq_tol(m.z_loss, fx.z, 1e-6 * (1 + fx.z));
    ck_assert_double_eq_tol(m.aux_loss, fx.aux, 1e-6 * (1 + fx.aux));

    params_zero_grad(&reg);
    um_moe_backward(&m, dx, fx.R, fx.x, fx.N);
    expect_close(dx, fx.dx, nd, "dinp");
    for (int p = 0; p < n_params; p++) expect_close(params[p]->grad, fx.grads[p], fx.numel[p], params[p]->name);

    um_free(out);
    um_free(dx);
    um_moe_free(&m);
    params_free(&reg);
    fixture_free(&fx);
}

START_TEST(test_torch_mixtral_shared) { check_against_torch("tests/fixtures/moe_small.bin"); }
END_TEST
START_TEST(test_torch_raw_gates) { check_against_torch("tests/fixtures/moe_small_raw.bin"); }
END_TEST

Suite *moe_fixture_suite(void) {
    Suite *s = suite_create("moe_fixture");
    TCase *tc = tcase_create("pytorch");
    tcase_add_test(tc, test_torch_mixtral_shared);
    tcase_add_test(tc, test_torch_raw_gates);
    suite_add_tcase(s, tc);
    return s;
}
