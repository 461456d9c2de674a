// config.c: presets and the field table of the model config.
#include "model/config.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memory/ultramem_v2.h"

static const char *ARCH_NAMES[ARCH_COUNT] = {"dense", "pkm", "moe", "ultramem", "ultramem2", "peer"};

const char *arch_name(int arch) { return (arch >= 0 && arch < ARCH_COUNT) ? ARCH_NAMES[arch] : "?"; }

int arch_from_name(const char *name) {
    for (int i = 0; i < ARCH_COUNT; i++)
        if (strcmp(name, ARCH_NAMES[i]) == 0) return i;
    return -1;
}

// ---------------------------------------------------------------- fields
// One row per saved int field. Adding a field here is all it takes for the
// checkpoint and `um params` to know about it.
typedef struct {
    const char *name;
    size_t offset;
} ConfigField;

#define FIELD(f) {#f, offsetof(UmModelConfig, f)}
#define FIELD_AT(name, f) {name, offsetof(UmModelConfig, f)}
static const ConfigField FIELDS[] = {
    FIELD(arch),        FIELD(vocab),     FIELD(block_size),  FIELD(n_layers),    FIELD(dim),
    FIELD(n_heads),     FIELD(mlp_hidden),  FIELD(mem_block),   FIELD(mem_replace_mlp), FIELD(pkm_keys),
    FIELD(pkm_heads),   FIELD(pkm_key_dim), FIELD(pkm_topk),    FIELD(moe_experts), FIELD(moe_topk),
    FIELD(moe_hidden),  FIELD(moe_shared),
    FIELD(um_layers),
    FIELD_AT("um_read0", um_read[0]),   FIELD_AT("um_read1", um_read[1]),
    FIELD_AT("um_read2", um_read[2]),   FIELD_AT("um_read3", um_read[3]),
    FIELD_AT("um_write0", um_write[0]), FIELD_AT("um_write1", um_write[1]),
    FIELD_AT("um_write2", um_write[2]), FIELD_AT("um_write3", um_write[3]),
    FIELD(um_keys),     FIELD(um_heads),    FIELD(um_key_dim),  FIELD(um_topm),     FIELD(um_value_dim),
    FIELD(um_softmax),  FIELD(um_value_proj), FIELD(um_share_query), FIELD(um_qk_norm), FIELD(um_ive),
    FIELD(um_tdqkr),    FIELD(um_cores),    FIELD(um_improved_init), FIELD(um_value_lr_decay),
    FIELD(um2_keys),    FIELD(um2_key_dim), FIELD(um2_topm),    FIELD(um2_value_dim), FIELD(um2_pre_dim),
    FIELD(um2_cores),   FIELD(um2_rank_query), FIELD(um2_gelu), FIELD(um2_share),   FIELD(um2_mcp),
    FIELD(um2_value_lr_decay),
    FIELD(peer_keys),   FIELD(peer_heads),  FIELD(peer_key_dim), FIELD(peer_topk),
};
#undef FIELD
#undef FIELD_AT
#define N_FIELDS ((int)(sizeof FIELDS / sizeof FIELDS[0]))

static int *field_ptr(UmModelConfig *m, int i) { return (int *)((char *)m + FIELDS[i].offset); }
static int field_get(const UmModelConfig *m, int i) { return *(const int *)((const char *)m + FIELDS[i].offset); }

int config_to_text(const UmModelConfig *m, char *buf, int len) {
    int used = 0;
    for (int i = 0; i < N_FIELDS; i++) {
        int w = snprintf(buf + used, len - used, "%s=%d\n", FIELDS[i].name, field_get(m, i));
        if (w < 0 || w >= len - used) return -1;
        used += w;
    }
    return used;
}

static int find_field(const char *key, int keylen) {
    for (int i = 0; i < N_FIELDS; i++)
        if ((int)strlen(FIELDS[i].name) == keylen && strncmp(FIELDS[i].name, key, keylen) == 0) return i;
    return -1;
}

