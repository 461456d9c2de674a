// ultramem.h: the UltraMem (V1) memory layer (Huang et al., ICLR 2025),
// with every trick it adds to PKM behind its own switch, so an ablation
// ladder can start from plain PKM behaviour and turn them on one at a time.
//
//   x (N, D) -> y (N, D), for each token and memory head h = 0..H-1:
//     q_row, q_col = Norm(Wq x)          (Dk each; one query for all heads
//                                         with share_query, else one per head)
//     S_row[rho] = Norm(K_row[h, rho]) q_row   (Kn) for rho < r; same for col
//     select m slots on the Kn x Kn virtual grid:
//       tdqkr off: product keys, score = S_row + S_col          (PKM, exact)
//       tdqkr on : top-m rows on u.S_row, top-m cols on t.S_col (u, t: the
//                  leading singular vectors of the summed core, no gradient),
//                  rescore the m x m candidates by R^T Csum Q, keep the best m
//     each winner j has one score per core c (MCS): s_jc = R_j^T C_hc Q_j
//     w_jc = s_jc (raw, UltraMem) or softmax over j (PKM)
//     virtual address g_j -> (physical row p_j, block e_j)       (IVE)
//     acc[e_j, slice c] += w_jc V[p_j, slice c]   (slice c = the c-th Dv/h)
//   y = Wo acc (acc flattened to E*Dv; value_proj) or y = acc (Dv = D, E = 1)
//
// Parameters (registered as "<prefix><name>"), Hq = share_query ? 1 : H,
// Kn = sqrt(E) n keys per side:
//   query.weight      (Hq*2*Dk, D)    group "decay"   rows: [head][row|col][Dk]
//   query_norm.weight (Dk)            group "no_decay"  (qk_norm)
//   keys              (H, 2, r*Kn, Dk) group "no_decay"  [head][row|col][rank][key]
//   key_norm.weight   (Dk)            group "no_decay"  (qk_norm)
//   cores             (H, h, r, r)    group "no_decay"  (tdqkr)
//   values            (n*n, Dv)       group "memory_values" (lr_mult from the
//                                     config's schedule at step 0, no decay)
//   value_proj.weight (D, E*Dv)       group "decay"   (value_proj)
// One norm weight of Dk for all queries and one for all keys: the released
// code applies one norm module over the last (kdim) axis.
//
// The IVE shuffle is not a parameter: it is rebuilt from ive_seed (below).
#ifndef UM_ULTRAMEM_H
#define UM_ULTRAMEM_H

#include <stddef.h>
#include <stdint.h>

#include "base/params.h"
#include "base/real.h"
#include "base/rng.h"
#include "memory/tucker.h"
#include "probe/retrieval.h"
#include "probe/ultramem_probe.h"

typedef enum {
    UM_VALUE_LR_LINEAR = 0,    // value_lr_mult -> value_lr_mult_end linearly (UltraMem V1)
    UM_VALUE_LR_CONSTANT = 1,  // value_lr_mult throughout (PKM, UltraMemV2)
} UmValueLrSchedule;

typedef struct {
    // sizes
    int n;   // physical keys per side: the value table has n*n rows (knum)
    int H;   // memory heads: own keys and cores, one shared value table
    int Dk;  // key / query dim per side; 0 = D/4 (the released config: 192 for 768)
    int m;   // top-m per side and final (knn); m <= Kn
    int Dv;  // value dim; 0 = D/2 with value_proj ("half vdim"), D without
    // the tricks, in the paper's ablation order (Table 2)
    int softmax;      // 1: softmax over the m scores (PKM; per core with MCS); 0: raw scores
    int value_proj;   // 1: Dv (E*Dv with IVE) -> D output projection
    int share_query;  // 1: one query projection serves all H heads
    int qk_norm;      // 1: RMSNorm over Dk on queries and keys
    int E;            // IVE: virtual blocks, a perfect square (1 = off); needs value_proj
    int tdqkr;        // 1: Tucker scoring with rank r; 0: additive product keys
    int r;            // Tucker rank, 1 or 2 (used only with tdqkr)
    int cores;        // MCS: cores per head h (1 = off); needs tdqkr; Dv % h == 0
    int improved_init;   // 1: section 2.7 init; 0: PKM init
    int calibrate_norm;  // with improved_init and qk_norm: Monte-Carlo so mean top-m score ~ 1
    UmValueLrSchedule value_lr_schedule;
    // coefficients
    real aux_alpha, aux_tau;  // aux loss on the summed core's non-leading singular values (tdqkr; 0 = off)
    uint64_t ive_seed;        // the shuffle's seed (mixed with the prefix: each layer its own)
    int init_n_layers;        // L in the value variance E / (2 m H L)
    real value_init_std;      // > 0 overrides the value init std (the released code uses 0.02)
    real value_lr_mult;       // value learning-rate multiplier at step 0
    real value_lr_mult_end;   // ... at the end of the decay
    real value_lr_decay_frac; // the decay lasts this fraction of the run (the code's max_steps_rate)
    real weight_decay;        // used only if this layer has to create the "decay" group
} UmUltraMemConfig;

