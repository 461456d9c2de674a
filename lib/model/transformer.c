// transformer.c: build, forward and backward of the byte-level transformer.
//
// Read it top to bottom: parameters, activations, one block forward, the
// whole forward, one block backward, the whole backward. Each line calls one
// op from lib/nn or lib/kernels; the maths lives there.
#include "model/transformer.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "kernels/matmul.h"
#include "nn/attention.h"
#include "nn/crossentropy.h"
#include "nn/embedding.h"
#include "nn/layernorm.h"
#include "nn/mlp.h"

// ---------------------------------------------------------------- parameters

static UmParam *add(UmModel *m, int group, const char *name, int d0, int d1) {
    int shape[2] = {d0, d1};
    return params_add(&m->params, name, group, d1 ? 2 : 1, shape);
}

// GPT-2's init: weights N(0, 0.02); the two projections that write into the
// residual stream get 0.02/sqrt(2L) so the stream's variance does not grow
// with depth; LayerNorm weights 1, biases 0.
static void register_mlp(UmModel *m, int l, int g_decay, int g_nodecay, UmRng *rng);

static void register_block(UmModel *m, int l, int g_decay, int g_nodecay, UmRng *rng) {
    int D = m->cfg.dim;
    double std = 0.02, std_out = 0.02 / sqrt(2.0 * m->cfg.n_layers);
    UmBlockParams *b = &m->blocks[l];
    char name[UM_NAME_LEN];
#define NAME(s) (snprintf(name, sizeof name, "blocks.%d.%s", l, s), name)
    b->ln1_w = add(m, g_nodecay, NAME("ln1.weight"), D, 0);
    b->ln1_b = add(m, g_nodecay, NAME("ln1.bias"), D, 0);
    b->wqkv = add(m, g_decay, NAME("attn.wqkv"), 3 * D, D);
    b->bqkv = add(m, g_nodecay, NAME("attn.bqkv"), 3 * D, 0);
    b->wproj = add(m, g_decay, NAME("attn.wproj"), D, D);
    b->bproj = add(m, g_nodecay, NAME("attn.bproj"), D, 0);
    b->ln2_w = add(m, g_nodecay, NAME("ln2.weight"), D, 0);
    b->ln2_b = add(m, g_nodecay, NAME("ln2.bias"), D, 0);
    param_fill(b->ln1_w, 1);
    param_fill(b->ln2_w, 1);
    param_normal(b->wqkv, rng, std);
    param_normal(b->wproj, rng, std_out);
    if (m->slots[l].has_mlp) register_mlp(m, l, g_decay, g_nodecay, rng);
}

static void register_mlp(UmModel *m, int l, int g_decay, int g_nodecay, UmRng *rng) {
    int D = m->cfg.dim, F = m->cfg.mlp_hidden;
    UmBlockParams *b = &m->blocks[l];
    char name[UM_NAME_LEN];
    b->w1 = add(m, g_decay, NAME("mlp.w1"), F, D);
    b->b1 = add(m, g_nodecay, NAME("mlp.b1"), F, 0);
    b->w2 = add(m, g_decay, NAME("mlp.w2"), D, F);
    b->b2 = add(m, g_nodecay, NAME("mlp.b2"), D, 0);
    param_normal(b->w1, rng, 0.02);
    param_normal(b->w2, rng, 0.02 / sqrt(2.0 * m->cfg.n_layers));
}
#undef NAME

// ---------------------------------------------------------------- sparse layers
// The FFN slot of each block, decided by the arch. Sparse layers register
// their own tensors (under "blocks.<l>.pkm." etc.) in the same registry.

static void plan_slots(UmModel *m) {
    const UmModelConfig *c = &m->cfg;
    for (int l = 0; l < c->n_layers; l++) {
        UmFfnSlot *s = &m->slots[l];
        int memory_here = c->arch == ARCH_PKM && l == c->mem_block;
        s->has_mlp = c->arch != ARCH_MOE && c->arch != ARCH_PEER && !(memory_here && c->mem_replace_mlp);
    }
}