int config_parse(UmModelConfig *m, const char *text, UmError *err) {
    int seen[N_FIELDS] = {0};
    memset(m, 0, sizeof *m);
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        if (!end) return um_fail(err, "config line without newline");
        const char *eq = memchr(line, '=', end - line);
        if (!eq) return um_fail(err, "config line without '='");
        int f = find_field(line, (int)(eq - line));
        if (f < 0) return um_fail(err, "unknown config field '%.*s'", (int)(eq - line), line);
        if (seen[f]) return um_fail(err, "config field %s appears twice", FIELDS[f].name);
        // digits only (an optional '-'): strtol alone would also take " 7", "+7"
        // and numbers beyond int, which the cast below would silently wrap
        const char *digits = eq + 1 + (eq[1] == '-');
        if (digits == end) return um_fail(err, "config field %s is not a number", FIELDS[f].name);
        for (const char *c = digits; c < end; c++)
            if (*c < '0' || *c > '9') return um_fail(err, "config field %s is not a number", FIELDS[f].name);
        errno = 0;
        long v = strtol(eq + 1, NULL, 10);
        if (errno == ERANGE || v < INT_MIN || v > INT_MAX)
            return um_fail(err, "config field %s = %.*s does not fit in an int", FIELDS[f].name, (int)(end - eq - 1 > 24 ? 24 : end - eq - 1), eq + 1);
        *field_ptr(m, f) = (int)v;
        seen[f] = 1;
        line = end + 1;
    }
    for (int i = 0; i < N_FIELDS; i++)
        if (!seen[i]) return um_fail(err, "config field %s is missing", FIELDS[i].name);
    return 0;
}

int config_diff(const UmModelConfig *a, const UmModelConfig *b, char *buf, int len) {
    for (int i = 0; i < N_FIELDS; i++) {
        if (field_get(a, i) != field_get(b, i)) {
            if (FIELDS[i].offset == offsetof(UmModelConfig, arch))  // names say more than ids
                snprintf(buf, len, "arch: %s vs %s", arch_name(a->arch), arch_name(b->arch));
            else
                snprintf(buf, len, "%s: %d vs %d", FIELDS[i].name, field_get(a, i), field_get(b, i));
            return 1;
        }
    }
    return 0;
}

// Skip-layer wiring: read at block i, write after block j >= i; spans must
// not overlap (one memory output in flight at a time, as the released code).
static int validate_ultramem(const UmModelConfig *m, UmError *err) {
    if (m->um_layers < 1 || m->um_layers > UM_MAX_MEM_LAYERS)
        return um_fail(err, "um_layers %d not in 1..%d", m->um_layers, UM_MAX_MEM_LAYERS);
    for (int i = 0; i < m->um_layers; i++) {
        int r = m->um_read[i], w = m->um_write[i];
        if (r < 0 || w < r || w >= m->n_layers)
            return um_fail(err, "memory layer %d wiring %d:%d needs 0 <= read <= write < %d", i, r, w, m->n_layers);
        if (i > 0 && r <= m->um_write[i - 1])
            return um_fail(err, "memory layers %d and %d overlap (%d:%d then %d:%d)", i - 1, i, m->um_read[i - 1],
                           m->um_write[i - 1], r, w);
    }
    if (m->um_keys < 2 || m->um_keys > 4096) return um_fail(err, "um_keys %d not in 2..4096", m->um_keys);
    if (m->um_heads < 1 || m->um_heads > 64 || m->um_key_dim < 1 || m->um_key_dim > 4096)
        return um_fail(err, "um_heads (%d) must be in 1..64 and um_key_dim (%d) in 1..4096", m->um_heads, m->um_key_dim);
    if (m->um_value_proj && (m->um_value_dim < 1 || m->um_value_dim > 8192))
        return um_fail(err, "um_value_dim %d not in 1..8192", m->um_value_dim);
    if (m->um_topm < 1 || m->um_topm > m->um_keys) return um_fail(err, "um_topm %d not in 1..um_keys", m->um_topm);
    if (m->um_ive != 1 && m->um_ive != 4 && m->um_ive != 9 && m->um_ive != 16)
        return um_fail(err, "um_ive %d must be a square: 1, 4, 9 or 16", m->um_ive);
    if (m->um_ive > 1 && !m->um_value_proj) return um_fail(err, "um_ive > 1 needs um_value_proj");
    if (m->um_cores > 1 && !m->um_tdqkr) return um_fail(err, "um_cores > 1 (MCS) needs um_tdqkr");
    int dv = m->um_value_proj ? m->um_value_dim : m->dim;
    if (m->um_cores < 1 || dv % m->um_cores) return um_fail(err, "value dim %d not divisible by um_cores %d", dv, m->um_cores);
    return 0;
}

