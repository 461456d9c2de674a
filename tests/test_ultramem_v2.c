// test_ultramem_v2.c: the UltraMemV2 layer in the float build.
//   - fixture: forward output and every gradient against an independent
//     PyTorch reference (tests/ref/ultramem_v2_reference.py)
//   - the init check: the memory branch's output variance at init matches a
//     GELU MLP branch (initialised as the transformer does) within 20%
//   - the Eq. 26 function reproduces the paper's worked example
//   - the compute-share inverse: the Dk it returns fits the budget, Dk+1 does not
//   - the tiny preset: activated FLOPs within 10% of dense, total params within 5% of MoE's
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/params.h"
#include "base/rng.h"
#include "helpers/testutil.h"
#include "memory/ultramem_v2.h"
#include "model/config.h"
#include "model/transformer.h"
#include "nn/mlp.h"

#define FIXTURE "tests/fixtures/ultramem_v2_small.bin"

static void read_f32(FILE *f, real *dst, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float v;
        ck_assert(fread(&v, 4, 1, f) == 1);
        dst[i] = v;
    }
}

START_TEST(test_v2_fixture) {
    FILE *f = fopen(FIXTURE, "rb");
    ck_assert_msg(f != NULL, "missing %s (run tests/ref/ultramem_v2_reference.py)", FIXTURE);
    char magic[4];
    int hdr[8];
    ck_assert(fread(magic, 1, 4, f) == 4 && memcmp(magic, "UMV2", 4) == 0);
    ck_assert(fread(hdr, 4, 8, f) == 8 && hdr[0] == 1);
    int N = hdr[1], D = hdr[2];
    UmUltraMemV2Config cfg = um_ultramem_v2_config_default();
    cfg.n = hdr[3], cfg.Dk = hdr[4], cfg.m = hdr[5], cfg.Dv = hdr[6], cfg.Dp = hdr[7];
    cfg.r = 2, cfg.cores = 2, cfg.calibrate_norm = 0;
    UmParamRegistry reg;
    params_init(&reg);
    UmRng rng;
    rng_seed(&rng, 1);
    UmUltraMemV2 l;
    um_ultramem_v2_init(&l, &cfg, D, N, &reg, &rng, "v2.");
    ck_assert(fread(l.shuffle, 4, l.n_win, f) == (size_t)l.n_win);
    size_t nd = (size_t)N * D;
    real *inp = um_alloc(nd * sizeof(real)), *dout = um_alloc(nd * sizeof(real)), *out = um_alloc(nd * sizeof(real));
    real *ref = um_alloc(nd * sizeof(real)), *dinp = um_alloc(nd * sizeof(real));
    read_f32(f, inp, nd);
    for (int i = 0; i < reg.count; i++) read_f32(f, reg.params[i]->data, reg.params[i]->numel);
    read_f32(f, dout, nd);
    read_f32(f, ref, nd);
    um_ultramem_v2_forward(&l, out, inp, N);
    size_t where;
    double e = max_rel_diff(out, ref, nd, 1e-4, &where);
    ck_assert_msg(e < 1e-3, "out differs at %zu: %g vs %g", where, (double)out[where], (double)ref[where]);
    params_zero_grad(&reg);
    um_ultramem_v2_backward(&l, dinp, dout, inp, N);
    read_f32(f, ref, nd);
    e = max_rel_diff(dinp, ref, nd, 1e-4, &where);
    ck_assert_msg(e < 1e-3, "dinp differs at %zu: %g vs %g", where, (double)dinp[where], (double)ref[where]);
    for (int i = 0; i < reg.count; i++) {
        UmParam *p = reg.params[i];
        real *g = um_alloc(p->numel * sizeof(real));
        read_f32(f, g, p->numel);
        e = max_rel_diff(p->grad, g, p->numel, 1e-4, &where);
        ck_assert_msg(e < 1e-3, "%s grad differs at %zu: %g vs %g", p->name, where, (double)p->grad[where],
                      (double)g[where]);
        um_free(g);
    }
    fclose(f);
    um_ultramem_v2_free(&l);
    params_free(&reg);
    um_free(inp), um_free(dout), um_free(out), um_free(ref), um_free(dinp);
}
END_TEST

