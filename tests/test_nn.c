// test_nn.c: float-build tests of the nn ops that a gradient check does not
// cover: the optimizer's arithmetic, the schedule, and numerical properties.
#include <check.h>
#include <math.h>
#include <string.h>

#include "base/alloc.h"
#include "base/error.h"
#include "base/params.h"
#include "base/rng.h"
#include "helpers/testutil.h"
#include "nn/adamw.h"
#include "nn/attention.h"
#include "nn/crossentropy.h"
#include "nn/lr_schedule.h"

// Relative closeness for float results computed in a different order.
#define TOL 1e-6

static int close_to(double got, double want) { return fabs(got - want) <= TOL * (fabs(want) + 1e-6); }

// ---------------------------------------------------------------- AdamW

// Three scalars, two steps, with weight decay and bias correction, worked
// by hand. lr 0.1, weight decay 0.1, beta1 0.9, beta2 0.95, eps 1e-3 (large
// enough to matter in the last digits).
//   w = (1, -2, 0.5),  g1 = (0.1, -0.2, 0.3),  g2 = (-0.05, 0.1, 0.3)
// Step 1, w[0]: m = 0.1*0.1 = 0.01, v = 0.05*0.01 = 0.0005,
//   m_hat = 0.01/(1-0.9) = 0.1, v_hat = 0.0005/(1-0.95) = 0.01,
//   w = 1 - 0.1*(0.1/(0.1+0.001) + 0.1*1) = 1 - 0.1*(0.990099 + 0.1) = 0.890990099
// Step 2, w[0]: m = 0.9*0.01 + 0.1*(-0.05) = 0.004, v = 0.95*0.0005 + 0.05*0.0025 = 0.0006,
//   m_hat = 0.004/(1-0.81) = 0.0210526, v_hat = 0.0006/(1-0.9025) = 0.00615385,
//   w = 0.890990099 - 0.1*(0.0210526/(0.0784465+0.001) + 0.1*0.890990099) = 0.855581052
// w[2] sees the same gradient twice, so bias correction makes m_hat = 0.3 at
// both steps (without it, m would be 0.03 and then 0.057).
static const real HAND_W0[3] = {1.0f, -2.0f, 0.5f};
static const real HAND_G1[3] = {0.1f, -0.2f, 0.3f};
static const real HAND_G2[3] = {-0.05f, 0.1f, 0.3f};
static const double HAND_W1[3] = {0.890990099, -1.880497512, 0.395332226};
static const double HAND_W2[3] = {0.855581052, -1.835025562, 0.291711130};
static const double HAND_M2[3] = {0.004, -0.008, 0.057};
static const double HAND_V2[3] = {0.0006, 0.0024, 0.008775};

static UmAdamW hand_opt(void) {
    UmAdamW opt = adamw_defaults();
    opt.eps = 1e-3f;
    opt.grad_clip = 0;  // off
    return opt;
}

START_TEST(test_adamw_update_by_hand) {
    UmAdamW opt = hand_opt();
    real w[3], m[3] = {0}, v[3] = {0};
    memcpy(w, HAND_W0, sizeof w);
    adamw_update(w, HAND_G1, m, v, 3, 0.1f, 0.1f, 1.0f, &opt, 1);
    for (int i = 0; i < 3; i++) ck_assert_msg(close_to(w[i], HAND_W1[i]), "t=1 w[%d]=%.9g want %.9g", i, w[i], HAND_W1[i]);
    adamw_update(w, HAND_G2, m, v, 3, 0.1f, 0.1f, 1.0f, &opt, 2);
    for (int i = 0; i < 3; i++) {
        ck_assert_msg(close_to(w[i], HAND_W2[i]), "t=2 w[%d]=%.9g want %.9g", i, w[i], HAND_W2[i]);
        ck_assert_msg(close_to(m[i], HAND_M2[i]), "t=2 m[%d]=%.9g want %.9g", i, m[i], HAND_M2[i]);
        ck_assert_msg(close_to(v[i], HAND_V2[i]), "t=2 v[%d]=%.9g want %.9g", i, v[i], HAND_V2[i]);
    }
}
END_TEST

