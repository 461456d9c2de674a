// config.h: what a model is (architecture and sizes) and how it trains.
//
// UmModelConfig fixes the shapes; it is saved in every checkpoint and must
// match exactly on --resume. UmTrainConfig holds the run's knobs (steps, lr,
// batch...). Both are plain structs; named presets fill them:
//
//   --size nano   unit tests: trains in seconds
//   --size tiny   the default: `make run` trains it in a few minutes on 2 cores
//   --size small  the experiments chapter
//
// Every model-config field is listed once in a field table (config.c), which
// the checkpoint writer, the reader and `um params` iterate.
#ifndef UM_CONFIG_H
#define UM_CONFIG_H

#include <stdint.h>

#include "base/error.h"

typedef enum { ARCH_DENSE = 0, ARCH_PKM, ARCH_MOE, ARCH_ULTRAMEM, ARCH_ULTRAMEM2, ARCH_PEER, ARCH_COUNT } UmArch;

typedef struct {
    int arch;        // UmArch
    int vocab;       // V: 256 byte values
    int block_size;  // T: context length
    int n_layers;    // L
    int dim;         // D
    int n_heads;     // H
    int mlp_hidden;  // F: hidden width of each block's GELU MLP

    // arch pkm: one Product Key Memory in block mem_block (chapter 03)
    int mem_block;        // which block holds the memory layer
    int mem_replace_mlp;  // 1: the memory replaces that block's MLP; 0: runs in parallel
    int pkm_keys;         // n: keys per side, n*n value slots
    int pkm_heads;        // H
    int pkm_key_dim;      // Dk per head (each half Dk/2)
    int pkm_topk;         // k slots read per head

    // arch moe: routed experts instead of the MLP in every block (chapter 04)
    int moe_experts;  // X
    int moe_topk;     // k experts per token
    int moe_hidden;   // F_e inner size of one expert
    int moe_shared;   // 1: an always-on shared expert as well

    // arch ultramem: UltraMem layers wired skip-layer (chapters 05-07).
    // Memory layer i reads the normalised FFN input of block um_read[i] and
    // its output is added to the residual stream after block um_write[i].
    int um_layers;     // how many memory layers (0..UM_MAX_MEM_LAYERS)
    int um_read[4];    // UM_MAX_MEM_LAYERS entries
    int um_write[4];
    int um_keys;       // n: physical keys per side, n*n value rows per layer
    int um_heads;      // H memory heads (own keys and cores, one value table)
    int um_key_dim;    // Dk per side
    int um_topm;       // m
    int um_value_dim;  // Dv (with um_value_proj; D otherwise)
    // the tricks, each a switch (the ablation ladder turns them on one by one)
    int um_softmax;      // 1: softmax over the m scores (PKM); 0: raw scores (UltraMem)
    int um_value_proj;   // 1: values of width Dv and an output projection
    int um_share_query;  // 1: one query serves all heads
    int um_qk_norm;      // 1: RMSNorm on queries and keys
    int um_ive;          // E virtual blocks (1 = off, 4 = UltraMem)
    int um_tdqkr;        // 1: Tucker scoring, rank 2
    int um_cores;        // MCS cores h (1 = off, 2 = UltraMem)
    int um_improved_init;
    int um_value_lr_decay;  // 1: value LR multiplier 4x -> 1x over the run; 0: constant 4x

    // arch ultramem2: an UltraMemV2 layer in every block, parallel to a
    // narrower MLP (chapter 08). um2_key_dim follows from um2_mcp in the presets.
    int um2_keys;        // n: keys per side, n*n (pre-)value rows per layer
    int um2_key_dim;     // Dk per side
    int um2_topm;        // m (single head)
    int um2_value_dim;   // Dv
    int um2_pre_dim;     // Dp
    int um2_cores;       // MCS cores h (rank 2 TDQKR always)
    int um2_rank_query;  // 1: a query per Tucker rank (paper); 0: one per side
    int um2_gelu;        // 1: GELU on <P, Ax> (PEER's activation; V2 drops it)
    int um2_share;       // ring sharing: tables each layer addresses (1, 4, 9)
    int um2_mcp;         // memory compute share, per mille of the dense model's FLOPs (170 = 17%)
    int um2_value_lr_decay;  // 1: value LR 4x -> 1x; 0: constant 1x (the V2 finding)

    // arch peer: a PEER layer instead of the MLP in every block (chapter 08)
    int peer_keys;     // n: n*n single-neuron experts per layer
    int peer_heads;    // H
    int peer_key_dim;  // Dk per head (even)
    int peer_topk;     // k experts per head
} UmModelConfig;

#define UM_MAX_MEM_LAYERS 4

typedef struct {
    int steps;          // optimizer steps
    int batch;          // B sequences per step
    double lr;          // peak learning rate
    double min_lr;      // cosine floor
    int warmup;         // linear warmup steps
    double weight_decay;
    double grad_clip;   // max global gradient norm (0 = off)
    int eval_every;     // validate every this many steps (0 = only at the end)
    int eval_batches;   // validation batches per evaluation
    int ckpt_every;     // save a checkpoint every this many steps (0 = only at the end)
    uint64_t seed;
} UmTrainConfig;

// Names <-> enums. Return -1 for an unknown name.
const char *arch_name(int arch);
int arch_from_name(const char *name);

// Fill both configs from a preset name ("nano", "tiny", "small") for an arch.
// Returns -1 with a reason for an unknown preset or an arch not built yet.
int config_preset(UmModelConfig *m, UmTrainConfig *t, const char *size, int arch, UmError *err);

// Shape checks: positive sizes, D divisible by H, ... (-1 with a reason).
int config_validate(const UmModelConfig *m, UmError *err);

// The model config as "key=value\n" lines, and back. config_parse fails on an
// unknown key, a missing key or a malformed number: a checkpoint from a
// newer/older format is refused, never half-read.
int config_to_text(const UmModelConfig *m, char *buf, int len);  // bytes written (excl. NUL) or -1
int config_parse(UmModelConfig *m, const char *text, UmError *err);

// First field that differs, as "n_layers: 4 vs 2"; returns 0 when equal.
int config_diff(const UmModelConfig *a, const UmModelConfig *b, char *buf, int len);

#endif
