// ultramem_v2.h: the UltraMemV2 memory layer (Huang et al. 2025, arXiv 2508.18756).
//
// V2 keeps V1's retrieval (TDQKR scoring, MCS cores, the fixed shuffle of
// addresses: memory/tucker.h, memory/ive.h) and changes five things:
//   1. one memory layer in EVERY block, reading the same normalised input as
//      the block's MLP and added in parallel (the MLP is shrunk to pay for it);
//   2. IVE's E projectors collapse into ONE output projection, and each
//      Tucker rank gets its own query;
//   3. PEER-style values: each slot has a pre-value row P[slot] (Dp) and a
//      value row V[slot] (Dv); weight = score * <P[slot], A x>, no activation;
//   4. the variance-matched init of the V2 appendix (Eq. 26);
//   5. the memory's share of compute (MCP, ~17%) sets the key dim Dk.
//
//   x (N, D) -> y (N, D), for each token (single head):
//     q[side][rho] = Norm(Wq x)              (Dk each; per_rank_query: one per
//                                             rank, else one per side for both)
//     S_row[rho] = Norm(K_row[rho]) q_row[rho]   (Kn) rho < r; same for col
//     top-m rows on u.S_row, top-m cols on t.S_col (u, t: leading singular
//     vectors of the summed core, no gradient), rescore the m x m candidates
//     exactly with R^T Csum Q, keep the best m virtual addresses g_j
//     s_jc = R_j^T C_c Q_j  for each core c (MCS)
//     w_j = shuffle(g_j): window row (own table, or one of g ring tables)
//     t   = A x                                          (Dp)
//     pre_j = <P[w_j], t>;  act_j = pre_j (or gelu(pre_j) with cfg.gelu)
//     acc[slice c] += s_jc act_j V[w_j, slice c]        (slice c = c-th Dv/h)
//   y = Wo acc
//
// Parameters (registered as "<prefix><name>"), Kn = sqrt(g) n keys per side:
//   query.weight      (2*Rq*Dk, D)  group "decay"  rows [row|col][rank][Dk], Rq = r or 1
//   query_norm.weight (Dk)          group "no_decay"
//   keys              (2, r*Kn, Dk) group "no_decay"  [row|col][rank][key]
//   key_norm.weight   (Dk)          group "no_decay"
//   cores             (h, r, r)     group "no_decay"
//   pre_value_proj.weight (Dp, D)   group "decay"   (A)
//   pre_values        (n*n, Dp)     group "memory_values"  (P)
//   values            (n*n, Dv)     group "memory_values"  (V)
//   value_proj.weight (D, Dv)       group "decay"   (Wo)
// No auxiliary loss: V2 drops both the Tucker-core penalty and the balance
// loss (aux_loss stays 0, kept for the sparse-layer contract).
//
// Ring sharing (section 3.6, Sg-Ring): with share_g = g > 1, layer l reads
// the g tables of layers l - (g-1)/2 ... l + g/2 (mod L) as one window of
// g n^2 rows, addressed by its own keys over sqrt(g) n keys per side. The
// layers still own (register) their own tables; call
// um_ultramem_v2_link_ring once all L layers exist, before the first forward.
#ifndef UM_ULTRAMEM_V2_H
#define UM_ULTRAMEM_V2_H

#include <stddef.h>
#include <stdint.h>

#include "base/params.h"
#include "base/real.h"
#include "base/rng.h"
#include "memory/tucker.h"
#include "memory/ultramem.h"
#include "probe/retrieval.h"

#define UM_V2_MAX_SHARE 9