static double variance(const real *x, size_t n) {
    double s = 0, ss = 0;
    for (size_t i = 0; i < n; i++) s += x[i], ss += (double)x[i] * x[i];
    return ss / n - (s / n) * (s / n);
}

// The tiny preset's block 0: its MLP and its V2 layer on the same N(0, I)
// input (what ln2 hands them at init): output variances within 20%.
START_TEST(test_v2_init_variance_matches_mlp) {
    UmModelConfig mc;
    UmTrainConfig tc;
    UmError err;
    ck_assert(config_preset(&mc, &tc, "tiny", ARCH_ULTRAMEM2, &err) == 0);
    UmModel m;
    ck_assert(model_init_batch(&m, &mc, 11, 4, &err) == 0);
    int D = mc.dim, F = mc.mlp_hidden, N = 4 * mc.block_size;
    real *x = um_alloc((size_t)N * D * sizeof(real)), *y = um_alloc((size_t)N * D * sizeof(real));
    real *pre = um_alloc((size_t)N * F * sizeof(real)), *act = um_alloc((size_t)N * F * sizeof(real));
    UmRng rng;
    rng_seed(&rng, 3);
    fill_normal(x, (size_t)N * D, &rng, 1);
    for (int b = 0; b < mc.n_layers; b++) {
        UmBlockParams *p = &m.blocks[b];
        mlp_forward(y, pre, act, x, p->w1->data, p->b1->data, p->w2->data, p->b2->data, N, D, F);
        double v_mlp = variance(y, (size_t)N * D);
        um_ultramem_v2_forward(m.slots[b].um2, y, x, N);
        double v_mem = variance(y, (size_t)N * D);
        ck_assert_msg(fabs(v_mem / v_mlp - 1) < 0.2, "block %d: memory var %g vs MLP var %g", b, v_mem, v_mlp);
        ck_assert(fabs(m.slots[b].um2->init_score_mean - 1) < 1e-3);
    }
    um_free(x), um_free(y), um_free(pre), um_free(act);
    model_free(&m);
}
END_TEST

// Appendix A's worked example (227M/1.2B): sigma_V ~ 0.066.
START_TEST(test_v2_eq26_paper_example) {
    double sv = um_ultramem_v2_value_std(0.064 * 3.25 / 40, 1.1, 32, 1, 192, 192, 0.4, 0.4 / 768);
    ck_assert_msg(fabs(sv - 0.066) < 0.001, "sigma_V %g", sv);
}
END_TEST

START_TEST(test_v2_dk_for_flops) {
    UmUltraMemV2Config c = um_ultramem_v2_config_default();
    c.n = 79, c.m = 16, c.Dv = 32, c.Dp = 32;
    double budget = 80000;
    int dk = um_ultramem_v2_dk_for_flops(&c, 128, budget);
    c.Dk = dk;
    ck_assert(um_ultramem_v2_config_flops(&c, 128) <= budget);
    c.Dk = dk + 1;
    ck_assert(um_ultramem_v2_config_flops(&c, 128) > budget);
}
END_TEST

START_TEST(test_v2_tiny_preset_matched) {
    UmModelConfig mc;
    UmTrainConfig tc;
    UmError err;
    UmModel dense, moe, v2;
    config_preset(&mc, &tc, "tiny", ARCH_DENSE, &err);
    ck_assert(model_init_batch(&dense, &mc, 1, 1, &err) == 0);
    config_preset(&mc, &tc, "tiny", ARCH_MOE, &err);
    ck_assert(model_init_batch(&moe, &mc, 1, 1, &err) == 0);
    config_preset(&mc, &tc, "tiny", ARCH_ULTRAMEM2, &err);
    ck_assert(model_init_batch(&v2, &mc, 1, 1, &err) == 0);
    double f = model_flops_per_token(&v2) / model_flops_per_token(&dense);
    double p = (double)model_total_params(&v2) / model_total_params(&moe);
    ck_assert_msg(fabs(f - 1) < 0.1, "flops ratio %g", f);
    ck_assert_msg(fabs(p - 1) < 0.05, "params ratio %g", p);
    ck_assert_int_eq(mc.n_layers * mc.um2_topm, 64);  // = UltraMem tiny: 2 layers x 2 heads x 16
    model_free(&dense), model_free(&moe), model_free(&v2);
}
END_TEST


