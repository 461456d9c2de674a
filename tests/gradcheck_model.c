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

static UmModelConfig grad_config(int arch) {
    UmModelConfig c = tiny_test_config();
    c.block_size = 6, c.n_layers = 2, c.dim = 8, c.n_heads = 2, c.mlp_hidden = 12;
    c.arch = arch;
    c.mem_block = 1, c.pkm_keys = 6, c.pkm_heads = 2, c.pkm_key_dim = 4, c.pkm_topk = 3;
    c.moe_experts = 4, c.moe_topk = 2, c.moe_hidden = 6, c.moe_shared = 1;
    if (arch == ARCH_ULTRAMEM) {  // every trick on; both a skip span (0 -> 1) and a same-block one (1 -> 1)
        UmTrainConfig t;
        config_preset(&c, &t, "nano", ARCH_ULTRAMEM, NULL);
        c.block_size = 6, c.n_layers = 3, c.dim = 8, c.n_heads = 2, c.mlp_hidden = 12;
        c.um_layers = 2, c.um_read[0] = 0, c.um_write[0] = 1, c.um_read[1] = 2, c.um_write[1] = 2;
        c.um_keys = 4, c.um_heads = 2, c.um_key_dim = 4, c.um_topm = 3, c.um_value_dim = 4;
    }
    if (arch == ARCH_ULTRAMEM2) {  // a V2 layer beside every MLP; value tables shared in a ring of 4
        UmTrainConfig t;
        config_preset(&c, &t, "nano", ARCH_ULTRAMEM2, NULL);
        c.block_size = 6, c.n_layers = 4, c.dim = 8, c.n_heads = 2, c.mlp_hidden = 12;
        c.um2_keys = 3, c.um2_key_dim = 4, c.um2_topm = 3, c.um2_value_dim = 4, c.um2_pre_dim = 3, c.um2_share = 4;
    }
    if (arch == ARCH_PEER) {  // PEER instead of every MLP
        c.peer_keys = 6, c.peer_heads = 2, c.peer_key_dim = 6, c.peer_topk = 4;
    }
    return c;
}

// A fingerprint of every discrete choice the sparse layers made (selected
// slots, chosen experts). Top-k is piecewise constant: if a perturbation
// changes a choice, the finite difference measures a jump, not a slope, and
// that entry is skipped (and counted).
static unsigned long choices(const UmModel *m) {
    unsigned long h = 1469598103934665603ul;
    for (int l = 0; l < m->cfg.n_layers; l++) {
        const UmPkm *p = m->slots[l].pkm;
        const UmMoe *e = m->slots[l].moe;
        if (p)
            for (int i = 0; i < p->N * p->cfg.H * p->cfg.k; i++) h = (h ^ (unsigned)p->slots[i]) * 1099511628211ul;
        if (e)
            for (int i = 0; i < e->n_tokens * e->k; i++) h = (h ^ (unsigned)e->chosen[i]) * 1099511628211ul;
        if (m->slots[l].um2) h = (h ^ um_ultramem_v2_selection_hash(m->slots[l].um2)) * 1099511628211ul;
        if (m->slots[l].peer) h = (h ^ um_peer_selection_hash(m->slots[l].peer)) * 1099511628211ul;
    }
    for (int i = 0; i < UM_MAX_MEM_LAYERS; i++) {
        const UmUltraMem *u = m->mems[i];
        if (u) h = (h ^ um_ultramem_selection_hash(u)) * 1099511628211ul;
    }
    return h;
}

// Loss as the trainer optimises it: cross-entropy plus the auxiliary losses.
static double full_loss(UmModel *m, const int *inputs, const int *targets, int B, int T) {
    double ce = model_forward(m, inputs, targets, B, T);
    return ce + m->aux_loss;
}

static void check_model_gradients(int arch) {
    UmModelConfig c = grad_config(arch);
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

    full_loss(&m, inputs, targets, B, T);
    unsigned long chosen = choices(&m);
    params_zero_grad(&m.params);
    model_backward(&m);
    int checked = 0, skipped = 0;

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
            int same = 1;
            for (int j = 0; j < 4; j++) {
                p->data[i] = saved + offsets[j];
                f[j] = full_loss(&m, inputs, targets, B, T);
                same &= choices(&m) == chosen;
            }
            p->data[i] = saved;
            if (!same) {
                skipped++;
                continue;
            }
            checked++;
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
    printf("%s model gradcheck: %d entries, worst relative error %.2e (%s), %d skipped (a choice flipped)\n",
           arch_name(arch), checked, worst, worst_name, skipped);
    ck_assert_msg(skipped * 10 <= checked, "too many entries skipped: %d of %d", skipped, checked + skipped);
    model_free(&m);
}

START_TEST(test_dense_model_gradients) { check_model_gradients(ARCH_DENSE); }
END_TEST

START_TEST(test_pkm_model_gradients) { check_model_gradients(ARCH_PKM); }
END_TEST

START_TEST(test_moe_model_gradients) { check_model_gradients(ARCH_MOE); }
END_TEST

START_TEST(test_ultramem_model_gradients) { check_model_gradients(ARCH_ULTRAMEM); }
END_TEST

START_TEST(test_ultramem2_model_gradients) { check_model_gradients(ARCH_ULTRAMEM2); }
END_TEST

START_TEST(test_peer_model_gradients) { check_model_gradients(ARCH_PEER); }
END_TEST

Suite *model_gradcheck_suite(void) {
    Suite *s = suite_create("model_gradcheck");
    TCase *tc = tcase_create("dense");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_dense_model_gradients);
    tcase_add_test(tc, test_pkm_model_gradients);
    tcase_add_test(tc, test_moe_model_gradients);
    tcase_add_test(tc, test_ultramem_model_gradients);
    tcase_add_test(tc, test_ultramem2_model_gradients);
    tcase_add_test(tc, test_peer_model_gradients);
    suite_add_tcase(s, tc);
    return s;
}