typedef struct {
    int n;   // physical keys per side: each layer's tables have n*n rows
    int Dk;  // key / query dim per side (>= 1; see um_ultramem_v2_dk_for_flops to derive it from the MCP)
    int m;   // top-m (single head)
    int Dv;  // value dim; 0 = D/4 (the released 227M config: 192 for 768)
    int Dp;  // pre-value dim; 0 = Dv
    int r;   // Tucker rank, 1 or 2
    int cores;           // MCS cores h; Dv % h == 0
    int per_rank_query;  // 1: a query per (side, rank) (the paper); 0: one per side for all ranks
    int gelu;            // 1: act = gelu(<P, Ax>) (PEER's activation, dropped by V2)
    int share_g;         // ring sharing: tables addressed per layer (1, 4 or 9)
    int layer, n_layers; // this layer's position l and L (ring and init)
    int calibrate_norm;  // 1: Monte-Carlo so the mean selected summed score is ~1
    real init_target_var;  // the MLP branch's output variance to match; 0 = the paper's Eq. 25 at F = 4D
    real value_init_std;   // > 0 overrides the Eq. 26 std of values and pre-values
    UmValueLrSchedule value_lr_schedule;
    real value_lr_mult, value_lr_mult_end, value_lr_decay_frac;
    uint64_t shuffle_seed;  // mixed with the prefix: each layer its own shuffle
    real weight_decay;      // used only if this layer has to create the "decay" group
} UmUltraMemV2Config;

// n 16, Dk 16, m 16, Dv 0, Dp 0, r 2, cores 2, per_rank_query 1, gelu 0,
// share_g 1, layer 0, n_layers 4, calibrate_norm 1, init_target_var 0,
// value_init_std 0, value LR constant 1x (the V2 finding; LINEAR 4 -> 1 is
// the option), shuffle_seed 0x5eed2, weight_decay 0.1
UmUltraMemV2Config um_ultramem_v2_config_default(void);

typedef struct {
    UmUltraMemV2Config cfg;  // with Dv, Dp resolved
    int D, max_tokens, Rq, Kn, n_tab, n_win, slice;  // n_tab = n*n, n_win = g*n*n
    uint64_t shuffle_seed;
    int *shuffle;  // (n_win) virtual grid address -> window row
    UmParam *wq, *qnorm_w, *keys, *knorm_w, *cores, *wa, *pre_values, *values, *wo;
    UmParam *ring_pre[UM_V2_MAX_SHARE], *ring_values[UM_V2_MAX_SHARE];  // window tables, j < g
    int linked;
    // init: what the Monte-Carlo measured and what Eq. 26 gave
    double init_score_mean, init_score_sq, init_value_std;
    // per forward
    real core_sum[UM_TUCKER_MAX_RANK * UM_TUCKER_MAX_RANK];
    UmSvd2 svd;
    real aux_loss;  // always 0 (V2 uses no auxiliary loss)
    // cache of the last forward (sized for max_tokens)
    int N;
    real *q, *qn, *q_rstd;  // (N, 2*Rq*Dk), same, (N*2*Rq)
    real *khat, *k_rstd;    // (2*r*Kn, Dk), (2*r*Kn)
    real *khat_t;           // (2, r, Dk, Kn) each (side, rank) block of khat transposed, for the scoring gemm
    int *virt, *win;        // (N, m) winning virtual addresses best first, their window rows
    real *win_R, *win_Q;    // (N, m, r)
    real *total;            // (N, m) summed-core score
    real *score;            // (N, m, h) per-core score
    real *tq;               // (N, Dp) A x
    real *pre, *act;        // (N, m) <P[w], A x>, its activation
    real *acc;              // (N, Dv)
    // key scoring, a chunk of score_chunk tokens at a time (see search_all)
    int score_chunk;        // min(max_tokens, 256)
    real *q_side;           // (score_chunk, Dk) one (side, rank)'s queries, contiguous for the matmul
    real *side_scores;      // (2, r, score_chunk, Kn) every token's side scores of the chunk
    // backward scratch
    real *dacc, *dscore, *dpre, *dtq, *dR, *dQ;  // (N,Dv), (N,m,h), (N,m), (N,Dp), (N,m,r) x2
    real *dqn, *dq, *dkhat;                      // (N, QD) x2, (2*r*Kn, Dk)
    int *row_start, *row_reads;                  // counting sort of reads by window row
    // Visualiser probe: attach a UmRetrievalProbe (Kn, m) here and each
    // forward records its token's search (row/col = u.S_row / t.S_col,
    // candidates, winners as virtual addresses, weights = sum_c s_jc act_j)
    // and counts every read per WINDOW row (Kn*Kn = n_win of them); probe_ws
    // keeps that search's per-rank side scores. NULL costs nothing.
    UmRetrievalProbe *probe;
    UmUltraMemSearch probe_ws;
    // inference mode (um_ultramem_v2_set_inference): khat, k_rstd, core_sum
    // and svd were computed once, when it was turned on
    int inference;
} UmUltraMemV2;