static int validate_ultramem2(const UmModelConfig *m, UmError *err) {
    if (m->um2_keys < 2 || m->um2_keys > 4096) return um_fail(err, "um2_keys %d not in 2..4096", m->um2_keys);
    if (m->um2_key_dim < 1 || m->um2_value_dim < 1 || m->um2_pre_dim < 1)
        return um_fail(err, "um2_key_dim, um2_value_dim and um2_pre_dim must be positive");
    if (m->um2_share != 1 && m->um2_share != 4 && m->um2_share != 9)
        return um_fail(err, "um2_share %d must be 1, 4 or 9", m->um2_share);
    if (m->um2_share > m->n_layers) return um_fail(err, "um2_share %d > n_layers %d", m->um2_share, m->n_layers);
    int side = m->um2_share == 1 ? 1 : m->um2_share == 4 ? 2 : 3;
    if (m->um2_topm < 1 || m->um2_topm > side * m->um2_keys)
        return um_fail(err, "um2_topm %d not in 1..%d keys per side", m->um2_topm, side * m->um2_keys);
    if (m->um2_cores < 1 || m->um2_value_dim % m->um2_cores)
        return um_fail(err, "um2_value_dim %d not divisible by um2_cores %d", m->um2_value_dim, m->um2_cores);
    return 0;
}

static int validate_peer(const UmModelConfig *m, UmError *err) {
    if (m->peer_keys < 2 || m->peer_keys > 4096) return um_fail(err, "peer_keys %d not in 2..4096", m->peer_keys);
    if (m->peer_heads < 1 || m->peer_key_dim < 2 || m->peer_key_dim % 2)
        return um_fail(err, "peer needs heads >= 1 and an even key dim (got %d, %d)", m->peer_heads, m->peer_key_dim);
    if (m->peer_topk < 1 || m->peer_topk > m->peer_keys)
        return um_fail(err, "peer_topk %d not in 1..peer_keys (%d)", m->peer_topk, m->peer_keys);
    return 0;
}

int config_validate(const UmModelConfig *m, UmError *err) {
    if (m->arch < 0 || m->arch >= ARCH_COUNT) return um_fail(err, "unknown arch id %d", m->arch);
    if (m->vocab != 256) return um_fail(err, "vocab must be 256 (bytes), got %d", m->vocab);
    if (m->block_size < 2 || m->block_size > 4096) return um_fail(err, "block_size %d not in 2..4096", m->block_size);
    if (m->n_layers < 1 || m->n_layers > 64) return um_fail(err, "n_layers %d not in 1..64", m->n_layers);
    if (m->dim < 2 || m->dim > 8192) return um_fail(err, "dim %d not in 2..8192", m->dim);
    if (m->n_heads < 1 || m->dim % m->n_heads) return um_fail(err, "dim %d not divisible by n_heads %d", m->dim, m->n_heads);
    if (m->mlp_hidden < 1 || m->mlp_hidden > 65536) return um_fail(err, "mlp_hidden %d not in 1..65536", m->mlp_hidden);
    if (m->arch == ARCH_PKM) {
        if (m->mem_block < 0 || m->mem_block >= m->n_layers)
            return um_fail(err, "mem_block %d not in 0..%d", m->mem_block, m->n_layers - 1);
        if (m->pkm_keys < 2 || m->pkm_keys > 4096) return um_fail(err, "pkm_keys %d not in 2..4096", m->pkm_keys);
        if (m->pkm_heads < 1 || m->pkm_heads > 64 || m->pkm_key_dim < 2 || m->pkm_key_dim > 4096 || m->pkm_key_dim % 2)
            return um_fail(err, "pkm needs heads >= 1 and an even key dim (got %d, %d)", m->pkm_heads, m->pkm_key_dim);
        if (m->pkm_topk < 1 || m->pkm_topk > m->pkm_keys)
            return um_fail(err, "pkm_topk %d not in 1..pkm_keys (%d)", m->pkm_topk, m->pkm_keys);
    }
    if (m->arch == ARCH_ULTRAMEM && validate_ultramem(m, err)) return -1;
    if (m->arch == ARCH_ULTRAMEM2 && validate_ultramem2(m, err)) return -1;
    if (m->arch == ARCH_PEER && validate_peer(m, err)) return -1;
    if (m->arch == ARCH_MOE) {
        if (m->moe_experts < 1 || m->moe_experts > 256) return um_fail(err, "moe_experts %d not in 1..256", m->moe_experts);
        if (m->moe_topk < 1 || m->moe_topk > m->moe_experts)
            return um_fail(err, "moe_topk %d not in 1..moe_experts (%d)", m->moe_topk, m->moe_experts);
        if (m->moe_hidden < 1 || m->moe_hidden > 65536) return um_fail(err, "moe_hidden %d not in 1..65536", m->moe_hidden);
    }
    return 0;
}

