// test_train_paths.c: one whole training step of the nano model under each
// SIMD path (scalar, avx2, avx512; the ones this CPU cannot run are skipped
// with a note) gives the same losses as the scalar reference within float
// tolerance, and the same path twice gives bit-identical losses.
//
// A step: forward with targets (loss 0), zero grads, backward, AdamW, then
// a second forward on the same batch (loss 1, which sees every gradient
// through the update). Synthetic bytes, so no data file is needed.
#include <check.h>
#include <math.h>
#include <stdio.h>

#include "base/alloc.h"
#include "base/error.h"
#include "base/rng.h"
#include "kernels/dispatch.h"
#include "model/config.h"
#include "model/transformer.h"
#include "nn/adamw.h"

enum { STEP_B = 4 };

typedef struct {
    double loss0, loss1, grad_norm;
} StepLosses;

static StepLosses one_step(int arch) {
    UmModelConfig cfg;
    UmTrainConfig tc;
    UmError err = {{0}};
    ck_assert_msg(config_preset(&cfg, &tc, "nano", arch, &err) == 0, "%s", err.msg);
    UmModel m;
    ck_assert_msg(model_init_batch(&m, &cfg, 7, STEP_B, &err) == 0, "%s", err.msg);
    int T = cfg.block_size, n = STEP_B * T;
    int *inputs = um_alloc((size_t)n * sizeof(int)), *targets = um_alloc((size_t)n * sizeof(int));
    UmRng rng;
    rng_seed(&rng, 3);
    for (int i = 0; i < n; i++) inputs[i] = (int)rng_below(&rng, 256), targets[i] = (int)rng_below(&rng, 256);
    StepLosses r;
    r.loss0 = model_forward(&m, inputs, targets, STEP_B, T);
    params_zero_grad(&m.params);
    model_backward(&m);
    UmAdamW opt = adamw_defaults();
    r.grad_norm = adamw_step(&m.params, &opt, (real)3e-3, 1);
    r.loss1 = model_forward(&m, inputs, targets, STEP_B, T);
    um_free(inputs), um_free(targets);
    model_free(&m);
    return r;
}

static void check_close(double got, double want, double rel, const char *what, const char *arch) {
    ck_assert_msg(fabs(got - want) <= rel * fabs(want), "%s %s [%s]: %.9g, scalar path %.9g", arch, what,
                  um_simd_path_name(), got, want);
}

static void paths_agree(int arch) {
    ck_assert_int_eq(um_simd_use(UM_SIMD_SCALAR), 0);
    StepLosses ref = one_step(arch);
    ck_assert(isfinite(ref.loss0) && isfinite(ref.loss1) && ref.loss1 < ref.loss0);
    const UmSimdPath fast[] = {UM_SIMD_AVX2, UM_SIMD_AVX512};
    for (int p = 0; p < 2; p++) {
        if (um_simd_use(fast[p]) != 0) {
            printf("note: %s path not available on this CPU/build, skipped\n", um_simd_name_of(fast[p]));
            continue;
        }
        StepLosses a = one_step(arch), b = one_step(arch);
        ck_assert_msg(a.loss0 == b.loss0 && a.loss1 == b.loss1, "%s [%s]: two runs differ", arch_name(arch),
                      um_simd_path_name());
        // Losses are means over many tokens: float rounding of a different
        // summation order and the polynomial exp stay far below 1e-5.
        check_close(a.loss0, ref.loss0, 1e-5, "loss before the step", arch_name(arch));
        check_close(a.loss1, ref.loss1, 1e-5, "loss after the step", arch_name(arch));
        check_close(a.grad_norm, ref.grad_norm, 1e-4, "gradient norm", arch_name(arch));
    }
}

START_TEST(dense_step_same_on_every_path) { paths_agree(ARCH_DENSE); }
END_TEST

START_TEST(sparse_steps_same_on_every_path) {
    paths_agree(ARCH_PKM);
    paths_agree(ARCH_MOE);
    paths_agree(ARCH_ULTRAMEM);
}
END_TEST

Suite *train_paths_suite(void) {
    Suite *s = suite_create("train_paths");
    TCase *tc = tcase_create("forced_paths");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, dense_step_same_on_every_path);
    tcase_add_test(tc, sparse_steps_same_on_every_path);
    suite_add_tcase(s, tc);
    return s;
}
