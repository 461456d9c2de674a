// moe.c: the Mixture-of-Experts layer; the maths is in moe.h and in
// shared/research/pkm_moe_peer.md section 3.
#include "memory/moe.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/error.h"
#include "kernels/matmul.h"
#include "nn/mlp.h"

void um_moe_config_default(UmMoeConfig *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->n_experts = 8;
    cfg->top_k = 2;
    cfg->expert_hidden = 0;
    cfg->shared_expert = 0;
    cfg->shared_hidden = 0;
    cfg->normalize_topk = 1;
    cfg->balance_alpha = (real)0.01;
    cfg->zloss_beta = (real)1e-3;
    cfg->capacity_factor = (real)1.25;
    cfg->router_init_std = (real)0.02;
    cfg->expert_init_std = (real)0.02;
    cfg->lr_mult = 1;
    cfg->weight_decay = (real)0.1;
}

// ---------------------------------------------------------------- init

static UmParam *add_param(UmParamRegistry *reg, const char *prefix, const char *name, int group, int ndim,
                          int d0, int d1, int d2) {
    char full[UM_NAME_LEN];
    int len = snprintf(full, sizeof full, "%s%s", prefix, name);
    if (len < 0 || len >= (int)sizeof full) um_die(UM_EXIT_USAGE, "moe: parameter name too long: %s%s", prefix, name);
    int shape[3] = {d0, d1, d2};
    return params_add(reg, full, group, ndim, shape);
}

static void check_config(const UmMoeConfig *cfg, int D, int max_tokens) {
    if (cfg->n_experts < 1) um_die(UM_EXIT_USAGE, "moe: n_experts is %d, needs at least 1", cfg->n_experts);
    if (cfg->top_k < 1 || cfg->top_k > cfg->n_experts)
        um_die(UM_EXIT_USAGE, "moe: top_k %d must be in 1..n_experts (%d)", cfg->top_k, cfg->n_experts);
    if (cfg->expert_hidden < 0 || cfg->shared_hidden < 0) um_die(UM_EXIT_USAGE, "moe: negative hidden size");
    if (D < 1 || max_tokens < 1) um_die(UM_EXIT_USAGE, "moe: D=%d max_tokens=%d", D, max_tokens);
}

static void alloc_cache(UmMoe *l) {
    size_t N = (size_t)l->max_tokens, X = l->X, k = l->k, D = l->D, Fe = l->Fe, Fs = l->Fs;
    size_t R = N * k;  // grouped rows: one per token-slot
    l->logits = um_alloc(N * X * sizeof(real));
    l->probs = um_alloc(N * X * sizeof(real));
    l->lse = um_alloc(N * sizeof(real));
    l->chosen = um_alloc(N * k * sizeof(int));
    l->gates = um_alloc(N * k * sizeof(real));
    l->slot_row = um_alloc(N * k * sizeof(int));
    l->expert_start = um_alloc((X + 1) * sizeof(int));
    l->row_token = um_alloc(R * sizeof(int));
    l->xg = um_alloc(R * D * sizeof(real));
    l->yg = um_alloc(R * D * sizeof(real));
    l->pre = um_alloc(R * Fe * sizeof(real));
    l->act = um_alloc(R * Fe * sizeof(real));
    l->dyg = um_alloc(R * D * sizeof(real));
    l->dxg = um_alloc(R * D * sizeof(real));
    size_t dact = R * Fe > N * Fs ? R * Fe : N * Fs;
    l->dact = um_alloc(dact * sizeof(real));
    l->dgates = um_alloc(N * k * sizeof(real));
    l->dprobs = um_alloc(N * X * sizeof(real));
    l->dlogits = um_alloc(N * X * sizeof(real));
    l->load = um_alloc(X * sizeof(int));
    l->fill = um_alloc(X * sizeof(int));
    if (Fs) {
        l->s_pre = um_alloc(N * Fs * sizeof(real));
        l->s_act = um_alloc(N * Fs * sizeof(real));
        l->s_out = um_alloc(N * D * sizeof(real));
    }
}

