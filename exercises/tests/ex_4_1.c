// ex_4_1.c: exercise 4.1, top-k routing with renormalised gates
// (topk_row and gates_row in lib/memory/moe.c).
//
//   chosen (k): the k most probable experts of a token, most probable first,
//               the lower expert id first on a tie
//   gates (k):  g_j = p_cj / sum_l p_cl  (normalize_topk = 1, Mixtral)
//               g_j = p_cj                (normalize_topk = 0, Switch)
// Checked through the whole layer: your routing drives the experts, the output
// and every gradient, compared with the reference layer on the same input.
#include "moe_pair.h"

#define TAG "ex_4_1"

static void check_routing(MoePair *p) {
    int Nk = p->N * p->cfg.top_k;
    gu_expect_ints("chosen experts (token, j)", p->l.chosen, p->l_r.chosen, Nk, p->cfg.top_k, p->shape);
    gu_expect_close("gates (token, j)", p->l.gates, p->l_r.gates, Nk, p->cfg.top_k, p->shape);
    gu_expect_close("layer output", p->out, p->out_r, (size_t)p->N * p->D, p->D, p->shape);
}

START_TEST(fixed_small) {
    UmMoeConfig cfg;
    um_moe_config_default(&cfg);
    cfg.n_experts = 4, cfg.top_k = 2, cfg.expert_hidden = 3;
    MoePair p;
    moe_pair_init(&p, &cfg, 3, 4, 0x4101);
    moe_pair_sharpen_router(&p, 1, 0x4102);
    moe_pair_forward(&p);
    gu_describe(p.shape, sizeof p.shape, "router probabilities (N=3, X=4)", p.l_r.probs, 12);
    check_routing(&p);
    moe_pair_free(&p);
}
END_TEST

START_TEST(random_shapes) {
    UmRng rng;
    rng_seed(&rng, 0x4103);
    for (int trial = 0; trial < 8; trial++) {
        UmMoeConfig cfg;
        um_moe_config_default(&cfg);
        cfg.n_experts = gu_between(&rng, 2, 9);
        cfg.top_k = gu_between(&rng, 1, cfg.n_experts);
        cfg.expert_hidden = gu_between(&rng, 1, 6);
        cfg.normalize_topk = trial % 2;
        MoePair p;
        moe_pair_init(&p, &cfg, gu_between(&rng, 1, 12), gu_between(&rng, 2, 8), 0x4104 + trial);
        moe_pair_sharpen_router(&p, 1, 0x4200 + trial);
        moe_pair_forward(&p);
        check_routing(&p);
        moe_pair_free(&p);
    }
}
END_TEST

// A zero router makes every probability 1/X: the lower ids must win.
START_TEST(ties_pick_lower_id) {
    UmMoeConfig cfg;
    um_moe_config_default(&cfg);
    cfg.n_experts = 6, cfg.top_k = 3, cfg.expert_hidden = 2;
    MoePair p;
    moe_pair_init(&p, &cfg, 4, 3, 0x4105);
    param_fill(p.l.router, 0);
    param_fill(p.l_r.router, 0);
    moe_pair_forward(&p);
    snprintf(p.shape, sizeof p.shape, " All 6 experts equally likely (zero router), top_k=3: chosen must be 0, 1, 2.");
    check_routing(&p);
    moe_pair_free(&p);
}
END_TEST

// The gates feed the gradient: with your routing, backward must match too.
START_TEST(gradients_follow) {
    UmMoeConfig cfg;
    um_moe_config_default(&cfg);
    cfg.n_experts = 5, cfg.top_k = 2, cfg.expert_hidden = 4;
    for (int norm = 0; norm < 2; norm++) {
        cfg.normalize_topk = norm;
        MoePair p;
        moe_pair_init(&p, &cfg, 6, 5, 0x4106 + norm);
        moe_pair_sharpen_router(&p, 1, 0x4107);
        moe_pair_forward(&p);
        check_routing(&p);
        moe_pair_backward(&p);
        moe_pair_compare_grads(&p);
        moe_pair_free(&p);
    }
}
END_TEST

Suite *exercise_suite(void) {
    Suite *s = suite_create("exercise 4.1: top-k routing");
    GU_ADD(s, TAG, fixed_small);
    GU_ADD(s, TAG, random_shapes);
    GU_ADD(s, TAG, ties_pick_lower_id);
    GU_ADD(s, TAG, gradients_follow);
    return s;
}