// The registry path (group lr and weight decay) must give the same numbers.
START_TEST(test_adamw_step_by_hand) {
    UmParamRegistry reg;
    params_init(&reg);
    int grp = params_add_group(&reg, "all", 1.0f, 0.1f);
    int shape[1] = {3};
    UmParam *p = params_add(&reg, "w", grp, 1, shape);
    memcpy(p->data, HAND_W0, sizeof HAND_W0);
    UmAdamW opt = hand_opt();
    memcpy(p->grad, HAND_G1, sizeof HAND_G1);
    adamw_step(&reg, &opt, 0.1f, 1);
    memcpy(p->grad, HAND_G2, sizeof HAND_G2);
    adamw_step(&reg, &opt, 0.1f, 2);
    for (int i = 0; i < 3; i++)
        ck_assert_msg(close_to(p->data[i], HAND_W2[i]), "w[%d]=%.9g want %.9g", i, p->data[i], HAND_W2[i]);
    params_free(&reg);
}
END_TEST

// Two tensors with gradients (3) and (4): global norm 5.
static UmParamRegistry two_tensor_registry(UmParam **a, UmParam **b) {
    UmParamRegistry reg;
    params_init(&reg);
    int grp = params_add_group(&reg, "all", 1.0f, 0.0f);
    int shape[1] = {1};
    *a = params_add(&reg, "a", grp, 1, shape);
    *b = params_add(&reg, "b", grp, 1, shape);
    (*a)->grad[0] = 3;
    (*b)->grad[0] = 4;
    return reg;
}

START_TEST(test_grad_global_norm) {
    UmParam *a, *b;
    UmParamRegistry reg = two_tensor_registry(&a, &b);
    ck_assert(close_to(grad_global_norm(&reg), 5.0));
    params_free(&reg);
}
END_TEST

// Above the limit: every gradient is scaled by clip/norm = 1/5 before the
// moments see it, so m = (1-beta1) * g / 5. The gradients themselves are
// left as they were.
START_TEST(test_clip_above_limit) {
    UmParam *a, *b;
    UmParamRegistry reg = two_tensor_registry(&a, &b);
    UmAdamW opt = adamw_defaults();
    opt.grad_clip = 1.0f;
    double norm = adamw_step(&reg, &opt, 0.01f, 1);
    ck_assert(close_to(norm, 5.0));  // the norm before clipping
    ck_assert_msg(close_to(a->adam_m[0], 0.1 * 3 / 5), "m_a=%.9g", a->adam_m[0]);
    ck_assert_msg(close_to(b->adam_m[0], 0.1 * 4 / 5), "m_b=%.9g", b->adam_m[0]);
    ck_assert(close_to(a->adam_v[0], 0.05 * 0.36) && close_to(b->adam_v[0], 0.05 * 0.64));
    ck_assert(a->grad[0] == 3 && b->grad[0] == 4);
    params_free(&reg);
}
END_TEST

START_TEST(test_clip_below_limit) {
    UmParam *a, *b;
    UmParamRegistry reg = two_tensor_registry(&a, &b);
    UmAdamW opt = adamw_defaults();
    opt.grad_clip = 10.0f;  // norm 5 is under it: no scaling
    double norm = adamw_step(&reg, &opt, 0.01f, 1);
    ck_assert(close_to(norm, 5.0));
    ck_assert_msg(close_to(a->adam_m[0], 0.3), "m_a=%.9g", a->adam_m[0]);
    ck_assert_msg(close_to(b->adam_m[0], 0.4), "m_b=%.9g", b->adam_m[0]);
    params_free(&reg);
}
END_TEST

// Group lr_mult scales the step; group weight decay applies only to its group.
START_TEST(test_group_lr_mult_and_decay) {
    UmParamRegistry reg;
    params_init(&reg);
    int base = params_add_group(&reg, "base", 1.0f, 0.0f);
    int fast = params_add_group(&reg, "fast", 3.0f, 0.0f);
    int decayed = params_add_group(&reg, "decayed", 1.0f, 0.5f);
    int shape[1] = {1};
    UmParam *p_base = params_add(&reg, "base", base, 1, shape);
    UmParam *p_fast = params_add(&reg, "fast", fast, 1, shape);
    UmParam *p_dec = params_add(&reg, "decayed", decayed, 1, shape);
    p_base->grad[0] = p_fast->grad[0] = 0.2f;
    p_dec->grad[0] = 0;  // moves by weight decay alone
    p_base->data[0] = p_fast->data[0] = p_dec->data[0] = 2.0f;
    UmAdamW opt = adamw_defaults();
    opt.grad_clip = 0;
    adamw_step(&reg, &opt, 0.01f, 1);
    // t=1: m_hat/sqrt(v_hat) = g/|g| = 1, so the step is lr * lr_mult (up to eps).
    double step_base = 2.0 - p_base->data[0], step_fast = 2.0 - p_fast->data[0];
    ck_assert_msg(fabs(step_base - 0.01) < 1e-6, "base step %.9g", step_base);
    ck_assert_msg(fabs(step_fast - 0.03) < 1e-6, "fast step %.9g", step_fast);
    // Zero gradient: w -= lr * wd * w = 2 - 0.01*0.5*2 = 1.99.
    ck_assert_msg(close_to(p_dec->data[0], 1.99), "decayed %.9g", p_dec->data[0]);
    params_free(&reg);
}
END_TEST