static void init_sparse_layers(UmModel *m, int l, int max_tokens, UmRng *rng) {
    const UmModelConfig *c = &m->cfg;
    UmFfnSlot *s = &m->slots[l];
    char prefix[UM_NAME_LEN];
    if (c->arch == ARCH_PKM && l == c->mem_block) {
        UmPkmConfig pc = um_pkm_config_default();
        pc.n = c->pkm_keys, pc.H = c->pkm_heads, pc.Dk = c->pkm_key_dim, pc.k = c->pkm_topk;
        snprintf(prefix, sizeof prefix, "blocks.%d.pkm.", l);
        s->pkm = um_alloc(sizeof *s->pkm);
        um_pkm_init(s->pkm, &pc, c->dim, max_tokens, &m->params, rng, prefix);
    }
    if (c->arch == ARCH_MOE) {
        UmMoeConfig mc;
        um_moe_config_default(&mc);
        mc.n_experts = c->moe_experts, mc.top_k = c->moe_topk, mc.expert_hidden = c->moe_hidden;
        mc.shared_expert = c->moe_shared;
        snprintf(prefix, sizeof prefix, "blocks.%d.moe.", l);
        s->moe = um_alloc(sizeof *s->moe);
        um_moe_init(s->moe, &mc, c->dim, max_tokens, &m->params, rng, prefix);
    }
    if (c->arch == ARCH_ULTRAMEM2) {
        UmUltraMemV2Config uc = model_ultramem2_config(c, l);
        snprintf(prefix, sizeof prefix, "blocks.%d.ultramem2.", l);
        s->um2 = um_alloc(sizeof *s->um2);
        um_ultramem_v2_init(s->um2, &uc, c->dim, max_tokens, &m->params, rng, prefix);
    }
    if (c->arch == ARCH_PEER) {
        UmPeerConfig pc = um_peer_config_default();
        pc.n = c->peer_keys, pc.H = c->peer_heads, pc.Dk = c->peer_key_dim, pc.k = c->peer_topk;
        snprintf(prefix, sizeof prefix, "blocks.%d.peer.", l);
        s->peer = um_alloc(sizeof *s->peer);
        um_peer_init(s->peer, &pc, c->dim, max_tokens, &m->params, rng, prefix);
    }
}

UmUltraMemV2Config model_ultramem2_config(const UmModelConfig *c, int layer) {
    UmUltraMemV2Config u = um_ultramem_v2_config_default();
    u.n = c->um2_keys, u.Dk = c->um2_key_dim, u.m = c->um2_topm;
    u.Dv = c->um2_value_dim, u.Dp = c->um2_pre_dim, u.r = 2, u.cores = c->um2_cores;
    u.per_rank_query = c->um2_rank_query, u.gelu = c->um2_gelu, u.share_g = c->um2_share;
    u.layer = layer, u.n_layers = c->n_layers;
    // the MLP beside it: W1 ~ N(0, 0.02^2), W2 ~ N(0, (0.02/sqrt(2L))^2) (register_mlp)
    u.init_target_var = (real)um_gelu_mlp_output_var(c->dim, c->mlp_hidden, 0.02, 0.02 / sqrt(2.0 * c->n_layers));
    if (c->um2_value_lr_decay) {
        u.value_lr_schedule = UM_VALUE_LR_LINEAR;
        u.value_lr_mult = 4, u.value_lr_mult_end = 1;
    }
    return u;
}

// Ring sharing: every V2 layer gets its window of neighbouring tables once
// all of them exist.
static void link_ultramem2_ring(UmModel *m) {
    if (m->cfg.arch != ARCH_ULTRAMEM2) return;
    UmUltraMemV2 *layers[64];
    for (int l = 0; l < m->cfg.n_layers; l++) layers[l] = m->slots[l].um2;
    um_ultramem_v2_link_ring(layers, m->cfg.n_layers);
}

UmUltraMemConfig model_ultramem_config(const UmModelConfig *c) {
    UmUltraMemConfig u = um_ultramem_config_default();
    u.n = c->um_keys, u.H = c->um_heads, u.Dk = c->um_key_dim, u.m = c->um_topm;
    u.softmax = c->um_softmax;
    u.value_proj = c->um_value_proj;
    u.Dv = c->um_value_proj ? c->um_value_dim : c->dim;
    u.share_query = c->um_share_query;
    u.qk_norm = c->um_qk_norm;
    u.E = c->um_ive;
    u.tdqkr = c->um_tdqkr;
    u.r = c->um_tdqkr ? 2 : 1;
    u.cores = c->um_cores;
    u.aux_alpha = c->um_tdqkr ? u.aux_alpha : 0;
    u.improved_init = c->um_improved_init;
    u.calibrate_norm = c->um_improved_init && c->um_qk_norm;
    u.value_lr_schedule = c->um_value_lr_decay ? UM_VALUE_LR_LINEAR : UM_VALUE_LR_CONSTANT;
    u.init_n_layers = c->um_layers;
    return u;
}