void um_moe_init(UmMoe *l, const UmMoeConfig *cfg, int D, int max_tokens, UmParamRegistry *reg, UmRng *rng,
                 const char *prefix) {
    check_config(cfg, D, max_tokens);
    memset(l, 0, sizeof *l);
    l->cfg = *cfg;
    l->D = D;
    l->X = cfg->n_experts;
    l->k = cfg->top_k;
    l->Fe = cfg->expert_hidden ? cfg->expert_hidden : 4 * D / cfg->top_k;
    if (l->Fe < 1) um_die(UM_EXIT_USAGE, "moe: expert hidden size 4*D/top_k = %d is empty", l->Fe);
    l->Fs = cfg->shared_expert ? (cfg->shared_hidden ? cfg->shared_hidden : l->Fe) : 0;
    l->max_tokens = max_tokens;
    l->aux_grad_scale = 1;

    int decay = params_group(reg, "moe", cfg->lr_mult, cfg->weight_decay);
    int nodecay = params_group(reg, "moe_nodecay", cfg->lr_mult, 0);
    int X = l->X, Fe = l->Fe, Fs = l->Fs;
    l->router = add_param(reg, prefix, "router.w", nodecay, 2, X, D, 0);
    l->w1 = add_param(reg, prefix, "experts.w1", decay, 3, X, Fe, D);
    l->b1 = add_param(reg, prefix, "experts.b1", nodecay, 2, X, Fe, 0);
    l->w2 = add_param(reg, prefix, "experts.w2", decay, 3, X, D, Fe);
    l->b2 = add_param(reg, prefix, "experts.b2", nodecay, 2, X, D, 0);
    // A small router init keeps the first routing close to uniform (a std-1
    // router starts peaked and tends to collapse onto a few experts).
    param_normal(l->router, rng, cfg->router_init_std);
    param_normal(l->w1, rng, cfg->expert_init_std);
    param_normal(l->w2, rng, cfg->expert_init_std);
    if (Fs) {
        l->sw1 = add_param(reg, prefix, "shared.w1", decay, 2, Fs, D, 0);
        l->sb1 = add_param(reg, prefix, "shared.b1", nodecay, 1, Fs, 0, 0);
        l->sw2 = add_param(reg, prefix, "shared.w2", decay, 2, D, Fs, 0);
        l->sb2 = add_param(reg, prefix, "shared.b2", nodecay, 1, D, 0, 0);
        param_normal(l->sw1, rng, cfg->expert_init_std);
        param_normal(l->sw2, rng, cfg->expert_init_std);
    }
    alloc_cache(l);
}

void um_moe_free(UmMoe *l) {
    real *reals[] = {l->logits, l->probs, l->lse,  l->gates, l->xg,     l->yg,      l->pre,   l->act,
                     l->dyg,    l->dxg,   l->dact, l->dgates, l->dprobs, l->dlogits, l->s_pre, l->s_act, l->s_out};
    for (size_t i = 0; i < sizeof reals / sizeof reals[0]; i++) um_free(reals[i]);
    int *ints[] = {l->chosen, l->slot_row, l->expert_start, l->row_token, l->load, l->fill};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) um_free(ints[i]);
    memset(l, 0, sizeof *l);  // the parameters belong to the registry
}

void um_moe_attach_probe(UmMoe *l, UmMoeProbe *probe) {
    if (probe && (probe->X != l->X || probe->k != l->k))
        um_die(UM_EXIT_USAGE, "moe probe made for X=%d k=%d attached to a layer with X=%d k=%d", probe->X, probe->k,
               l->X, l->k);
    l->probe = probe;
}

// ---------------------------------------------------------------- routing

// logits (X) -> probs (X); returns logsumexp(logits) (needed by the z-loss).
static real softmax_row(real *probs, const real *logits, int X) {
    real mx = logits[0];
    for (int i = 1; i < X; i++) mx = logits[i] > mx ? logits[i] : mx;
    real sum = 0;
    for (int i = 0; i < X; i++) {
        probs[i] = (real)exp(logits[i] - mx);
        sum += probs[i];
    }
    for (int i = 0; i < X; i++) probs[i] /= sum;
    return mx + (real)log(sum);
}

/* BEGIN EXERCISE 4.1 */
// The k largest of probs (X), most probable first; on a tie the lower id wins.
// X is small (8..64), so k passes of argmax are simpler than a heap.
static void topk_row(int *chosen, const real *probs, int X, int k) {
    for (int j = 0; j < k; j++) {
        int best = -1;
        for (int i = 0; i < X; i++) {
            int taken = 0;
            for (int q = 0; q < j; q++) taken |= chosen[q] == i;
            if (!taken && (best < 0 || probs[i] > probs[best])) best = i;
        }
        chosen[j] = best;
    }
}

// Mixtral: renormalise the k chosen probabilities to sum 1. Switch/DeepSeek:
// use them as they are (the gate then also says how sure the router was).
static void gates_row(real *gates, const real *probs, const int *chosen, int k, int normalize) {
    real sum = 0;
    for (int j = 0; j < k; j++) sum += probs[chosen[j]];
    for (int j = 0; j < k; j++) gates[j] = normalize ? probs[chosen[j]] / sum : probs[chosen[j]];
}
/* END EXERCISE 4.1 */