// UltraMem V1 at toy scale, every trick on:
//   n 32, H 2, Dk 0 (= D/4), m 16, Dv 0 (= D/2), softmax 0, value_proj 1,
//   share_query 1, qk_norm 1, E 4, tdqkr 1, r 2, cores 2, improved_init 1,
//   calibrate_norm 1, aux_alpha 0.001, aux_tau 0.15, ive_seed 0x5eed,
//   init_n_layers 4, value_init_std 0, value LR 4 -> 1 linear over the run,
//   weight_decay 0.1
UmUltraMemConfig um_ultramem_config_default(void);
// The bottom of the ablation ladder, every trick off (behaves like PKM with
// no query norm, H own queries, Dk per side): softmax 1, value_proj 0,
// share_query 0, qk_norm 0, E 1, tdqkr 0, r 1, cores 1, improved_init 0,
// aux_alpha 0, value LR constant 4. Same sizes as the default.
UmUltraMemConfig um_ultramem_config_pkm_like(void);

// One search's intermediate results (one per thread; the probe reads one).
typedef struct {
    int Kn, m, r, Dk;
    real *S_row, *S_col;       // (r, Kn) side scores per rank
    real *a_row, *a_col;       // (Kn) selection scores: u.S_row, t.S_col (or S_row, S_col)
    int *rows, *cols;          // (m) candidate rows / cols, best first
    real *row_val, *col_val;   // (m) their selection scores
    real *Rc, *Qc;             // (m, r) the candidates' score vectors
    real *grid;                // (m*m) rescored candidates
    int *grid_slot;            // (m*m) their virtual addresses row*Kn+col
    int *sel_cell;             // (m) winning cells, best first
} UmUltraMemSearch;

typedef struct {
    UmUltraMemConfig cfg;  // with Dk, Dv, r resolved
    int D, max_tokens;
    int Hq, Kn, side, n_phys, n_virt, slice;  // side = sqrt(E); slice = Dv / cores
    uint64_t ive_seed;  // the seed actually used (cfg.ive_seed mixed with the prefix)
    int *shuffle;       // (n_virt) IVE permutation; NULL when E = 1
    UmParam *wq, *qnorm_w, *keys, *knorm_w, *cores, *values, *wo;  // qnorm_w, knorm_w, cores, wo may be NULL
    // per forward: the summed core of each head, its SVD, the aux loss
    real *core_sum;  // (H, r, r)
    UmSvd2 *svd;     // (H)
    real aux_loss;
    real *aux_dcore;  // (H, r, r) d aux_loss / d core_sum, added to every core in backward
    // cache of the last forward (sized for max_tokens)
    int N;
    real *q, *qn, *q_rstd;  // (N, Hq*2*Dk), (N, Hq*2*Dk), (N*Hq*2)
    real *khat, *k_rstd;    // (H*2*r*Kn, Dk) normalised keys, (H*2*r*Kn)
    real *khat_t;           // (H, 2, Dk, r*Kn) khat of each (head, side) transposed: read in place by the scoring gemm
    int *virt, *phys, *block;  // (N, H, m) winners best first
    real *win_R, *win_Q;       // (N, H, m, r) their side-score vectors
    real *total;               // (N, H, m) summed-core (selection) score
    real *score, *weight;      // (N, H, m, h) per-core score, weight
    real *acc;                 // (N, E*Dv) pooled values per block
    // key scoring, a chunk of SCORE_CHUNK tokens at a time (see search_all)
    int score_chunk;           // tokens per chunk: min(max_tokens, 256)
    real *q_side;              // (score_chunk, Dk) one side's queries, contiguous for the matmul
    real *side_scores;         // (H, 2, score_chunk, r*Kn) every token's side scores of the chunk
    // backward scratch
    real *dacc, *dweight, *dR, *dQ;  // (N, E*Dv), (N,H,m,h), (N,H,m,r) x2
    real *dqn_head;                  // (N, H, 2*Dk)
    real *dqn, *dq, *dkhat;          // (N, Hq*2*Dk) x2, (H*2*r*Kn, Dk)
    int *slot_start, *slot_reads;    // counting sort of reads by physical row
    // instrumentation: filled in forward only when attached
    UmUltraMemProbe *probe;
    UmUltraMemSearch probe_ws;
    // inference mode (um_ultramem_set_inference): khat, k_rstd, core_sum,
    // svd, aux_loss, aux_dcore were computed once, when it was turned on
    int inference;
} UmUltraMem;

