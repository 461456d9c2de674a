// transformer.h: the GPT-style byte-level transformer every chapter trains.
//
//   tokens (B, T) -> token + position embedding -> L blocks -> final LayerNorm
//   -> tied output head (logits = x @ wte^T) -> softmax cross-entropy
//
// One block (pre-norm):
//   res2 = x    + proj( attention( ln1(x) ) )
//   res3 = res2 + ffn_slot( ln2(res2) )
// The FFN slot holds a GELU MLP in the dense model; later chapters plug
// sparse layers (PKM, MoE, UltraMem...) into it (see ffn_slot_* in transformer.c).
#ifndef UM_TRANSFORMER_H
#define UM_TRANSFORMER_H

#include "base/params.h"
#include "memory/moe.h"
#include "memory/peer.h"
#include "memory/pkm.h"
#include "memory/ultramem.h"
#include "memory/ultramem_v2.h"
#include "model/config.h"

// The parameters of one block, all registered in the model's registry.
typedef struct {
    UmParam *ln1_w, *ln1_b;  // (D)
    UmParam *wqkv, *bqkv;    // (3D, D), (3D)
    UmParam *wproj, *bproj;  // (D, D), (D)
    UmParam *ln2_w, *ln2_b;  // (D)
    UmParam *w1, *b1;        // (F, D), (F)
    UmParam *w2, *b2;        // (D, F), (D)
} UmBlockParams;

// What sits in a block's FFN slot: the MLP, a sparse layer, or both (their
// outputs are summed). The pointers are NULL when absent.
typedef struct {
    int has_mlp;
    UmPkm *pkm;  // arch pkm: in block cfg.mem_block
    UmMoe *moe;  // arch moe: in every block
    UmUltraMemV2 *um2;  // arch ultramem2: in every block, beside the MLP
    UmPeer *peer;       // arch peer: in every block, instead of the MLP
} UmFfnSlot;

// The forward activations of one block, kept for the backward pass (N = B*T).
typedef struct {
    real *ln1, *ln1_mean, *ln1_rstd;  // (N, D), (N), (N)
    real *qkv;                        // (N, 3D)
    real *att;                        // (B, H, T, T) attention weights
    real *atty;                       // (N, D) attention output before the projection
    real *res2;                       // (N, D) residual after attention
    real *ln2, *ln2_mean, *ln2_rstd;  // (N, D), (N), (N)
    real *fc_pre, *fc_act;            // (N, F) MLP hidden before/after GELU
    real *ffn_out;                    // (N, D) what the FFN slot adds
    real *sparse_out;                 // (N, D) the sparse layer's share (only when it runs beside the MLP)
    real *res3;                       // (N, D) residual after the block
} UmBlockActs;

// Gradient scratch shared by all blocks during backward (N = B*T).
typedef struct {
    real *dres;            // (N, D) gradient of the residual stream, flows down
    real *dln, *datty;     // (N, D)
    real *dqkv;            // (N, 3D)
    real *dfc;             // (N, F)
    real *dlogits, *dlnf;  // (N, V), (N, D)
} UmGradScratch;

typedef struct {
    UmModelConfig cfg;
    UmParamRegistry params;
    UmParam *wte, *wpe;      // (V, D), (Tmax, D)
    UmParam *lnf_w, *lnf_b;  // (D)
    UmBlockParams *blocks;   // [L]
    UmFfnSlot *slots;        // [L]
    // arch ultramem: skip-layer memories (cfg.um_read[i] -> after cfg.um_write[i])
    UmUltraMem *mems[UM_MAX_MEM_LAYERS];
    real *mem_out[UM_MAX_MEM_LAYERS];   // (N, D) each memory's output
    real *mem_dinp[UM_MAX_MEM_LAYERS];  // (N, D) gradient into each memory's input

    // activations, allocated for up to max_tokens = B*T tokens
    int max_tokens, max_batch;
    int B, T;                                // shape of the last forward
    int *inputs, *targets;                   // (N) copies of the last batch
    real *encoded;                           // (N, D)
    UmBlockActs *acts;                       // [L]
    real *lnf, *lnf_mean, *lnf_rstd;         // (N, D), (N), (N)
    real *logits, *probs, *losses;           // (N, V), (N, V), (N)
    UmGradScratch grads;
    double loss;      // mean cross-entropy (nats) of the last forward with targets
    double aux_loss;  // sum of the sparse layers' auxiliary losses (MoE balance, z-loss)
} UmModel;

// Build a model with freshly initialised parameters (deterministic in seed),
// ready for batches of up to UM_DEFAULT_MAX_BATCH sequences.
int model_init(UmModel *model, const UmModelConfig *cfg, uint64_t seed, UmError *err);
// The same for up to max_batch sequences per forward (sparse layers size
// their per-batch caches once, at init).
int model_init_batch(UmModel *model, const UmModelConfig *cfg, uint64_t seed, int max_batch, UmError *err);
#define UM_DEFAULT_MAX_BATCH 16
void model_free(UmModel *model);

// Forward over tokens (B, T). With targets, computes losses and returns the
// mean loss in nats; without (NULL), only logits and returns 0.
double model_forward(UmModel *model, const int *inputs, const int *targets, int B, int T);

// Backward of the last forward-with-targets: parameter grads += d(loss).
// The caller zeroes the grads once per step (params_zero_grad).
void model_backward(UmModel *model);

// Training knobs of the sparse layers that are not part of the model's shape
// (so not in the checkpoint): the MoE balance-loss alpha and z-loss beta of
// every MoE layer (chapter 04 sets alpha = 0 to show routing collapse).
void model_set_moe_aux(UmModel *model, double balance_alpha, double zloss_beta);

// Per-step schedules of the sparse layers (UltraMem's value learning rate
// decaying 4x -> 1x): the trainer calls this before each optimizer step.
void model_update_schedules(UmModel *model, int step, int total_steps);

// The UltraMem config a model's memory layers use (shapes from cfg, the rest
// the layer's defaults), for the ladder and for tools.
UmUltraMemConfig model_ultramem_config(const UmModelConfig *cfg);
// The same for arch ultramem2's layer in block `layer` (init target: the
// output variance of that block's MLP at init, appendix A of the V2 paper).
UmUltraMemV2Config model_ultramem2_config(const UmModelConfig *cfg, int layer);

// Accounting for `um params`: parameter counts and forward FLOPs per token
// (2 x multiply-adds, attention at full context T).
size_t model_total_params(const UmModel *model);
size_t model_activated_params(const UmModel *model);
double model_flops_per_token(const UmModel *model);

#endif