static void init_memories(UmModel *m, int max_tokens, UmRng *rng) {
    if (m->cfg.arch != ARCH_ULTRAMEM) return;
    UmUltraMemConfig u = model_ultramem_config(&m->cfg);
    for (int i = 0; i < m->cfg.um_layers; i++) {
        char prefix[UM_NAME_LEN];
        snprintf(prefix, sizeof prefix, "memory.%d.ultramem.", i);
        m->mems[i] = um_alloc(sizeof *m->mems[i]);
        um_ultramem_init(m->mems[i], &u, m->cfg.dim, max_tokens, &m->params, rng, prefix);
    }
}

static void free_sparse_layers(UmModel *m) {
    for (int i = 0; i < UM_MAX_MEM_LAYERS; i++)
        if (m->mems[i]) um_ultramem_free(m->mems[i]), um_free(m->mems[i]), m->mems[i] = NULL;
    if (!m->slots) return;
    for (int l = 0; l < m->cfg.n_layers; l++) {
        if (m->slots[l].pkm) um_pkm_free(m->slots[l].pkm), um_free(m->slots[l].pkm);
        if (m->slots[l].moe) um_moe_free(m->slots[l].moe), um_free(m->slots[l].moe);
        if (m->slots[l].um2) um_ultramem_v2_free(m->slots[l].um2), um_free(m->slots[l].um2);
        if (m->slots[l].peer) um_peer_free(m->slots[l].peer), um_free(m->slots[l].peer);
    }
    um_free(m->slots);
}

int model_init(UmModel *m, const UmModelConfig *cfg, uint64_t seed, UmError *err) {
    return model_init_batch(m, cfg, seed, UM_DEFAULT_MAX_BATCH, err);
}

int model_init_batch(UmModel *m, const UmModelConfig *cfg, uint64_t seed, int max_batch, UmError *err) {
    memset(m, 0, sizeof *m);
    if (config_validate(cfg, err)) return -1;
    if (max_batch < 1) return um_fail(err, "max_batch %d must be positive", max_batch);
    m->cfg = *cfg;
    m->max_batch = max_batch;
    params_init(&m->params);
    // Weight decay only on matrices; norms and biases are not decayed. The
    // decay strength is the trainer's (train.c sets it on every decayed group).
    int g_decay = params_group(&m->params, "decay", 1.0, 0.1);
    int g_nodecay = params_group(&m->params, "no_decay", 1.0, 0.0);
    UmRng rng;
    rng_seed(&rng, seed);
    int V = cfg->vocab, D = cfg->dim;
    m->wte = add(m, g_decay, "wte", V, D);
    m->wpe = add(m, g_decay, "wpe", cfg->block_size, D);
    param_normal(m->wte, &rng, 0.02);
    param_normal(m->wpe, &rng, 0.01);
    m->blocks = um_alloc(cfg->n_layers * sizeof *m->blocks);
    m->slots = um_alloc(cfg->n_layers * sizeof *m->slots);
    plan_slots(m);
    for (int l = 0; l < cfg->n_layers; l++) {
        register_block(m, l, g_decay, g_nodecay, &rng);
        init_sparse_layers(m, l, max_batch * cfg->block_size, &rng);
    }
    link_ultramem2_ring(m);
    init_memories(m, max_batch * cfg->block_size, &rng);
    m->lnf_w = add(m, g_nodecay, "lnf.weight", D, 0);
    m->lnf_b = add(m, g_nodecay, "lnf.bias", D, 0);
    param_fill(m->lnf_w, 1);
    return 0;
}

// ---------------------------------------------------------------- activations

