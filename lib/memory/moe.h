// moe.h: the Mixture-of-Experts layer (a sparse layer in the FFN slot).
//
//   inp (N, D) -> out (N, D)
//   router:  logits = inp @ Wr^T           Wr (X, D), no bias   -> logits (N, X)
//            p = softmax(logits) over all X experts             -> probs  (N, X)
//            the k most probable experts per token              -> chosen (N, k)
//            gates g_j = p_j / sum_{l<k} p_l   (Mixtral, normalize_topk = 1)
//                  g_j = p_j                   (Switch / DeepSeek, normalize_topk = 0)
//   experts: X GELU MLPs, expert e has w1 (F_e, D), b1 (F_e), w2 (D, F_e), b2 (D)
//            out[t] = sum_j g_tj * MLP_{chosen[t,j]}(inp[t])  (+ MLP_shared(inp[t]))
//
// Dropless: every token-slot is served. The slots are grouped by expert
// (a counting sort over token order, so the grouping is deterministic), each
// expert runs as one batched MLP over its rows, and a final pass per token
// sums its k expert outputs in a fixed order, so there is no scatter race and
// the result is bit-identical run to run.
//
// Auxiliary losses, computed in forward, their gradients added in backward:
//   balance  L_bal = alpha * X * sum_i f_i * P_i
//            f_i = (slots routed to i) / (N * k)   (a constant: no gradient)
//            P_i = mean over tokens of p_i          (full softmax)
//            equals alpha when the routing is perfectly uniform.
//   z-loss   L_z = beta * mean_t (logsumexp_j logits[t,j])^2
//   aux_loss = L_bal + L_z; the trainer adds it (once per layer) to the mean
//   cross-entropy, and backward adds its gradient times aux_grad_scale (1 by
//   default; set it to 1/accum_steps when the trainer scales the loss so).
//
// The layer follows the sparse-layer contract in notes/conventions.md.
#ifndef UM_MOE_H
#define UM_MOE_H

#include <stddef.h>

#include "base/params.h"
#include "base/real.h"
#include "base/rng.h"
#include "probe/moe_probe.h"

typedef struct {
    int n_experts;          // X                                              default 8
    int top_k;              // k experts per token                            default 2
    int expert_hidden;      // F_e, inner size of each expert; 0 = 4*D/top_k  default 0
                            // (so k experts cost what one 4D dense MLP costs; fine-grained
                            //  experts: raise n_experts and top_k by g, divide F_e by g)
    int shared_expert;      // 1 = an always-on expert added to every token   default 0
    int shared_hidden;      // inner size of the shared expert; 0 = F_e       default 0
    int normalize_topk;     // 1 = Mixtral gates (sum to 1), 0 = raw probs    default 1
    real balance_alpha;     // alpha of the Switch balance loss               default 0.01
    real zloss_beta;        // beta of the router z-loss                      default 1e-3
    real capacity_factor;   // only for the overflow statistic                default 1.25
    real router_init_std;   // Wr ~ N(0, std)                                 default 0.02
    real expert_init_std;   // w1, w2 ~ N(0, std); biases 0                   default 0.02
    real lr_mult;           // learning-rate multiplier of all MoE params     default 1
    real weight_decay;      // for w1/w2 (group "moe"); router and biases
                            // go to group "moe_nodecay" with no decay        default 0.1
} UmMoeConfig;

void um_moe_config_default(UmMoeConfig *cfg);

typedef struct {
    UmMoeConfig cfg;
    int D, X, k, Fe, Fs;  // Fs = 0 without a shared expert
    int max_tokens;

    // parameters (owned by the registry)
    UmParam *router;          // (X, D)
    UmParam *w1, *b1;         // (X, F_e, D), (X, F_e)
    UmParam *w2, *b2;         // (X, D, F_e), (X, D)
    UmParam *sw1, *sb1;       // shared expert (Fs, D), (Fs); NULL without one
    UmParam *sw2, *sb2;       // (D, Fs), (D)

    // cache of the last forward (N = n_tokens)
    int n_tokens;
    real *logits;        // (N, X)
    real *probs;         // (N, X) full softmax
    real *lse;           // (N) logsumexp of each token's logits
    int *chosen;         // (N, k) expert ids, most probable first (ties: lower id)
    real *gates;         // (N, k) mixing weights
    int *slot_row;       // (N, k) row of slot (t, j) in the expert-grouped buffers
    int *expert_start;   // (X + 1) rows [expert_start[e], expert_start[e+1]) belong to expert e
    int *row_token;      // (N * k) token of each grouped row
    real *xg, *yg;       // (N * k, D) gathered inputs, expert outputs (unweighted)
    real *pre, *act;     // (N * k, F_e) expert MLP caches
    real *s_pre, *s_act; // (N, Fs) shared expert caches
    real *s_out;         // (N, D) shared expert output

    // backward scratch
    real *dyg, *dxg;     // (N * k, D)
    real *dact;          // max(N * k * F_e, N * Fs)
    real *dgates;        // (N, k) gradient of the gates
    real *dprobs, *dlogits;  // (N, X)
    int *fill;           // (X) counting-sort cursor

    // losses (already weighted by alpha / beta) and statistics of the last forward
    real aux_loss;        // balance_loss + z_loss
    real balance_loss;    // alpha * X * sum f_i P_i
    real z_loss;          // beta * mean lse^2
    real aux_grad_scale;  // multiplies the aux gradient in backward; 1 after init
    int *load;            // (X) token-slots routed to each expert; sums to N * k
    double overflow_frac; // fraction of the N*k slots beyond capacity ceil(cf * N * k / X)
    double mean_lse;      // mean router logsumexp (what the z-loss keeps small)

    UmMoeProbe *probe;    // filled at the end of forward when not NULL
} UmMoe;

void um_moe_init(UmMoe *l, const UmMoeConfig *cfg, int D, int max_tokens, UmParamRegistry *reg, UmRng *rng,
                 const char *prefix);
void um_moe_forward(UmMoe *l, real *out, const real *inp, int N);
void um_moe_backward(UmMoe *l, real *dinp, const real *dout, const real *inp, int N);
void um_moe_free(UmMoe *l);
size_t um_moe_activated_params(const UmMoe *l);
double um_moe_flops_per_token(const UmMoe *l);

// Attach a probe (initialised by the caller with X, k of this layer) or NULL to detach.
void um_moe_attach_probe(UmMoe *l, UmMoeProbe *probe);

#endif