void um_ultramem_v2_init(UmUltraMemV2 *l, const UmUltraMemV2Config *cfg, int D, int max_tokens,
                         UmParamRegistry *reg, UmRng *rng, const char *prefix);
// layers[0..L-1] in order, all with the same n, Dv, Dp, share_g: give each
// its window of g tables. A no-op for share_g = 1.
void um_ultramem_v2_link_ring(UmUltraMemV2 **layers, int L);
void um_ultramem_v2_forward(UmUltraMemV2 *l, real *out, const real *inp, int N);
void um_ultramem_v2_backward(UmUltraMemV2 *l, real *dinp, const real *dout, const real *inp, int N);
void um_ultramem_v2_free(UmUltraMemV2 *l);
// Inference mode, off by default; V1's um_ultramem_set_inference for V2: on,
// the normalised keys, summed core and its SVD are computed here once and
// reused by every forward; call it again (on) after changing keys,
// key_norm.weight or cores. Off, every forward recomputes them. Backward
// refuses to run while it is on.
void um_ultramem_v2_set_inference(UmUltraMemV2 *l, int on);

size_t um_ultramem_v2_activated_params(const UmUltraMemV2 *l);
double um_ultramem_v2_flops_per_token(const UmUltraMemV2 *l);
double um_ultramem_v2_bytes_read_per_token(const UmUltraMemV2 *l);
double um_ultramem_v2_value_lr_mult(const UmUltraMemV2Config *cfg, int step, int total);
void um_ultramem_v2_stats_accumulate(const UmUltraMemV2 *l, UmMemStats *stats);  // stats over the window rows
unsigned long um_ultramem_v2_selection_hash(const UmUltraMemV2 *l);

// The same FLOP count from the config alone (no layer needed), and its
// inverse: the largest Dk whose layer costs at most flops_per_layer.
double um_ultramem_v2_config_flops(const UmUltraMemV2Config *cfg, int D);
int um_ultramem_v2_dk_for_flops(const UmUltraMemV2Config *cfg, int D, double flops_per_layer);

// ---- PEER-style slot weights of one token (exercise 8.1)
// score (m, h), pre (m) -> act (m) = pre or gelu(pre), weight (m, h) = score * act
void um_v2_slot_weights(real *weight, real *act, const real *score, const real *pre, int m, int h, int use_gelu);
// dweight (m, h) -> dscore (m, h) = dweight * act, dpre (m) = act'(pre) sum_c dweight * score (both overwritten)
void um_v2_slot_weights_backward(real *dscore, real *dpre, const real *dweight, const real *score, const real *pre,
                                 const real *act, int m, int h, int use_gelu);

// ---- the V2 init (appendix A), as plain functions
// Output variance of the memory branch with values and pre-values ~ N(0, sv^2):
//   var = m * heads * E[s^2] * (Dp a_gain sv^2) * sv^2 * Dv w_var
// (a_gain: variance of one coordinate of A x; w_var: Wo's entry variance).
// Setting it to target_var and solving for sv gives Eq. 26:
//   sv = (target_var / (m heads E[s^2] Dp a_gain Dv w_var))^(1/4)
double um_ultramem_v2_value_std(double target_var, double score_sq, int m, int heads, int Dp, int Dv,
                                double a_gain, double w_var);
// The output variance of a GELU MLP out = W2 gelu(W1 x) with x ~ N(0, I_D),
// W1 ~ N(0, std1^2) (F, D), W2 ~ N(0, std2^2) (D, F), zero biases:
//   F std2^2 E[gelu(z)^2],  z ~ N(0, D std1^2)   (E by quadrature)
double um_gelu_mlp_output_var(int D, int F, double std1, double std2);

#endif