static void free_acts(UmModel *m) {
    if (!m->acts) return;
    for (int l = 0; l < m->cfg.n_layers; l++) {
        UmBlockActs *a = &m->acts[l];
        real *bufs[] = {a->ln1, a->ln1_mean, a->ln1_rstd, a->qkv, a->att, a->atty, a->res2,
                        a->ln2, a->ln2_mean, a->ln2_rstd, a->fc_pre, a->fc_act, a->ffn_out, a->res3,
                        a->sparse_out};
        for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) um_free(bufs[i]);
    }
    um_free(m->acts);
    UmGradScratch *g = &m->grads;
    real *bufs[] = {m->encoded, m->lnf, m->lnf_mean, m->lnf_rstd, m->logits, m->probs, m->losses,
                    g->dres, g->dln, g->datty, g->dqkv, g->dfc, g->dlogits, g->dlnf};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) um_free(bufs[i]);
    um_free(m->inputs);
    um_free(m->targets);
    for (int i = 0; i < UM_MAX_MEM_LAYERS; i++) um_free(m->mem_out[i]), um_free(m->mem_dinp[i]);
    memset(m->mem_out, 0, sizeof m->mem_out), memset(m->mem_dinp, 0, sizeof m->mem_dinp);
    m->acts = NULL;
}

static real *buf(size_t n) { return um_alloc(n * sizeof(real)); }

// Allocate activations for max_batch sequences of the full context length.
// Called lazily by the first forward.
static void alloc_acts(UmModel *m, int B) {
    if (B > m->max_batch)
        um_die(UM_EXIT_RUNTIME, "a batch of %d sequences exceeds the model's max_batch %d (model_init_batch)", B,
               m->max_batch);
    free_acts(m);
    size_t T = m->cfg.block_size, D = m->cfg.dim, F = m->cfg.mlp_hidden, V = m->cfg.vocab, H = m->cfg.n_heads;
    size_t N = B * T, att = (size_t)B * H * T * T;
    m->acts = um_alloc(m->cfg.n_layers * sizeof *m->acts);
    for (int l = 0; l < m->cfg.n_layers; l++) {
        UmBlockActs *a = &m->acts[l];
        a->ln1 = buf(N * D), a->ln1_mean = buf(N), a->ln1_rstd = buf(N);
        a->qkv = buf(N * 3 * D), a->att = buf(att), a->atty = buf(N * D);
        a->res2 = buf(N * D), a->ln2 = buf(N * D), a->ln2_mean = buf(N), a->ln2_rstd = buf(N);
        a->fc_pre = buf(N * F), a->fc_act = buf(N * F), a->ffn_out = buf(N * D), a->res3 = buf(N * D);
        UmFfnSlot *s = &m->slots[l];
        a->sparse_out = (s->has_mlp && (s->pkm || s->moe || s->um2 || s->peer)) ? buf(N * D) : NULL;
    }
    m->encoded = buf(N * D);
    m->lnf = buf(N * D), m->lnf_mean = buf(N), m->lnf_rstd = buf(N);
    m->logits = buf(N * V), m->probs = buf(N * V), m->losses = buf(N);
    UmGradScratch *g = &m->grads;
    g->dres = buf(N * D), g->dln = buf(N * D), g->datty = buf(N * D), g->dqkv = buf(N * 3 * D);
    g->dfc = buf(N * F);
    g->dlogits = buf(N * V), g->dlnf = buf(N * D);
    for (int i = 0; i < UM_MAX_MEM_LAYERS; i++)
        if (m->mems[i]) m->mem_out[i] = buf(N * D), m->mem_dinp[i] = buf(N * D);
    m->inputs = um_alloc(N * sizeof(int));
    m->targets = um_alloc(N * sizeof(int));
    m->max_tokens = (int)N;
}

void model_free(UmModel *m) {
    free_acts(m);
    free_sparse_layers(m);
    um_free(m->blocks);
    params_free(&m->params);
    memset(m, 0, sizeof *m);
}

// ---------------------------------------------------------------- forward

