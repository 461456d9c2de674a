// ex_4_2.c: exercise 4.2, the Switch load-balancing loss and its gradient
// (balance_loss and balance_loss_backward_row in lib/memory/moe.c).
//
//   L_bal = alpha * X * sum_i f_i P_i,  f_i = load_i / (N k) (constant),  P_i = mean_t p_ti
//   backward: dp_ti += scale * dL_bal / dp_ti for every token t and expert i
// Checked through the layer against the reference, at perfectly uniform
// routing (L_bal = alpha exactly), and by finite differences of L_bal.
#include <math.h>

#include "moe_pair.h"

#define TAG "ex_4_2"

static void check_losses(MoePair *p) {
    real yours[2] = {p->l.balance_loss, p->l.aux_loss}, ref[2] = {p->l_r.balance_loss, p->l_r.aux_loss};
    gu_expect_close("balance_loss, aux_loss", yours, ref, 2, 0, p->shape);
}

START_TEST(loss_matches) {
    UmRng rng;
    rng_seed(&rng, 0x4201);
    for (int trial = 0; trial < 8; trial++) {
        UmMoeConfig cfg;
        um_moe_config_default(&cfg);
        cfg.n_experts = gu_between(&rng, 2, 9);
        cfg.top_k = gu_between(&rng, 1, cfg.n_experts);
        cfg.expert_hidden = 2;
        cfg.balance_alpha = (real)(0.01 + rng_uniform(&rng));
        cfg.normalize_topk = trial % 2;
        MoePair p;
        moe_pair_init(&p, &cfg, gu_between(&rng, 1, 12), gu_between(&rng, 2, 6), 0x4202 + trial);
        moe_pair_sharpen_router(&p, 1, 0x4300 + trial);
        moe_pair_forward(&p);
        check_losses(&p);
        moe_pair_free(&p);
    }
}
END_TEST

// A zero router makes every p_ti = 1/X, so P_i = 1/X; the f_i always sum to 1,
// so L_bal = alpha * X * (1/X) * sum_i f_i = alpha, whatever the loads are.
START_TEST(uniform_probs_give_alpha) {
    UmMoeConfig cfg;
    um_moe_config_default(&cfg);
    cfg.n_experts = 5, cfg.top_k = 2, cfg.expert_hidden = 2, cfg.balance_alpha = (real)0.3;
    MoePair p;
    moe_pair_init(&p, &cfg, 7, 3, 0x4203);
    param_fill(p.l.router, 0);
    param_fill(p.l_r.router, 0);
    moe_pair_forward(&p);
    double got = p.l.balance_loss;
    ck_assert_msg(fabs(got - 0.3) <= 1e-12,
                  "balance_loss with every probability 1/X: yours %.12g, expected alpha = 0.3 "
                  "(L_bal = alpha * X * sum_i f_i * (1/X) = alpha, since the f_i sum to 1).",
                  got);
    moe_pair_free(&p);
}
END_TEST

START_TEST(gradients_match) {
    for (int norm = 0; norm < 2; norm++) {
        UmMoeConfig cfg;
        um_moe_config_default(&cfg);
        cfg.n_experts = 6, cfg.top_k = 2, cfg.expert_hidden = 3, cfg.normalize_topk = norm;
        cfg.balance_alpha = (real)0.5;  // large, so a missing balance gradient shows
        MoePair p;
        moe_pair_init(&p, &cfg, 8, 4, 0x4204 + norm);
        moe_pair_sharpen_router(&p, 1, 0x4205);
        p.l.aux_grad_scale = p.l_r.aux_grad_scale = (real)0.75;  // backward must use the scale
        moe_pair_forward(&p);
        check_losses(&p);
        moe_pair_backward(&p);
        moe_pair_compare_grads(&p);
        moe_pair_free(&p);
    }
}
END_TEST

// With dout = 0 and no z-loss, the only gradient is the balance loss's:
// router grad and dinp must be the finite differences of your L_bal.
typedef struct {
    MoePair *p;
    int *chosen0;
    int flipped;
} Fd;

static double balance_at(void *ctx) {
    Fd *f = ctx;
    MoePair *p = f->p;
    um_moe_forward(&p->l, p->out, p->x, p->N);
    if (memcmp(f->chosen0, p->l.chosen, sizeof(int) * (size_t)p->N * p->cfg.top_k)) f->flipped = 1;
    return p->l.balance_loss;
}

START_TEST(finite_differences) {
    UmMoeConfig cfg;
    um_moe_config_default(&cfg);
    cfg.n_experts = 4, cfg.top_k = 2, cfg.expert_hidden = 2, cfg.zloss_beta = 0, cfg.balance_alpha = 1;
    MoePair p;
    moe_pair_init(&p, &cfg, 6, 3, 0x4206);
    moe_pair_sharpen_router(&p, 1, 0x4207);
    moe_pair_forward(&p);
    check_losses(&p);  // a loss of 0 everywhere would have a gradient of 0 everywhere
    memset(p.dout, 0, sizeof(real) * 18);
    um_moe_backward(&p.l, p.dx, p.dout, p.x, p.N);
    Fd f = {&p, gu_ints(12), 0};
    memcpy(f.chosen0, p.l.chosen, sizeof(int) * 12);
    const char *ctx = " L = balance_loss (alpha 1, no z-loss, dout = 0), N=6 D=3 X=4 top_k=2.";
    UmParam *router = p.l.router;
    for (size_t i = 0; i < router->numel; i++) {
        f.flipped = 0;
        gu_expect_fd("router gradient", i, router->grad[i], router->data, balance_at, &f, ctx);
        ck_assert_msg(!f.flipped, "a step of 1e-5 changed the routing; the check is not valid here");
    }
    for (size_t i = 0; i < 18; i++) gu_expect_fd("dinp", i, p.dx[i], p.x, balance_at, &f, ctx);
    moe_pair_free(&p);
}
END_TEST

Suite *exercise_suite(void) {
    Suite *s = suite_create("exercise 4.2: load-balancing loss");
    GU_ADD(s, TAG, loss_matches);
    GU_ADD(s, TAG, uniform_probs_give_alpha);
    GU_ADD(s, TAG, gradients_match);
    GU_ADD(s, TAG, finite_differences);
    return s;
}