// inp (N, D), Wr (X, D) -> logits, probs (N, X), lse (N), chosen, gates (N, k)
static void route(UmMoe *l, const real *inp, int N) {
    int X = l->X, k = l->k;
    matmul_forward(l->logits, inp, l->router->data, NULL, N, l->D, X);
#pragma omp parallel for
    for (int t = 0; t < N; t++) {
        size_t tx = (size_t)t * X, tk = (size_t)t * k;
        l->lse[t] = softmax_row(l->probs + tx, l->logits + tx, X);
        topk_row(l->chosen + tk, l->probs + tx, X, k);
        gates_row(l->gates + tk, l->probs + tx, l->chosen + tk, k, l->cfg.normalize_topk);
    }
}

// Counting sort of the N*k token-slots by expert, in token order:
// expert e owns rows [expert_start[e], expert_start[e+1]) of the grouped
// buffers, row_token says which token a row came from, slot_row the way back.
static void group_slots(UmMoe *l, int N) {
    int X = l->X, k = l->k;
    memset(l->load, 0, (size_t)X * sizeof(int));
    for (int s = 0; s < N * k; s++) l->load[l->chosen[s]]++;
    l->expert_start[0] = 0;
    for (int e = 0; e < X; e++) l->expert_start[e + 1] = l->expert_start[e] + l->load[e];
    int *next = l->fill;  // next free row of each expert
    for (int e = 0; e < X; e++) next[e] = l->expert_start[e];
    for (int t = 0; t < N; t++)
        for (int j = 0; j < k; j++) {
            int row = next[l->chosen[t * k + j]]++;
            l->slot_row[t * k + j] = row;
            l->row_token[row] = t;
        }
}

// ---------------------------------------------------------------- experts

// Each expert sees only its own rows, as one batch: w1 (F_e, D) etc. of expert e.
static void experts_forward(UmMoe *l, const real *inp, int N) {
    int D = l->D, Fe = l->Fe;
    int rows = N * l->k;
#pragma omp parallel for
    for (int r = 0; r < rows; r++) memcpy(l->xg + (size_t)r * D, inp + (size_t)l->row_token[r] * D, D * sizeof(real));
    // Experts run one after another; the matmuls inside are threaded over rows.
    for (int e = 0; e < l->X; e++) {
        int r0 = l->expert_start[e], n = l->expert_start[e + 1] - r0;
        if (n == 0) continue;
        mlp_forward(l->yg + (size_t)r0 * D, l->pre + (size_t)r0 * Fe, l->act + (size_t)r0 * Fe, l->xg + (size_t)r0 * D,
                    l->w1->data + (size_t)e * Fe * D, l->b1->data + (size_t)e * Fe, l->w2->data + (size_t)e * D * Fe,
                    l->b2->data + (size_t)e * D, n, D, Fe);
    }
}

// out[t] = s_out[t] + sum_j gates[t,j] * yg[slot_row[t,j]]. Each token is
// written by one thread and sums its k slots in order j = 0..k-1: no race,
// and the same bits every run.
static void combine(UmMoe *l, real *out, int N) {
    int D = l->D, k = l->k;
#pragma omp parallel for
    for (int t = 0; t < N; t++) {
        real *o = out + (size_t)t * D;
        if (l->Fs)
            memcpy(o, l->s_out + (size_t)t * D, D * sizeof(real));
        else
            memset(o, 0, D * sizeof(real));
        for (int j = 0; j < k; j++) {
            real g = l->gates[t * k + j];
            const real *y = l->yg + (size_t)l->slot_row[t * k + j] * D;
            for (int d = 0; d < D; d++) o[d] += g * y[d];
        }
    }
}

// ---------------------------------------------------------------- aux losses, statistics

// Switch load-balancing loss, forward and backward:
//   L_bal = alpha * X * sum_i f_i P_i
//   f_i = load[i] / (N k)   the fraction of the N*k token-slots routed to expert i
//   P_i = (1/N) sum_t p_ti  the mean router probability of expert i (full softmax)
// f_i is a count: constant, no gradient. Sums run in a fixed serial order
// (N*X adds, cheap) so the value is reproducible.
/* BEGIN EXERCISE 4.2 */
// probs (N, X), load (X) -> L_bal
static real balance_loss(const real *probs, const int *load, real alpha, int N, int X, int k) {
    double slots = (double)N * k, bal = 0;
    for (int i = 0; i < X; i++) {
        double P = 0;
        for (int t = 0; t < N; t++) P += probs[(size_t)t * X + i];
        bal += (load[i] / slots) * (P / N);
    }
    return (real)(alpha * X * bal);
}