// ---------------------------------------------------------------- presets
static void dense_shape(UmModelConfig *m, int T, int L, int D, int H) {
    memset(m, 0, sizeof *m);
    m->arch = ARCH_DENSE;
    m->vocab = 256;
    m->block_size = T;
    m->n_layers = L;
    m->dim = D;
    m->n_heads = H;
    m->mlp_hidden = 4 * D;
}

static void train_defaults(UmTrainConfig *t, int steps, int batch, double lr) {
    memset(t, 0, sizeof *t);
    t->steps = steps;
    t->batch = batch;
    t->lr = lr;
    t->min_lr = lr / 10;
    t->warmup = steps / 20 + 1;
    t->weight_decay = 0.1;
    t->grad_clip = 1.0;
    t->eval_every = steps / 10 > 0 ? steps / 10 : 1;
    t->eval_batches = 20;
    t->ckpt_every = 0;
    t->seed = 1337;
}

// PKM: one memory in the middle block, parallel to its MLP. Its extra
// FLOPs per token (query projection, 2*H*n*Dk sub-key scores, k value rows)
// are a few % of the dense model's, so activated compute stays matched
// within 10% while the total parameters grow by n*n*D.
static void pkm_shape(UmModelConfig *m, const char *size) {
    m->mem_block = m->n_layers / 2;
    m->pkm_heads = 2;
    m->pkm_key_dim = m->dim / 2;
    if (strcmp(size, "nano") == 0) m->pkm_keys = 16, m->pkm_topk = 4;
    else if (strcmp(size, "tiny") == 0) m->pkm_keys = 128, m->pkm_topk = 16;
    else m->pkm_keys = 256, m->pkm_topk = 32;
}

// MoE: top-2 of 8 experts of half the dense MLP width in every block, so a
// token's two experts cost exactly one dense MLP (plus a tiny router) while
// the model holds 4x the MLP parameters.
static void moe_shape(UmModelConfig *m) {
    m->moe_experts = 8;
    m->moe_topk = 2;
    m->moe_hidden = m->mlp_hidden / 2;
    m->moe_shared = 0;
}

// UltraMem: two memory layers wired skip-layer (block 0 -> after block 1,
// block 2 -> after block 3 for L = 4), every trick on. Their values are sized
// so the total parameters equal the MoE preset's, and the MLPs are narrowed a
// little so activated FLOPs per token stay within a few % of dense (the key
// scoring over sqrt(E)*n keys per side and the E-way output projection are
// the memory layers' main compute).
static void ultramem_shape(UmModelConfig *m, const char *size) {
    int L = m->n_layers;
    m->um_layers = 2;
    m->um_read[0] = 0, m->um_write[0] = L / 2 - 1;
    m->um_read[1] = L / 2, m->um_write[1] = L - 1;
    m->um_heads = 2;
    m->um_key_dim = m->dim / 8;
    m->um_value_dim = m->dim / 2;
    m->um_softmax = 0, m->um_value_proj = 1, m->um_share_query = 1, m->um_qk_norm = 1;
    m->um_ive = 4, m->um_tdqkr = 1, m->um_cores = 2, m->um_improved_init = 1, m->um_value_lr_decay = 1;
    if (strcmp(size, "nano") == 0) m->um_keys = 8, m->um_topm = 4;
    else if (strcmp(size, "tiny") == 0) m->um_keys = 110, m->um_topm = 16, m->mlp_hidden = 416;
    else m->um_keys = 166, m->um_topm = 32, m->mlp_hidden = 672;
}

// The dense model's forward FLOPs per token (as model_flops_per_token counts
// them): output head, and per block qkv + attention at full context +
// projection + MLP.
static double dense_flops(const UmModelConfig *m) {
    double D = m->dim, T = m->block_size, F = m->mlp_hidden;
    return 2 * D * m->vocab + m->n_layers * (2 * D * 3 * D + 4 * T * D + 2 * D * D + 4 * D * F);
}

