// pkm.h: the Product Key Memory layer (Lample et al. 2019), multi-head.
//
//   x (N, D) -> y (N, D), for each token and head h = 0..H-1:
//     q_h   = Norm_h( Wq_h x [+ bq_h] )               (Dk)
//     (slot_hj, s_hj) = product-key top-k of q_h       j = 1..k (memory/product_keys.h)
//     w_h   = softmax(s_h1 .. s_hk)
//     y    += sum_j w_hj V[slot_hj]                   (heads summed, as in XLM)
//
// Parameters (registered as "<prefix><name>"):
//   query.weight (H*Dk, D)      group "decay"
//   query.bias   (H*Dk)         group "no_decay"   (only when cfg.query_bias)
//   query_norm.weight (H, Dk)   group "no_decay"   (unless norm kind NONE)
//   query_norm.bias   (H, Dk)   group "no_decay"   (LayerNorm only)
//   keys   (H, 2, n, Dk/2)      group "no_decay"   each head its own row/column sub-keys
//   values (n*n, D)             group "memory_values", lr_mult cfg.value_lr_mult, no weight decay
// Groups that already exist under those names are reused; a missing "decay"
// group is created with cfg.weight_decay.
#ifndef UM_PKM_H
#define UM_PKM_H

#include <stddef.h>

#include "base/params.h"
#include "base/real.h"
#include "base/rng.h"
#include "memory/product_keys.h"
#include "probe/retrieval.h"

typedef enum {
    UM_QUERY_NORM_NONE = 0,
    UM_QUERY_NORM_LAYERNORM = 1,  // (q - mean) * rstd * w + b over the Dk of each head
    UM_QUERY_NORM_RMSNORM = 2,    // q * rstd * w over the Dk of each head
} UmQueryNormKind;

typedef struct {
    int n;           // keys per side; the memory has n*n slots
    int H;           // heads (independent queries and sub-keys, one shared value table)
    int Dk;          // full query dim per head (even; each half is Dk/2); 0 means "= D"
    int k;           // slots read per head (top-k), k <= n
    int query_bias;  // 1: the query Linear has a bias
    UmQueryNormKind query_norm;
    real value_lr_mult;  // learning-rate multiplier of the "memory_values" group
    real weight_decay;   // used only if this layer has to create the "decay" group
} UmPkmConfig;

// n 128, H 4, Dk 0 (= D), k 16, query_bias 0, LayerNorm, value_lr_mult 4, weight_decay 0.1
UmPkmConfig um_pkm_config_default(void);

typedef struct {
    UmPkmConfig cfg;  // with Dk resolved
    int D, max_tokens, half, n_slots;
    UmParam *wq, *bq, *norm_w, *norm_b, *keys, *values;  // bq, norm_w, norm_b may be NULL
    // cache of the last forward (sized for max_tokens)
    int N;              // tokens in the last forward
    real *q;            // (N, H*Dk) query before the norm
    real *qn;           // (N, H*Dk) normalised query, the one that is scored
    real *nmean, *nrstd;  // (N, H) norm statistics
    int *slots;         // (N, H, k) selected slots, best first
    real *scores;       // (N, H, k) their raw scores
    real *weights;      // (N, H, k) softmax of the scores
    real *side;         // scratch (H, 2, chunk, n): side scores of a chunk of tokens
    // backward scratch
    real *dscores;      // (N, H, k)
    real *dqn, *dq;     // (N, H*Dk)
    int *slot_start;    // (n*n + 1) reads grouped by slot (counting sort)
    int *slot_reads;    // (N*H*k)
    // instrumentation: filled in forward only when attached
    UmRetrievalProbe *probe;
    UmPkSearch probe_ws;
} UmPkm;

void um_pkm_init(UmPkm *l, const UmPkmConfig *cfg, int D, int max_tokens, UmParamRegistry *reg, UmRng *rng,
                 const char *prefix);
void um_pkm_forward(UmPkm *l, real *out, const real *inp, int N);
void um_pkm_backward(UmPkm *l, real *dinp, const real *dout, const real *inp, int N);
void um_pkm_free(UmPkm *l);

size_t um_pkm_activated_params(const UmPkm *l);
double um_pkm_flops_per_token(const UmPkm *l);

// Add the reads of the last forward (all N tokens, all heads) to stats.
void um_pkm_stats_accumulate(const UmPkm *l, UmMemStats *stats);

#endif
