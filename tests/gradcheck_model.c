// gradcheck_model.c: the whole dense transformer's backward pass against
// finite differences, in double precision. Every parameter tensor is
// checked (a sample of its entries), so a wiring mistake anywhere in
// transformer.c (a missed residual, a wrong buffer) shows up here even when
// each op passes its own check.
#include <check.h>
#include <math.h>
#include <stdio.h>

#include "helpers/model_fixtures.h"
#include "model/transformer.h"

static UmModelConfig grad_config(void) {
    UmModelConfig c = tiny_test_config();
    c.block_size = 6, c.n_layers = 2, c.dim = 8, c.n_heads = 2, c.mlp_hidden = 12;
    return c;
}

START_TEST(test_dense_model_gradients) {
    UmModelConfig c = grad_config();
    UmModel m;
    UmError err;
    ck_assert(model_init(&m, &c, 3, &err) == 0);
    // Bigger-than-default weights so every path carries a visible gradient.
    UmRng rng;
    rng_seed(&rng, 9);
    for (int i = 0; i < m.params.count; i++) param_normal(m.params.params[i], &rng, 0.3);
    enum { B = 2, T = 6 };
    int inputs[B * T], targets[B * T];
    for (int i = 0; i < B * T; i++) inputs[i] = rng_below(&rng, 256), targets[i] = rng_below(&rng, 256);

    model_forward(&m, inputs, targets, B, T);
    params_zero_grad(&m.params);
    model_backward(&m);

    // Five-point central difference: truncation error ~h^4, roundoff ~1e-16/h,
    // both ~1e-12 at h = 1e-4, far below even the smallest gradients here.
    const double h = 1e-4;
    double worst = 0;
    const char *worst_name = "";
    for (int pi = 0; pi < m.params.count; pi++) {
        UmParam *p = m.params.params[pi];
        size_t stride = p->numel > 40 ? p->numel / 40 : 1;  // ~40 entries per tensor
        for (size_t i = 0; i < p->numel; i += stride) {
            double saved = p->data[i], f[4];
            const double offsets[4] = {2 * h, h, -h, -2 * h};
            for (int j = 0; j < 4; j++) {
                p->data[i] = saved + offsets[j];
                f[j] = model_forward(&m, inputs, targets, B, T);
            }
            p->data[i] = saved;
            double numeric = (-f[0] + 8 * f[1] - 8 * f[2] + f[3]) / (12 * h);
            double analytic = p->grad[i];
            // Relative error, with an absolute floor: the key bias has an exactly zero
            // gradient (softmax ignores a constant shift), where only roundoff remains.
            double rel = fabs(numeric - analytic) / (fabs(numeric) + fabs(analytic) + 1e-6);
            if (rel > worst) worst = rel, worst_name = p->name;
            ck_assert_msg(rel < 1e-5, "%s[%zu]: analytic %.10g vs numeric %.10g (rel %.2e)", p->name, i, analytic,
                          numeric, rel);
        }
    }
    printf("dense model gradcheck: worst relative error %.2e (%s)\n", worst, worst_name);
    model_free(&m);
}
END_TEST

Suite *model_gradcheck_suite(void) {
    Suite *s = suite_create("model_gradcheck");
    TCase *tc = tcase_create("dense");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_dense_model_gradients);
    suite_add_tcase(s, tc);
    return s;
}