// UltraMemV2: a memory layer in every block beside the MLP, single head,
// rank-2 TDQKR with 2 cores, PEER-style values (Dv = Dp = D/4, the released
// 227M config's ratio). The memory compute share MCP (per mille of the
// dense model's FLOPs, 17% by default: the paper's best) fixes each layer's
// FLOP budget; Dk is the largest key dim within it, and the MLP gives up
// exactly the FLOPs the memory layers spend, so activated FLOPs match dense.
// top-m makes the activated values per token (L m) equal to the UltraMem
// preset's (2 layers x 2 heads x m): 16 (nano), 64 (tiny), 126 ~ 128 (small);
// n sets the total parameters equal to the MoE/UltraMem presets'.
static void ultramem2_shape(UmModelConfig *m, const char *size) {
    double budget = dense_flops(m);
    m->um2_value_dim = m->dim / 4;
    m->um2_pre_dim = m->dim / 4;
    m->um2_cores = 2;
    m->um2_rank_query = 1;
    m->um2_gelu = 0;
    m->um2_share = 1;
    m->um2_mcp = 170;
    m->um2_value_lr_decay = 0;
    if (strcmp(size, "nano") == 0) m->um2_keys = 8, m->um2_topm = 8;
    else if (strcmp(size, "tiny") == 0) m->um2_keys = 79, m->um2_topm = 16;
    else m->um2_keys = 97, m->um2_topm = 21;
    UmUltraMemV2Config c = um_ultramem_v2_config_default();
    c.n = m->um2_keys, c.m = m->um2_topm, c.Dv = m->um2_value_dim, c.Dp = m->um2_pre_dim;
    c.cores = m->um2_cores, c.per_rank_query = m->um2_rank_query, c.share_g = m->um2_share;
    double per_layer = budget * m->um2_mcp / 1000.0 / m->n_layers;
    m->um2_key_dim = um_ultramem_v2_dk_for_flops(&c, m->dim, per_layer);
    c.Dk = m->um2_key_dim;
    double spent = um_ultramem_v2_config_flops(&c, m->dim);
    m->mlp_hidden -= (int)lround(spent / (4.0 * m->dim));
    if (m->mlp_hidden < 1) m->mlp_hidden = 1;
}

// PEER: a PEER layer replaces the MLP in every block (as in the PEER paper),
// H heads of k single-neuron experts, so H*k*4D of expert compute plus the
// query and key scoring stand in for the MLP's 4DF; n sets the total
// parameters near the MoE preset's.
static void peer_shape(UmModelConfig *m, const char *size) {
    if (strcmp(size, "nano") == 0) m->peer_keys = 16, m->peer_heads = 4, m->peer_key_dim = 16, m->peer_topk = 16;
    else if (strcmp(size, "tiny") == 0) m->peer_keys = 43, m->peer_heads = 8, m->peer_key_dim = 48, m->peer_topk = 32;
    else m->peer_keys = 53, m->peer_heads = 8, m->peer_key_dim = 64, m->peer_topk = 48;
}

int config_preset(UmModelConfig *m, UmTrainConfig *t, const char *size, int arch, UmError *err) {
    if (strcmp(size, "nano") == 0) {
        dense_shape(m, 16, 2, 32, 2);
        train_defaults(t, 60, 8, 3e-3);
    } else if (strcmp(size, "tiny") == 0) {
        dense_shape(m, 128, 4, 128, 4);
        train_defaults(t, 1200, 16, 2e-3);
    } else if (strcmp(size, "small") == 0) {
        dense_shape(m, 256, 6, 192, 6);
        train_defaults(t, 4000, 16, 1.5e-3);
    } else {
        return um_fail(err, "unknown --size '%s' (allowed: nano, tiny, small)", size);
    }
    m->arch = arch;
    if (arch == ARCH_PKM) pkm_shape(m, size);
    else if (arch == ARCH_MOE) moe_shape(m);
    else if (arch == ARCH_ULTRAMEM) ultramem_shape(m, size);
    else if (arch == ARCH_ULTRAMEM2) ultramem2_shape(m, size);
    else if (arch == ARCH_PEER) peer_shape(m, size);
    else if (arch != ARCH_DENSE)
        return um_fail(err, "--arch %s is not built yet", arch_name(arch));
    return 0;
}