// dp (X) of one token t += scale * dL_bal / dp_t
static void balance_loss_backward_row(real *dp, const int *load, real scale, real alpha, int N, int X, int k) {
    real c = scale * alpha * X / ((real)N * N * k);  // times load_i = count, f_i = load/(N k)
    for (int i = 0; i < X; i++) dp[i] += c * load[i];
}
/* END EXERCISE 4.2 */

// L_bal above,  L_z = beta * mean_t lse_t^2.
static void aux_losses(UmMoe *l, int N) {
    int X = l->X;
    double z = 0, lse_sum = 0;
    l->balance_loss = balance_loss(l->probs, l->load, l->cfg.balance_alpha, N, X, l->k);
    for (int t = 0; t < N; t++) {
        z += (double)l->lse[t] * l->lse[t];
        lse_sum += l->lse[t];
    }
    l->z_loss = (real)(l->cfg.zloss_beta * z / N);
    l->aux_loss = l->balance_loss + l->z_loss;
    l->mean_lse = lse_sum / N;
}

// What a capacity-limited (Switch-style) layer would have dropped: each expert
// takes at most C = ceil(cf * N * k / X) slots; count the rest.
static void overflow_stat(UmMoe *l, int N) {
    double slots = (double)N * l->k;
    long cap = (long)ceil(l->cfg.capacity_factor * slots / l->X);
    long over = 0;
    for (int e = 0; e < l->X; e++)
        if (l->load[e] > cap) over += l->load[e] - cap;
    l->overflow_frac = over / slots;
}

void um_moe_forward(UmMoe *l, real *out, const real *inp, int N) {
    if (N < 1 || N > l->max_tokens) um_die(UM_EXIT_USAGE, "moe forward: N=%d, layer sized for 1..%d", N, l->max_tokens);
    l->n_tokens = N;
    route(l, inp, N);
    group_slots(l, N);
    experts_forward(l, inp, N);
    if (l->Fs)
        mlp_forward(l->s_out, l->s_pre, l->s_act, inp, l->sw1->data, l->sb1->data, l->sw2->data, l->sb2->data, N, l->D,
                    l->Fs);
    combine(l, out, N);
    aux_losses(l, N);
    overflow_stat(l, N);
    if (l->probe) um_moe_probe_record(l->probe, l->probs, l->chosen, l->gates, l->load, N);
}

// ---------------------------------------------------------------- backward

// Forward was: out[t] += g_tj * yg[r]  (r = slot_row[t,j]); so:
//   dyg[r]  = g_tj * dout[t]          (each row belongs to exactly one slot)
//   dg_tj   = <dout[t], yg[r]>
static void slot_backward(UmMoe *l, real *dgates, const real *dout, int N) {
    int D = l->D, k = l->k;
#pragma omp parallel for
    for (int t = 0; t < N; t++) {
        const real *g = dout + (size_t)t * D;
        for (int j = 0; j < k; j++) {
            int r = l->slot_row[t * k + j];
            real gate = l->gates[t * k + j], dot = 0;
            const real *y = l->yg + (size_t)r * D;
            real *dy = l->dyg + (size_t)r * D;
            for (int d = 0; d < D; d++) {
                dy[d] = gate * g[d];
                dot += g[d] * y[d];
            }
            dgates[t * k + j] = dot;
        }
    }
}

// Each expert's MLP backward on its own rows, into the grouped dxg; then every
// token gathers its k rows back in slot order (race-free, fixed order).
static void experts_backward(UmMoe *l, real *dinp, int N) {
    int D = l->D, Fe = l->Fe, k = l->k;
    memset(l->dxg, 0, (size_t)N * k * D * sizeof(real));
    for (int e = 0; e < l->X; e++) {
        int r0 = l->expert_start[e], n = l->expert_start[e + 1] - r0;
        if (n == 0) continue;
        mlp_backward(l->dxg + (size_t)r0 * D, l->w1->grad + (size_t)e * Fe * D, l->b1->grad + (size_t)e * Fe,
                     l->w2->grad + (size_t)e * D * Fe, l->b2->grad + (size_t)e * D, l->dact, l->dyg + (size_t)r0 * D,
                     l->xg + (size_t)r0 * D, l->pre + (size_t)r0 * Fe, l->act + (size_t)r0 * Fe,
                     l->w1->data + (size_t)e * Fe * D, l->w2->data + (size_t)e * D * Fe, n, D, Fe);
    }
#pragma omp parallel for
    for (int t = 0; t < N; t++) {
        real *dx = dinp + (size_t)t * D;
        for (int j = 0; j < k; j++) {
            const real *src = l->dxg + (size_t)l->slot_row[t * k + j] * D;
            for (int d = 0; d < D; d++) dx[d] += src[d];
        }
    }
}