void um_ultramem_init(UmUltraMem *l, const UmUltraMemConfig *cfg, int D, int max_tokens, UmParamRegistry *reg,
                      UmRng *rng, const char *prefix);
void um_ultramem_forward(UmUltraMem *l, real *out, const real *inp, int N);
void um_ultramem_backward(UmUltraMem *l, real *dinp, const real *dout, const real *inp, int N);
void um_ultramem_free(UmUltraMem *l);

// Inference mode, off by default. On: the keys, key norm weight and cores are
// taken as constants, so their derived tensors (the normalised keys, each
// head's summed core, its SVD and the aux loss) are computed once, here, and
// every later forward reuses them instead of renormalising all 2 H r Kn keys
// (at batch 1 that cost as much as the search itself). Off (training, tests,
// gradient checks): every forward recomputes them from the current
// parameters, so nothing can go stale. After changing keys, key_norm.weight
// or cores while on (a checkpoint load, an optimizer step, a test poking at
// the data), call um_ultramem_set_inference(l, 1) again: it recomputes them.
// Backward refuses to run in inference mode (its gradients would belong to
// the cached parameters, and training must not read a cache).
void um_ultramem_set_inference(UmUltraMem *l, int on);

// A hash of the last forward's selections (every token's winning virtual
// slots). Gradient checks use it to notice a perturbation that flips a
// top-m choice, where a finite difference measures a jump, not a slope.
unsigned long um_ultramem_selection_hash(const UmUltraMem *l);

size_t um_ultramem_activated_params(const UmUltraMem *l);
double um_ultramem_flops_per_token(const UmUltraMem *l);
// Bytes of the value table read per token: H*m rows of Dv reals (the
// memory-bound part; keys and projections are dense and shared by a batch).
double um_ultramem_bytes_read_per_token(const UmUltraMem *l);

// The "memory_values" group's lr multiplier at step of total steps:
//   LINEAR: end + (start - end) * max(0, 1 - step / (decay_frac * total))
//   CONSTANT: start
double um_ultramem_value_lr_mult(const UmUltraMemConfig *cfg, int step, int total);

// Add the physical reads of the last forward (all tokens, heads) to stats
// (stats sized for n*n slots); scores are the summed-core scores.
void um_ultramem_stats_accumulate(const UmUltraMem *l, UmMemStats *stats);

// The search for one query, exposed for tests and the probe: q_row, q_col
// (Dk, normalised), head -> ws filled, virt (m), total (m).
void um_ultramem_search(const UmUltraMem *l, UmUltraMemSearch *ws, int *virt, real *total, const real *q_row,
                        const real *q_col, int head);
void um_ultramem_search_alloc(UmUltraMemSearch *ws, int Kn, int m, int r, int Dk);
// Copy one search's results from `from` to `to` (same Kn, m, r), all but the
// side scores S_row/S_col, which callers keep in their own layout.
void um_ultramem_search_copy(UmUltraMemSearch *to, const UmUltraMemSearch *from);
// Copy one finished search (ws: Kn side scores, the m x m grid and its
// winners) and its m selected slots and scores into the probe's fields.
// V1 and V2 share this; each fills the per-slot weights itself.
void um_ultramem_probe_copy_search(UmRetrievalProbe *p, const UmUltraMemSearch *ws, int Kn, int m,
                                   const int *slots, const real *scores);

// The same result as topk_tiekey(idx, val, x, tiekey, n, k) (memory/topk.h;
// tiekey NULL: the position; val may be NULL), in fewer steps for the
// searches' k << n: the k maxima of k disjoint groups of x are k distinct
// elements, so the k-th largest value is at least the smallest of them, tau.
// One scan then skips everything below tau (or below the k-th best kept so
// far) and insertion-sorts the few others into a list of k.
void um_ultramem_topk(int *idx, real *val, const real *x, const int *tiekey, int n, int k);
// The same for a search's m x m candidate grid (rows and columns each best
// first by selection score), k = m: tau is instead the smallest of the m
// cells nearest the corner (0, 0), where the scores are largest, so fewer
// cells pass the filter. Same result as topk_tiekey(idx, val, grid, tiekey, m*m, m).
void um_ultramem_topk_grid(int *idx, real *val, const real *grid, const int *tiekey, int m);

void um_ultramem_search_free(UmUltraMemSearch *ws);

// Side scores of a few queries (a decode step) against a block of keys:
//   q (nt, Dk), keys (cols, Dk) -> S (nt, cols), S[t][k] = <keys[k], q[t]>
// the same product as matmul_forward(S, q, keys, NULL, nt, Dk, cols), with
// the keys read from memory once: blocks of 64 keys, each scored against
// every query while it is in L1 (vec_score_keys; bit-identical to
// matmul_forward's path for nt < 4). V1 and V2 use it up to 16 tokens.
void um_score_keys_blocked(real *S, const real *q, const real *keys, int nt, int Dk, int cols);

#endif