// ---------------------------------------------------------------- schedule

START_TEST(test_lr_cosine_endpoints) {
    const int total = 100, warmup = 10;
    const double max_lr = 1e-3, min_lr = 1e-4;
    ck_assert(close_to(lr_cosine(0, total, warmup, max_lr, min_lr), max_lr / warmup));  // warmup start
    ck_assert(close_to(lr_cosine(warmup - 1, total, warmup, max_lr, min_lr), max_lr));  // end of warmup
    ck_assert(close_to(lr_cosine(warmup, total, warmup, max_lr, min_lr), max_lr));      // peak
    ck_assert(close_to(lr_cosine(total, total, warmup, max_lr, min_lr), min_lr));       // end
    ck_assert(close_to(lr_cosine(total + 50, total, warmup, max_lr, min_lr), min_lr));  // stays there
    // Halfway through the decay, the cosine is at its midpoint.
    ck_assert(close_to(lr_cosine(55, total, warmup, max_lr, min_lr), 0.5 * (max_lr + min_lr)));
    ck_assert(close_to(lr_cosine(0, total, 0, max_lr, min_lr), max_lr));  // no warmup: start at the peak
}
END_TEST

START_TEST(test_lr_cosine_monotone) {
    const int total = 200, warmup = 20;
    double prev = 0;
    for (int s = 0; s < warmup; s++) {
        double lr = lr_cosine(s, total, warmup, 1.0, 0.1);
        ck_assert_msg(lr > prev, "warmup not rising at step %d", s);
        prev = lr;
    }
    for (int s = warmup; s <= total; s++) {
        double lr = lr_cosine(s, total, warmup, 1.0, 0.1);
        ck_assert_msg(lr <= prev && lr >= 0.1, "decay not monotone at step %d: %g after %g", s, lr, prev);
        prev = lr;
    }
}
END_TEST

// ---------------------------------------------------------------- softmax, cross-entropy

START_TEST(test_softmax_sums_to_one) {
    UmRng rng;
    rng_seed(&rng, 5);
    real x[37];
    fill_normal(x, 37, &rng, 3.0);
    softmax_inplace(x, 37);
    double sum = 0;
    for (int i = 0; i < 37; i++) {
        ck_assert(x[i] >= 0 && x[i] <= 1);
        sum += x[i];
    }
    ck_assert_msg(fabs(sum - 1) < 1e-6, "sum %.9g", sum);
}
END_TEST

// exp(1e4) overflows float; after subtracting the max it is exp(0).
START_TEST(test_softmax_stable_large_logits) {
    real x[4] = {1e4f, 1e4f - 1, -1e4f, 0};
    softmax_inplace(x, 4);
    for (int i = 0; i < 4; i++) ck_assert_msg(isfinite(x[i]), "x[%d] not finite", i);
    double e = exp(-1.0);
    ck_assert(close_to(x[0], 1 / (1 + e)));
    ck_assert(close_to(x[1], e / (1 + e)));
    ck_assert(x[2] == 0 && x[3] == 0);
}
END_TEST

START_TEST(test_crossentropy_uniform_is_log_v) {
    enum { N = 3, V = 256 };
    real *logits = um_alloc(N * V * sizeof(real)), *probs = um_alloc(N * V * sizeof(real));
    real losses[N];
    int targets[N] = {0, 17, 255};
    for (int i = 0; i < N * V; i++) logits[i] = 3.25f;  // any constant: softmax is uniform
    softmax_crossentropy_forward(losses, probs, logits, targets, N, V);
    for (int n = 0; n < N; n++) ck_assert_msg(close_to(losses[n], log(V)), "loss %.9g want log(256)", losses[n]);
    for (int i = 0; i < N * V; i++) ck_assert(close_to(probs[i], 1.0 / V));
    um_free(logits);
    um_free(probs);
}
END_TEST