// From the gate gradients dg (k) to the probability gradients dp (X) of one token.
//   normalised:   forward was g_j = p_cj / S, S = sum_l p_cl; so for a chosen m:
//                 dp_m = (dg_m - sum_j dg_j g_j) / S;  unchosen experts get 0
//   unnormalised: forward was g_j = p_cj; so dp_cj = dg_j
// Then the balance loss: forward was L_bal = alpha X sum_i f_i (1/N) sum_t p_ti; so
//   dp_ti += alpha * X * f_i / N   (f_i held constant)
static void probs_backward_row(real *dp, const real *dg, const UmMoe *l, int t, int N) {
    int X = l->X, k = l->k;
    const int *chosen = l->chosen + (size_t)t * k;
    const real *gates = l->gates + (size_t)t * k;
    const real *p = l->probs + (size_t)t * X;
    for (int i = 0; i < X; i++) dp[i] = 0;
    if (l->cfg.normalize_topk) {
        real S = 0, gdg = 0;
        for (int j = 0; j < k; j++) {
            S += p[chosen[j]];
            gdg += dg[j] * gates[j];
        }
        for (int j = 0; j < k; j++) dp[chosen[j]] = (dg[j] - gdg) / S;
    } else {
        for (int j = 0; j < k; j++) dp[chosen[j]] = dg[j];
    }
    balance_loss_backward_row(dp, l->load, l->aux_grad_scale, l->cfg.balance_alpha, N, X, k);
}

// Forward was p = softmax(logits), L_z = beta/N sum_t lse_t^2; so
//   dlogit_j = p_j (dp_j - sum_i p_i dp_i) + (2 beta / N) lse_t p_j
static void logits_backward_row(real *dlogit, const real *dp, const real *p, real lse, real zscale, int X) {
    real pdp = 0;
    for (int i = 0; i < X; i++) pdp += p[i] * dp[i];
    for (int j = 0; j < X; j++) dlogit[j] = p[j] * (dp[j] - pdp) + zscale * lse * p[j];
}

static void router_backward(UmMoe *l, real *dinp, const real *dgates, const real *inp, int N) {
    int X = l->X, k = l->k;
    real zscale = l->aux_grad_scale * 2 * l->cfg.zloss_beta / N;
#pragma omp parallel for
    for (int t = 0; t < N; t++) {
        size_t tx = (size_t)t * X;
        probs_backward_row(l->dprobs + tx, dgates + (size_t)t * k, l, t, N);
        logits_backward_row(l->dlogits + tx, l->dprobs + tx, l->probs + tx, l->lse[t], zscale, X);
    }
    // forward was logits = inp @ Wr^T
    matmul_backward(dinp, l->router->grad, NULL, l->dlogits, inp, l->router->data, N, l->D, X);
}

void um_moe_backward(UmMoe *l, real *dinp, const real *dout, const real *inp, int N) {
    if (N != l->n_tokens) um_die(UM_EXIT_USAGE, "moe backward: N=%d but the last forward had %d", N, l->n_tokens);
    slot_backward(l, l->dgates, dout, N);
    experts_backward(l, dinp, N);
    if (l->Fs)  // forward was: out[t] += MLP_shared(inp[t])
        mlp_backward(dinp, l->sw1->grad, l->sb1->grad, l->sw2->grad, l->sb2->grad, l->dact, dout, inp, l->s_pre,
                     l->s_act, l->sw1->data, l->sw2->data, N, l->D, l->Fs);
    router_backward(l, dinp, l->dgates, inp, N);
}

// ---------------------------------------------------------------- accounting

// Per token: the router row dot products, k experts, and the shared expert.
size_t um_moe_activated_params(const UmMoe *l) {
    size_t D = l->D, Fe = l->Fe, Fs = l->Fs;
    size_t expert = 2 * Fe * D + Fe + D;
    size_t shared = Fs ? 2 * Fs * D + Fs + D : 0;
    return (size_t)l->X * D + (size_t)l->k * expert + shared;
}

// Multiply-adds x2: router X*D, each chosen expert 2*D*F_e plus its gate mix D,
// the shared expert 2*D*Fs.
double um_moe_flops_per_token(const UmMoe *l) {
    double D = l->D, Fe = l->Fe, Fs = l->Fs;
    return 2.0 * (l->X * D + l->k * (2 * D * Fe + D) + 2 * D * Fs);
}