static void add_into(real *out, const real *a, const real *b, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

// The FFN slot of block l: inp = ln2 (N, D) -> a->ffn_out (N, D).
// MLP alone, sparse layer alone, or both summed (PKM beside the MLP).
static void ffn_slot_forward(UmModel *m, int l, int N) {
    UmBlockParams *p = &m->blocks[l];
    UmBlockActs *a = &m->acts[l];
    UmFfnSlot *s = &m->slots[l];
    if (s->has_mlp)
        mlp_forward(a->ffn_out, a->fc_pre, a->fc_act, a->ln2, p->w1->data, p->b1->data, p->w2->data, p->b2->data,
                    N, m->cfg.dim, m->cfg.mlp_hidden);
    if (!s->pkm && !s->moe && !s->um2 && !s->peer) return;
    real *out = s->has_mlp ? a->sparse_out : a->ffn_out;
    if (s->pkm) um_pkm_forward(s->pkm, out, a->ln2, N);
    if (s->um2) um_ultramem_v2_forward(s->um2, out, a->ln2, N);  // same input as the MLP, added in parallel
    if (s->peer) um_peer_forward(s->peer, out, a->ln2, N);
    if (s->moe) {
        um_moe_forward(s->moe, out, a->ln2, N);
        m->aux_loss += s->moe->aux_loss;
    }
    if (s->has_mlp) add_into(a->ffn_out, a->ffn_out, a->sparse_out, (size_t)N * m->cfg.dim);
}

// x (N, D) -> a->res3 (N, D)
static void block_forward(UmModel *m, int l, const real *x, int B, int T) {
    UmBlockParams *p = &m->blocks[l];
    UmBlockActs *a = &m->acts[l];
    int D = m->cfg.dim, H = m->cfg.n_heads, N = B * T;
    layernorm_forward(a->ln1, a->ln1_mean, a->ln1_rstd, x, p->ln1_w->data, p->ln1_b->data, N, D);
    matmul_forward(a->qkv, a->ln1, p->wqkv->data, p->bqkv->data, N, D, 3 * D);
    attention_forward(a->atty, a->att, a->qkv, B, T, D, H);
    matmul_forward(a->res2, a->atty, p->wproj->data, p->bproj->data, N, D, D);  // res2 = proj(...)
    add_into(a->res2, a->res2, x, (size_t)N * D);                                // res2 += x
    layernorm_forward(a->ln2, a->ln2_mean, a->ln2_rstd, a->res2, p->ln2_w->data, p->ln2_b->data, N, D);
    ffn_slot_forward(m, l, N);
    add_into(a->res3, a->res2, a->ffn_out, (size_t)N * D);
}

// Skip-layer memories: memory i reads block um_read[i]'s normalised FFN
// input and adds its output to the residual stream after block um_write[i].
static void memories_forward(UmModel *m, int l, int N) {
    for (int i = 0; i < m->cfg.um_layers && m->mems[i]; i++) {
        if (m->cfg.um_write[i] != l) continue;
        um_ultramem_forward(m->mems[i], m->mem_out[i], m->acts[m->cfg.um_read[i]].ln2, N);
        add_into(m->acts[l].res3, m->acts[l].res3, m->mem_out[i], (size_t)N * m->cfg.dim);
        m->aux_loss += m->mems[i]->aux_loss;
    }
}

double model_forward(UmModel *m, const int *inputs, const int *targets, int B, int T) {
    const UmModelConfig *c = &m->cfg;
    if (!m->acts) alloc_acts(m, m->max_batch);
    if (B > m->max_batch) alloc_acts(m, B);  // dies with a clear message
    m->B = B, m->T = T;
    int N = B * T, D = c->dim, V = c->vocab;
    memcpy(m->inputs, inputs, N * sizeof(int));
    m->aux_loss = 0;
    embedding_forward(m->encoded, inputs, m->wte->data, m->wpe->data, B, T, D);
    const real *x = m->encoded;
    for (int l = 0; l < c->n_layers; l++) {
        block_forward(m, l, x, B, T);
        memories_forward(m, l, N);
        x = m->acts[l].res3;
    }
    layernorm_forward(m->lnf, m->lnf_mean, m->lnf_rstd, x, m->lnf_w->data, m->lnf_b->data, N, D);
    matmul_forward(m->logits, m->lnf, m->wte->data, NULL, N, D, V);  // tied head: logits = lnf @ wte^T
    if (!targets) return 0;
    memcpy(m->targets, targets, N * sizeof(int));
    softmax_crossentropy_forward(m->losses, m->probs, m->logits, targets, N, V);
    double sum = 0;
    for (int i = 0; i < N; i++) sum += m->losses[i];
    m->loss = sum / N;
    return m->loss;
}

// ---------------------------------------------------------------- backward

static void zero(real *x, size_t n) { memset(x, 0, n * sizeof(real)); }

// Forward was: ffn_out = mlp(ln2). dout = g->dres (the residual passes the
// gradient of res3 straight to ffn_out). Writes d(ln2) into g->dln.
// Forward was: res3[write] += memory(ln2[read]). So at the top of block
// `write`'s backward, g->dres = d(res3) is also the memory's dout; its input
// gradient waits in mem_dinp until block `read` adds it to d(ln2).
static void memories_backward_out(UmModel *m, int l, int N) {
    for (int i = 0; i < m->cfg.um_layers && m->mems[i]; i++) {
        if (m->cfg.um_write[i] != l) continue;
        zero(m->mem_dinp[i], (size_t)N * m->cfg.dim);
        um_ultramem_backward(m->mems[i], m->mem_dinp[i], m->grads.dres, m->acts[m->cfg.um_read[i]].ln2, N);
    }
}

static void memories_backward_in(UmModel *m, int l, int N) {
    for (int i = 0; i < m->cfg.um_layers && m->mems[i]; i++)
        if (m->cfg.um_read[i] == l)
            add_into(m->grads.dln, m->grads.dln, m->mem_dinp[i], (size_t)N * m->cfg.dim);
}

// A sum of branches: each branch gets the same dout and adds its d(ln2).
static void ffn_slot_backward(UmModel *m, int l, int N) {
    UmBlockParams *p = &m->blocks[l];
    UmBlockActs *a = &m->acts[l];
    UmFfnSlot *s = &m->slots[l];
    UmGradScratch *g = &m->grads;
    int D = m->cfg.dim, F = m->cfg.mlp_hidden;
    zero(g->dln, (size_t)N * D);
    if (s->has_mlp)
        mlp_backward(g->dln, p->w1->grad, p->b1->grad, p->w2->grad, p->b2->grad, g->dfc, g->dres, a->ln2,
                     a->fc_pre, a->fc_act, p->w1->data, p->w2->data, N, D, F);
    if (s->pkm) um_pkm_backward(s->pkm, g->dln, g->dres, a->ln2, N);
    if (s->moe) um_moe_backward(s->moe, g->dln, g->dres, a->ln2, N);  // includes the aux-loss gradients
    if (s->um2) um_ultramem_v2_backward(s->um2, g->dln, g->dres, a->ln2, N);
    if (s->peer) um_peer_backward(s->peer, g->dln, g->dres, a->ln2, N);
    memories_backward_in(m, l, N);
}

// On entry g->dres = d(res3); on exit g->dres = d(x), the block's input.
// The residual connections make this simple: res3 = res2 + ffn(...) means
// d(res2) = d(res3) + (what flows back through the ffn), and the layernorm
// backward *accumulates* that second part straight into g->dres.
static void block_backward(UmModel *m, int l, const real *x, int B, int T) {
    UmBlockParams *p = &m->blocks[l];
    UmBlockActs *a = &m->acts[l];
    UmGradScratch *g = &m->grads;
    int D = m->cfg.dim, H = m->cfg.n_heads, N = B * T;
    memories_backward_out(m, l, N);
    ffn_slot_backward(m, l, N);
    layernorm_backward(g->dres, p->ln2_w->grad, p->ln2_b->grad, g->dln, a->res2, p->ln2_w->data, a->ln2_mean,
                       a->ln2_rstd, N, D);
    // now g->dres = d(res2); res2 = x + proj(atty)
    zero(g->datty, (size_t)N * D);
    matmul_backward(g->datty, p->wproj->grad, p->bproj->grad, g->dres, a->atty, p->wproj->data, N, D, D);
    zero(g->dqkv, (size_t)N * 3 * D);
    attention_backward(g->dqkv, g->datty, a->qkv, a->att, B, T, D, H);
    zero(g->dln, (size_t)N * D);
    matmul_backward(g->dln, p->wqkv->grad, p->bqkv->grad, g->dqkv, a->ln1, p->wqkv->data, N, D, 3 * D);
    layernorm_backward(g->dres, p->ln1_w->grad, p->ln1_b->grad, g->dln, x, p->ln1_w->data, a->ln1_mean,
                       a->ln1_rstd, N, D);
}

void model_backward(UmModel *m) {
    const UmModelConfig *c = &m->cfg;
    UmGradScratch *g = &m->grads;
    int B = m->B, T = m->T, N = B * T, D = c->dim, V = c->vocab, L = c->n_layers;
    // loss = mean over N tokens, so each token's loss has weight 1/N
    zero(g->dlogits, (size_t)N * V);
    softmax_crossentropy_backward(g->dlogits, m->probs, m->targets, (real)(1.0 / N), N, V);
    zero(g->dlnf, (size_t)N * D);
    matmul_backward(g->dlnf, m->wte->grad, NULL, g->dlogits, m->lnf, m->wte->data, N, D, V);
    zero(g->dres, (size_t)N * D);
    const real *x_last = L > 0 ? m->acts[L - 1].res3 : m->encoded;
    layernorm_backward(g->dres, m->lnf_w->grad, m->lnf_b->grad, g->dlnf, x_last, m->lnf_w->data, m->lnf_mean,
                       m->lnf_rstd, N, D);
    for (int l = L - 1; l >= 0; l--) block_backward(m, l, l > 0 ? m->acts[l - 1].res3 : m->encoded, B, T);
    embedding_backward(m->wte->grad, m->wpe->grad, g->dres, m->inputs, B, T, D);
}

void model_set_moe_aux(UmModel *m, double balance_alpha, double zloss_beta) {
    for (int l = 0; l < m->cfg.n_layers; l++) {
        if (!m->slots[l].moe) continue;
        m->slots[l].moe->cfg.balance_alpha = (real)balance_alpha;
        m->slots[l].moe->cfg.zloss_beta = (real)zloss_beta;
    }
}

// ---------------------------------------------------------------- accounting

size_t model_total_params(const UmModel *m) { return params_total(&m->params); }

// Parameters of the sparse layers, total and touched by one token.
static void sparse_params(const UmModel *m, size_t *total, size_t *activated) {
    *total = *activated = 0;
    for (int i = 0; i < m->params.count; i++)
        if (strstr(m->params.params[i]->name, ".pkm.") || strstr(m->params.params[i]->name, ".moe.") ||
            strstr(m->params.params[i]->name, ".ultramem.") || strstr(m->params.params[i]->name, ".ultramem2.") ||
            strstr(m->params.params[i]->name, ".peer."))
            *total += m->params.params[i]->numel;
    for (int i = 0; i < UM_MAX_MEM_LAYERS; i++)
        if (m->mems[i]) *activated += um_ultramem_activated_params(m->mems[i]);
    for (int l = 0; l < m->cfg.n_layers; l++) {
        if (m->slots[l].pkm) *activated += um_pkm_activated_params(m->slots[l].pkm);
        if (m->slots[l].moe) *activated += um_moe_activated_params(m->slots[l].moe);
        if (m->slots[l].um2) *activated += um_ultramem_v2_activated_params(m->slots[l].um2);
        if (m->slots[l].peer) *activated += um_peer_activated_params(m->slots[l].peer);
    }
}

// Parameters one token's forward pass touches: every dense tensor (we count
// the whole embedding tables, as everyone does) plus what each sparse layer
// actually reads for one token.
size_t model_activated_params(const UmModel *m) {
    size_t total, activated;
    sparse_params(m, &total, &activated);
    return params_total(&m->params) - total + activated;
}

double model_flops_per_token(const UmModel *m) {
    const UmModelConfig *c = &m->cfg;
    double D = c->dim, F = c->mlp_hidden, T = c->block_size, V = c->vocab;
    double flops = 2 * D * V;  // output head
    for (int l = 0; l < c->n_layers; l++) {
        const UmFfnSlot *s = &m->slots[l];
        flops += 2 * D * 3 * D     // qkv projection
                 + 2 * 2 * T * D   // scores q.k and the weighted sum of v, at full context
                 + 2 * D * D;      // output projection
        if (s->has_mlp) flops += 2 * 2 * D * F;
        if (s->pkm) flops += um_pkm_flops_per_token(s->pkm);
        if (s->moe) flops += um_moe_flops_per_token(s->moe);
        if (s->um2) flops += um_ultramem_v2_flops_per_token(s->um2);
        if (s->peer) flops += um_peer_flops_per_token(s->peer);
    }
    for (int i = 0; i < UM_MAX_MEM_LAYERS; i++)
        if (m->mems[i]) flops += um_ultramem_flops_per_token(m->mems[i]);
    return flops;
}

void model_update_schedules(UmModel *m, int step, int total_steps) {
    double mult;
    if (m->mems[0])
        mult = um_ultramem_value_lr_mult(&m->mems[0]->cfg, step, total_steps);
    else if (m->slots && m->cfg.n_layers > 0 && m->slots[0].um2)
        mult = um_ultramem_v2_value_lr_mult(&m->slots[0].um2->cfg, step, total_steps);
    else
        return;
    for (int g = 0; g < m->params.n_groups; g++)
        if (strcmp(m->params.groups[g].name, "memory_values") == 0) m->params.groups[g].lr_mult = (real)mult;
}