// A confident wrong answer: p[target] underflows to 0 in float, but the
// loss stays finite (it is computed from the log-sum-exp, not log(p)).
START_TEST(test_crossentropy_large_logits_finite) {
    real logits[3] = {1e4f, 0, -1e4f}, probs[3], loss;
    int target = 2;
    softmax_crossentropy_forward(&loss, probs, logits, &target, 1, 3);
    ck_assert_msg(isfinite(loss) && close_to(loss, 2e4), "loss %.9g", loss);
}
END_TEST

START_TEST(test_crossentropy_bad_target_dies) {
    real logits[3] = {0}, probs[3], loss;
    int target = 3;  // V = 3: out of range
    softmax_crossentropy_forward(&loss, probs, logits, &target, 1, 3);
}
END_TEST

// ---------------------------------------------------------------- attention

enum { AB = 1, AT = 6, AD = 8, AH = 2 };

// Changing token 4's key and value must leave outputs 0..3 bit-identical
// (they may not look at the future) and change outputs 4 and 5.
START_TEST(test_attention_causal) {
    UmRng rng;
    rng_seed(&rng, 9);
    static real qkv[AB * AT * 3 * AD], out1[AB * AT * AD], out2[AB * AT * AD];
    static real att[AB * AH * AT * AT];
    fill_normal(qkv, AB * AT * 3 * AD, &rng, 1.0);
    attention_forward(out1, att, qkv, AB, AT, AD, AH);
    const int future = 4;
    for (int i = AD; i < 3 * AD; i++) qkv[future * 3 * AD + i] += 1.5f;  // its k and v, all heads
    attention_forward(out2, att, qkv, AB, AT, AD, AH);
    for (int t = 0; t < AT; t++) {
        int same = memcmp(out1 + t * AD, out2 + t * AD, AD * sizeof(real)) == 0;
        if (t < future)
            ck_assert_msg(same, "output %d changed when token %d's k/v did", t, future);
        else
            ck_assert_msg(!same, "output %d did not react to token %d", t, future);
    }
}
END_TEST

// att rows sum to 1 over t2 <= t and hold exact zeros for t2 > t.
START_TEST(test_attention_mask_exact_zero) {
    UmRng rng;
    rng_seed(&rng, 10);
    static real qkv[AB * AT * 3 * AD], out[AB * AT * AD];
    static real att[AB * AH * AT * AT];
    fill_normal(qkv, AB * AT * 3 * AD, &rng, 1.0);
    for (int i = 0; i < AB * AH * AT * AT; i++) att[i] = 7;  // garbage the forward must overwrite
    attention_forward(out, att, qkv, AB, AT, AD, AH);
    for (int h = 0; h < AH; h++)
        for (int t = 0; t < AT; t++) {
            const real *row = att + (h * AT + t) * AT;
            double sum = 0;
            for (int t2 = 0; t2 <= t; t2++) sum += row[t2];
            ck_assert_msg(fabs(sum - 1) < 1e-6, "head %d row %d sums to %.9g", h, t, sum);
            for (int t2 = t + 1; t2 < AT; t2++) ck_assert(row[t2] == 0);
        }
}
END_TEST

Suite *nn_optim_suite(void) {
    Suite *s = suite_create("nn_optim");
    TCase *tc = tcase_create("adamw");
    tcase_add_test(tc, test_adamw_update_by_hand);
    tcase_add_test(tc, test_adamw_step_by_hand);
    tcase_add_test(tc, test_grad_global_norm);
    tcase_add_test(tc, test_clip_above_limit);
    tcase_add_test(tc, test_clip_below_limit);
    tcase_add_test(tc, test_group_lr_mult_and_decay);
    suite_add_tcase(s, tc);
    TCase *sched = tcase_create("lr_schedule");
    tcase_add_test(sched, test_lr_cosine_endpoints);
    tcase_add_test(sched, test_lr_cosine_monotone);
    suite_add_tcase(s, sched);
    return s;
}

Suite *nn_ops_suite(void) {
    Suite *s = suite_create("nn_ops");
    TCase *tc = tcase_create("softmax_crossentropy");
    tcase_add_test(tc, test_softmax_sums_to_one);
    tcase_add_test(tc, test_softmax_stable_large_logits);
    tcase_add_test(tc, test_crossentropy_uniform_is_log_v);
    tcase_add_test(tc, test_crossentropy_large_logits_finite);
    tcase_add_exit_test(tc, test_crossentropy_bad_target_dies, UM_EXIT_RUNTIME);
    suite_add_tcase(s, tc);
    TCase *att = tcase_create("attention");
    tcase_add_test(att, test_attention_causal);
    tcase_add_test(att, test_attention_mask_exact_zero);
    suite_add_tcase(s, att);
    return s;
}
