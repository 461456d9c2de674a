// peer.h: PEER, "Mixture of A Million Experts" (He 2024, arXiv 2407.04153).
//
// Every slot of a product-key memory is an expert with ONE hidden neuron:
// an up-vector u_i and a down-vector v_i, both of width D. Each head picks
// its k experts by product keys (PKM's exact search) and mixes them with a
// softmax over the k scores; a layer with H heads and top-k is a dense MLP
// of H*k hidden neurons assembled per token from n*n stored ones.
//
//   x (N, D) -> y (N, D), for each token and head h = 0..H-1:
//     q_h = Norm(Wq_h x)                          (Dk; RMSNorm, causal-safe
//                                                  where the paper uses BatchNorm)
//     (slot_hj, s_hj) = product-key top-k of q_h  (keys shared by all heads)
//     g_h = softmax(s_h1 .. s_hk)
//     y  += sum_j g_hj gelu(<U[slot_hj], x>) V[slot_hj]
//
// Parameters (registered as "<prefix><name>"):
//   query.weight      (H*Dk, D)     group "decay"
//   query_norm.weight (Dk)          group "no_decay"   (query_norm)
//   keys              (2, n, Dk/2)  group "no_decay"   row / column sub-keys
//   experts_up        (n*n, D)      group "memory_values"  U
//   experts_down      (n*n, D)      group "memory_values"  V
#ifndef UM_PEER_H
#define UM_PEER_H

#include <stddef.h>

#include "base/params.h"
#include "base/real.h"
#include "base/rng.h"
#include "memory/product_keys.h"
#include "probe/retrieval.h"

typedef struct {
    int n;           // keys per side: n*n experts
    int H;           // heads: own query each, shared keys and experts
    int Dk;          // query dim per head (even; halves of Dk/2)
    int k;           // experts per head
    int query_norm;  // 1: RMSNorm on each head's query
    real value_lr_mult;  // lr multiplier of the "memory_values" group (the experts)
    real weight_decay;   // used only if this layer creates the "decay" group
} UmPeerConfig;

// n 32, H 8, Dk 32, k 16, query_norm 1, value_lr_mult 1, weight_decay 0.1
UmPeerConfig um_peer_config_default(void);

typedef struct {
    UmPeerConfig cfg;
    int D, max_tokens, half, n_slots;
    UmParam *wq, *norm_w, *keys, *up, *down;  // norm_w may be NULL
    // cache of the last forward
    int N;
    real *q, *qn, *q_rstd;  // (N, H*Dk) x2, (N*H)
    int *slots;             // (N, H, k)
    real *scores, *gates;   // (N, H, k)
    real *pre, *hid;        // (N, H, k) <U[slot], x>, gelu of it
    real *gh;               // (N, H, k) gate * hid: the weight of V[slot] in y
    // scratch: side scores of a chunk of tokens, (2, chunk*H, n) (in backward
    // their gradients)
    real *side;
    // backward scratch
    real *dscores, *dpre, *dqn, *dq;  // (N,H,k) x2, (N, H*Dk) x2
    int *slot_start, *slot_reads;
    real aux_loss;  // always 0
    // Visualiser probe: attach a UmRetrievalProbe (n, k) here and each forward
    // records its token/head's search and counts every read; NULL costs nothing.
    UmRetrievalProbe *probe;
    UmPkSearch probe_ws;
} UmPeer;

void um_peer_init(UmPeer *l, const UmPeerConfig *cfg, int D, int max_tokens, UmParamRegistry *reg, UmRng *rng,
                  const char *prefix);
void um_peer_forward(UmPeer *l, real *out, const real *inp, int N);
void um_peer_backward(UmPeer *l, real *dinp, const real *dout, const real *inp, int N);
void um_peer_free(UmPeer *l);

size_t um_peer_activated_params(const UmPeer *l);
double um_peer_flops_per_token(const UmPeer *l);
void um_peer_stats_accumulate(const UmPeer *l, UmMemStats *stats);
unsigned long um_peer_selection_hash(const UmPeer *l);

#endif