// Inference mode (see test_inference_mode_caches_keys_exactly for V1): the
// cached forward gives the uncached forward's bits, and after new keys, key
// norm and cores, turning it on again recomputes what it caches.
static void v2_small(UmParamRegistry *reg, UmUltraMemV2 *l, int N, int D) {
    UmUltraMemV2Config cfg = um_ultramem_v2_config_default();
    cfg.n = 8, cfg.Dk = 6, cfg.m = 5, cfg.Dv = 8, cfg.Dp = 8;
    UmRng rng;
    rng_seed(&rng, 43);
    params_init(reg);
    um_ultramem_v2_init(l, &cfg, D, N, reg, &rng, "v2.");
}

START_TEST(test_v2_inference_mode_caches_keys_exactly) {
    int N = 40, D = 12;  // > 16 tokens: the gemm scoring path
    size_t nd = (size_t)N * D;
    UmParamRegistry reg;
    UmUltraMemV2 l;
    v2_small(&reg, &l, N, D);
    UmRng rng;
    rng_seed(&rng, 78);
    real *inp = um_alloc(nd * sizeof(real)), *plain = um_alloc(nd * sizeof(real));
    real *cached = um_alloc(nd * sizeof(real));
    fill_normal(inp, nd, &rng, 1);
    um_ultramem_v2_forward(&l, plain, inp, N);
    um_ultramem_v2_set_inference(&l, 1);
    for (int rep = 0; rep < 2; rep++) {
        um_ultramem_v2_forward(&l, cached, inp, N);
        ck_assert(memcmp(plain, cached, nd * sizeof(real)) == 0);
    }
    UmParam *changed[] = {l.keys, l.knorm_w, l.cores};
    for (int k = 0; k < 3; k++) {
        for (size_t i = 0; i < changed[k]->numel; i++) changed[k]->data[i] += (real)(0.5 * rng_normal(&rng));
        if (k == 1) {  // new keys, not invalidated yet: the old keys' answer (cores are read live)
            um_ultramem_v2_forward(&l, cached, inp, N);
            ck_assert(memcmp(plain, cached, nd * sizeof(real)) == 0);
        }
    }
    um_ultramem_v2_set_inference(&l, 1);
    um_ultramem_v2_forward(&l, cached, inp, N);
    um_ultramem_v2_set_inference(&l, 0);
    um_ultramem_v2_forward(&l, plain, inp, N);
    ck_assert(memcmp(plain, cached, nd * sizeof(real)) == 0);
    um_free(inp), um_free(plain), um_free(cached);
    um_ultramem_v2_free(&l);
    params_free(&reg);
}
END_TEST

START_TEST(test_v2_backward_refused_in_inference_mode) {
    int N = 3, D = 12;
    UmParamRegistry reg;
    UmUltraMemV2 l;
    v2_small(&reg, &l, N, D);
    real *x = um_alloc((size_t)N * D * sizeof(real)), *y = um_alloc((size_t)N * D * sizeof(real));
    um_ultramem_v2_set_inference(&l, 1);
    um_ultramem_v2_forward(&l, y, x, N);
    um_ultramem_v2_backward(&l, x, y, x, N);
}
END_TEST

Suite *ultramem_v2_suite(void) {
    Suite *s = suite_create("ultramem_v2");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_v2_init_variance_matches_mlp);
    tcase_add_test(tc, test_v2_eq26_paper_example);
    tcase_add_test(tc, test_v2_dk_for_flops);
    tcase_add_test(tc, test_v2_tiny_preset_matched);
    tcase_add_test(tc, test_v2_inference_mode_caches_keys_exactly);
    tcase_add_exit_test(tc, test_v2_backward_refused_in_inference_mode, 2);  // UM_EXIT_USAGE
    suite_add_tcase(s, tc);
    return s;
}

Suite *ultramem_v2_fixture_suite(void) {
    Suite *s = suite_create("ultramem_v2_fixture");
    TCase *tc = tcase_create("torch");
    tcase_add_test(tc, test_v2_fixture);
    suite_add_tcase(s, tc);
    return s;
}
