// pkm.c: see pkm.h. The forward pass is four steps (query, norm, search,
// value read); the backward pass undoes them in reverse order.
#include "memory/pkm.h"

#include <math.h>
#include <string.h>

#include "base/alloc.h"
#include "base/error.h"
#include "kernels/matmul.h"
#include "kernels/vec.h"
#include "memory/topk.h"

// Value learning rate. Each value row is read by only a few of the B*T*H*k
// reads of a step, so its gradient is small and noisy and, at the base LR,
// values train far more slowly than the dense weights. XLM trains them with
// their own Adam at lr 1e-3 against a base of ~1e-4; lucidrains and Meta's
// Memory Layers use 10x the base. Those bases are small; a toy byte model
// trains at a base around 1e-3, where 10x (1e-2) makes the Adam steps of a
// N(0, D^-1/2) value row too large. 4x puts values at ~4e-3: still well
// above the dense weights, and it is the starting multiplier UltraMem uses.
// Values never get weight decay: a slot that is rarely read would otherwise
// be decayed towards zero between its reads.
#define PKM_DEFAULT_VALUE_LR_MULT 4

// Tokens whose side scores are computed together (one matrix product per
// head and side), few enough that the scores stay in cache.
#define PKM_CHUNK 256

UmPkmConfig um_pkm_config_default(void) {
    UmPkmConfig c = {0};
    c.n = 128;
    c.H = 4;
    c.Dk = 0;
    c.k = 16;
    c.query_bias = 0;  // the norm that follows has its own bias (LayerNorm) or ignores offsets
    c.query_norm = UM_QUERY_NORM_LAYERNORM;
    c.value_lr_mult = PKM_DEFAULT_VALUE_LR_MULT;
    c.weight_decay = (real)0.1;
    return c;
}

static UmParam *add_param(UmParamRegistry *reg, const char *prefix, const char *name, int group, int ndim,
                          const int *shape) {
    char full[UM_NAME_LEN + 64];
    snprintf(full, sizeof full, "%s%s", prefix ? prefix : "", name);
    if (strlen(full) >= UM_NAME_LEN) um_die(UM_EXIT_USAGE, "pkm: parameter name too long: %s", full);
    return params_add(reg, full, group, ndim, shape);
}

static void check_config(const UmPkmConfig *c, int D, int max_tokens) {
    if (c->n < 1 || c->H < 1 || c->k < 1) um_die(UM_EXIT_USAGE, "pkm: n, H and k must be >= 1");
    if (c->k > c->n) um_die(UM_EXIT_USAGE, "pkm: top-k %d is more than the %d keys per side", c->k, c->n);
    if (c->Dk < 2 || c->Dk % 2) um_die(UM_EXIT_USAGE, "pkm: query dim per head Dk=%d must be even and >= 2", c->Dk);
    if ((long)c->n * c->n > 0x7fffffffL / 2) um_die(UM_EXIT_USAGE, "pkm: n=%d gives too many slots", c->n);
    if (D < 1 || max_tokens < 1) um_die(UM_EXIT_USAGE, "pkm: D=%d and max_tokens=%d must be >= 1", D, max_tokens);
    if (c->query_norm < UM_QUERY_NORM_NONE || c->query_norm > UM_QUERY_NORM_RMSNORM)
        um_die(UM_EXIT_USAGE, "pkm: unknown query norm kind %d", (int)c->query_norm);
}

static void *alloc_reals(size_t n) { return um_alloc(n * sizeof(real)); }

void um_pkm_init(UmPkm *l, const UmPkmConfig *cfg, int D, int max_tokens, UmParamRegistry *reg, UmRng *rng,
                 const char *prefix) {
    memset(l, 0, sizeof *l);
    l->cfg = *cfg;
    if (l->cfg.Dk == 0) l->cfg.Dk = D;
    check_config(&l->cfg, D, max_tokens);
    int H = l->cfg.H, Dk = l->cfg.Dk, n = l->cfg.n, k = l->cfg.k;
    l->D = D;
    l->max_tokens = max_tokens;
    l->half = Dk / 2;
    l->n_slots = n * n;

    int g_decay = params_group(reg, "decay", 1, l->cfg.weight_decay);
    int g_plain = params_group(reg, "no_decay", 1, 0);
    int g_values = params_group(reg, "memory_values", l->cfg.value_lr_mult, 0);

    // Query Linear: PyTorch's default init, U(-1/sqrt(D), 1/sqrt(D)).
    real qbound = (real)(1.0 / sqrt((double)D));
    l->wq = add_param(reg, prefix, "query.weight", g_decay, 2, (int[]){H * Dk, D});
    param_uniform(l->wq, rng, qbound);
    if (l->cfg.query_bias) {
        l->bq = add_param(reg, prefix, "query.bias", g_plain, 1, (int[]){H * Dk});
        param_uniform(l->bq, rng, qbound);
    }
    if (l->cfg.query_norm != UM_QUERY_NORM_NONE) {
        l->norm_w = add_param(reg, prefix, "query_norm.weight", g_plain, 2, (int[]){H, Dk});
        param_fill(l->norm_w, 1);
    }
    if (l->cfg.query_norm == UM_QUERY_NORM_LAYERNORM)
        l->norm_b = add_param(reg, prefix, "query_norm.bias", g_plain, 2, (int[]){H, Dk});  // zeros
    // Sub-keys U(-1/sqrt(half), 1/sqrt(half)) as in XLM: with a unit-variance
    // normalised query each side score then has variance 1/3, so the softmax
    // over the k best starts neither flat nor one-hot.
    l->keys = add_param(reg, prefix, "keys", g_plain, 4, (int[]){H, 2, n, l->half});
    param_uniform(l->keys, rng, (real)(1.0 / sqrt((double)l->half)));
    // Values N(0, D^-1/2) (XLM).
    l->values = add_param(reg, prefix, "values", g_values, 2, (int[]){l->n_slots, D});
    param_normal(l->values, rng, (real)(1.0 / sqrt((double)D)));

    size_t NQ = (size_t)max_tokens * H * Dk, NH = (size_t)max_tokens * H, NK = NH * k;
    l->q = alloc_reals(NQ);
    l->qn = alloc_reals(NQ);
    l->nmean = alloc_reals(NH);
    l->nrstd = alloc_reals(NH);
    l->slots = um_alloc(NK * sizeof(int));
    l->scores = alloc_reals(NK);
    l->weights = alloc_reals(NK);
    int chunk = max_tokens < PKM_CHUNK ? max_tokens : PKM_CHUNK;
    l->side = alloc_reals((size_t)H * 2 * chunk * n);
    l->dscores = alloc_reals(NK);
    l->dqn = alloc_reals(NQ);
    l->dq = alloc_reals(NQ);
    l->slot_start = um_alloc(((size_t)l->n_slots + 1) * sizeof(int));
    l->slot_reads = um_alloc(NK * sizeof(int));
    pk_search_alloc(&l->probe_ws, n, l->half, k);
}

void um_pkm_free(UmPkm *l) {
    um_free(l->q);
    um_free(l->qn);
    um_free(l->nmean);
    um_free(l->nrstd);
    um_free(l->slots);
    um_free(l->scores);
    um_free(l->weights);
    um_free(l->side);
    um_free(l->dscores);
    um_free(l->dqn);
    um_free(l->dq);
    um_free(l->slot_start);
    um_free(l->slot_reads);
    pk_search_free(&l->probe_ws);
    memset(l, 0, sizeof *l);  // parameters belong to the registry
}

// ---------------------------------------------------------------- query norm
// Why normalise: without it the queries drift into a small region of key
// space and most slots are never read (Lample et al. fix this with BatchNorm
// on the query). Why NOT BatchNorm here: its statistics are taken over all
// B*T positions of the batch, so the query of token t would depend on tokens
// after t -- a leak of the future in a causal LM, and a train/eval mismatch.
// A per-head LayerNorm/RMSNorm uses only the token's own query: causal-safe.

// q (Dk) -> y (Dk), for one (token, head); writes mean, rstd
static void norm_one(real *y, real *mean_out, real *rstd_out, const real *q, const real *w, const real *b, int Dk,
                     UmQueryNormKind kind) {
    if (kind == UM_QUERY_NORM_NONE) {
        memcpy(y, q, (size_t)Dk * sizeof(real));
        return;
    }
    real mean = 0;
    if (kind == UM_QUERY_NORM_LAYERNORM) {
        for (int c = 0; c < Dk; c++) mean += q[c];
        mean /= Dk;
    }
    real ss = 0;
    for (int c = 0; c < Dk; c++) ss += (q[c] - mean) * (q[c] - mean);
    real eps = kind == UM_QUERY_NORM_LAYERNORM ? (real)1e-5 : (real)1e-6;
    real rstd = (real)(1.0 / sqrt((double)(ss / Dk + eps)));
    for (int c = 0; c < Dk; c++) y[c] = (q[c] - mean) * rstd * w[c] + (b ? b[c] : 0);
    *mean_out = mean;
    *rstd_out = rstd;
}

// Forward was: y = xhat * w + b, xhat = (q - mean) * rstd (mean = 0 for RMSNorm); so
//   dw += dy * xhat, db += dy, dxhat = dy * w,
//   dq = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))   (no mean(dxhat) term for RMSNorm)
// dq is overwritten.
static void norm_one_backward(real *dq, real *dw, real *db, const real *dy, const real *q, const real *w,
                              real mean, real rstd, int Dk, UmQueryNormKind kind) {
    if (kind == UM_QUERY_NORM_NONE) {
        memcpy(dq, dy, (size_t)Dk * sizeof(real));
        return;
    }
    real m_dxhat = 0, m_dxhat_xhat = 0;
    for (int c = 0; c < Dk; c++) {
        real xhat = (q[c] - mean) * rstd;
        real dxhat = dy[c] * w[c];
        m_dxhat += dxhat;
        m_dxhat_xhat += dxhat * xhat;
        dw[c] += dy[c] * xhat;
        if (db) db[c] += dy[c];
    }
    m_dxhat /= Dk;
    m_dxhat_xhat /= Dk;
    if (kind == UM_QUERY_NORM_RMSNORM) m_dxhat = 0;
    for (int c = 0; c < Dk; c++) {
        real xhat = (q[c] - mean) * rstd;
        dq[c] = rstd * (dy[c] * w[c] - m_dxhat - xhat * m_dxhat_xhat);
    }
}

// q (N, H*Dk) -> qn (N, H*Dk)
static void query_norm_forward(UmPkm *l, int N) {
    int H = l->cfg.H, Dk = l->cfg.Dk;
    const real *w = l->norm_w ? l->norm_w->data : NULL, *b = l->norm_b ? l->norm_b->data : NULL;
#pragma omp parallel for
    for (int th = 0; th < N * H; th++) {
        int h = th % H;
        size_t off = (size_t)th * Dk;
        norm_one(l->qn + off, &l->nmean[th], &l->nrstd[th], l->q + off, w ? w + (size_t)h * Dk : NULL,
                 b ? b + (size_t)h * Dk : NULL, Dk, l->cfg.query_norm);
    }
}

// ---------------------------------------------------------------- search
static const real *head_keys(const UmPkm *l, const real *keys, int h, int side) {
    return keys + ((size_t)h * 2 + side) * l->cfg.n * l->half;
}

// s (k) -> w (k) = softmax(s); s is sorted best first, so s[0] is the max.
static void softmax_sorted(real *w, const real *s, int k) {
    real sum = 0;
    for (int j = 0; j < k; j++) {
        w[j] = (real)exp((double)(s[j] - s[0]));
        sum += w[j];
    }
    for (int j = 0; j < k; j++) w[j] /= sum;
}

// A chunk's side scores, (H, 2, T, n) for T tokens: head h, side 0/1.
static real *chunk_side(const UmPkm *l, int T, int h, int side) {
    return l->side + ((size_t)h * 2 + side) * T * l->cfg.n;
}

// The matmul sums the side scores in another order (and with FMA) than
// pk_side_scores. The matmul's scores choose the k slots; their scores are
// then recomputed with pk_side_scores, so they are exactly what a plain
// pk_search gives (UltraMem's all-tricks-off rung does the same and is
// tested to equal PKM). 2k dots of Dk/2, against the 2n of the search.
static void rescore(const UmPkm *l, real *scores, const int *slots, size_t th, int h) {
    int n = l->cfg.n, half = l->half;
    const real *q1 = l->qn + th * l->cfg.Dk, *K1 = head_keys(l, l->keys->data, h, 0),
               *K2 = head_keys(l, l->keys->data, h, 1);
    for (int j = 0; j < l->cfg.k; j++) {
        real s1, s2;
        pk_side_scores(&s1, q1, K1 + (size_t)(slots[j] / n) * half, 1, half);
        pk_side_scores(&s2, q1 + half, K2 + (size_t)(slots[j] % n) * half, 1, half);
        scores[j] = s1 + s2;
    }
}

// qn (N, H*Dk) -> slots, scores, weights (N, H, k). Per chunk of T tokens,
// each head's side scores are one matrix product with its sub-keys, S (T, n)
// = Q_h,side (T, half) @ K_h,side^T (memory/product_keys.h); then each
// (token, head) picks its slots from its rows.
static void search_all(UmPkm *l, int N) {
    int H = l->cfg.H, Dk = l->cfg.Dk, k = l->cfg.k, n = l->cfg.n, half = l->half;
    for (int t0 = 0; t0 < N; t0 += PKM_CHUNK) {
        int T = N - t0 < PKM_CHUNK ? N - t0 : PKM_CHUNK;
        for (int h = 0; h < H; h++)
            for (int side = 0; side < 2; side++)
                pk_side_scores_batch(chunk_side(l, T, h, side), l->qn + (size_t)t0 * H * Dk + h * Dk + side * half,
                                     H * Dk, head_keys(l, l->keys->data, h, side), T, n, half);
#pragma omp parallel
        {
            UmPkSearch ws;  // one workspace per thread
            pk_search_alloc(&ws, n, half, k);
#pragma omp for
            for (int r = 0; r < T * H; r++) {
                int t = r / H, h = r % H;
                size_t o = ((size_t)t0 * H + r) * k;
                pk_select(&ws, l->slots + o, l->scores + o, chunk_side(l, T, h, 0) + (size_t)t * n,
                          chunk_side(l, T, h, 1) + (size_t)t * n);
                rescore(l, l->scores + o, l->slots + o, (size_t)t0 * H + r, h);
                softmax_sorted(l->weights + o, l->scores + o, k);
            }
            pk_search_free(&ws);
        }
    }
}

// slots, weights (N, H, k), V (n*n, D) -> out (N, D): out[t] = sum_h sum_j w V[slot]
static void read_values(UmPkm *l, real *out, int N) {
    int D = l->D, HK = l->cfg.H * l->cfg.k;
    const real *V = l->values->data;
#pragma omp parallel for
    for (int t = 0; t < N; t++) {
        real *y = out + (size_t)t * D;
        memset(y, 0, (size_t)D * sizeof(real));
        vec_gather_rows(y, l->weights + (size_t)t * HK, l->slots + (size_t)t * HK, HK, V, D);
    }
}

// Only when a probe is attached: redo the chosen query's search with the
// layer's own workspace (cheaper than making every thread keep its grids),
// and count every read of this batch.
static void fill_probe(UmPkm *l, int N) {
    UmRetrievalProbe *p = l->probe;
    int H = l->cfg.H, k = l->cfg.k;
    um_retrieval_probe_count_reads(p, l->slots, N * H * k);
    if (p->token < 0 || p->token >= N || p->head < 0 || p->head >= H) return;
    size_t th = (size_t)p->token * H + p->head;
    const real *q1 = l->qn + th * l->cfg.Dk;
    int slots[k];
    real scores[k];
    pk_search(&l->probe_ws, slots, scores, q1, q1 + l->half, head_keys(l, l->keys->data, p->head, 0),
              head_keys(l, l->keys->data, p->head, 1));
    um_retrieval_probe_record(p, &l->probe_ws, l->slots + th * k, l->scores + th * k, l->weights + th * k);
}

void um_pkm_forward(UmPkm *l, real *out, const real *inp, int N) {
    if (N < 1 || N > l->max_tokens) um_die(UM_EXIT_USAGE, "pkm: %d tokens, sized for 1..%d", N, l->max_tokens);
    l->N = N;
    int HDk = l->cfg.H * l->cfg.Dk;
    matmul_forward(l->q, inp, l->wq->data, l->bq ? l->bq->data : NULL, N, l->D, HDk);
    query_norm_forward(l, N);
    search_all(l, N);
    read_values(l, out, N);
    if (l->probe) fill_probe(l, N);
}

// ---------------------------------------------------------------- backward
// Forward was: y = sum_j w_j V[slot_j], w = softmax(s); so
//   g_j = <dy, V[slot_j]>,  ds_j = w_j (g_j - sum_l w_l g_l)
static void score_grads(UmPkm *l, const real *dout, int N) {
    int D = l->D, H = l->cfg.H, k = l->cfg.k;
    const real *V = l->values->data;
#pragma omp parallel for
    for (int th = 0; th < N * H; th++) {
        const real *dy = dout + (size_t)(th / H) * D;
        const real *w = l->weights + (size_t)th * k;
        const int *slot = l->slots + (size_t)th * k;
        real *ds = l->dscores + (size_t)th * k;
        real wg = 0;
        for (int j = 0; j < k; j++) {
            // a plain dot, not vec_dot: UltraMem's PKM-like rung is tested to
            // give these gradients in this order of the sums
            const real *v = V + (size_t)slot[j] * D;
            real g = 0;
            for (int c = 0; c < D; c++) g += dy[c] * v[c];
            ds[j] = g;
            wg += w[j] * g;
        }
        for (int j = 0; j < k; j++) ds[j] = w[j] * (ds[j] - wg);
    }
}

// Forward was: y[t] += w * V[slot]; so dV[slot] += w * dy[t].
// Many reads hit the same row, so a parallel loop over reads would race.
// Instead a counting sort groups the reads by slot (keeping their order:
// token, head, rank), and each thread owns whole rows. Every row sums its
// contributions in the same order whatever the thread count: bit-identical.
static void value_grads(UmPkm *l, const real *dout, int N) {
    int D = l->D, reads = N * l->cfg.H * l->cfg.k, HK = l->cfg.H * l->cfg.k, S = l->n_slots;
    int *start = l->slot_start, *list = l->slot_reads;
    memset(start, 0, ((size_t)S + 1) * sizeof(int));
    for (int r = 0; r < reads; r++) start[l->slots[r] + 1]++;
    for (int s = 0; s < S; s++) start[s + 1] += start[s];
    for (int r = 0; r < reads; r++) list[start[l->slots[r]]++] = r;  // start[s] now = end of s
    for (int s = S; s > 0; s--) start[s] = start[s - 1];             // shift back to starts
    start[0] = 0;
    real *dV = l->values->grad;
#pragma omp parallel for schedule(dynamic, 64)
    for (int s = 0; s < S; s++) {
        real *dv = dV + (size_t)s * D;
        for (int i = start[s]; i < start[s + 1]; i++) {
            int r = list[i];
            real w = l->weights[r];  // plain loop, not vec_axpy (FMA): see score_grads
            const real *dy = dout + (size_t)(r / HK) * D;
            for (int c = 0; c < D; c++) dv[c] += w * dy[c];
        }
    }
}

// (The forward scores a chunk of tokens with one matrix product per head and
// side; the backward stays per query with pk_backward: it is a small part of
// the step, and this order of the sums is the one UltraMem's all-tricks-off
// test compares against.)
// Per head (so each head's sub-keys and norm weights have one owner thread;
// tokens run in order inside a head, which keeps sums deterministic):
// scores -> normalised query and sub-keys (pk_backward), then through the norm.
static void key_and_query_grads(UmPkm *l, int N) {
    int H = l->cfg.H, Dk = l->cfg.Dk, k = l->cfg.k, n = l->cfg.n, half = l->half;
    const real *keys = l->keys->data;
    real *dkeys = l->keys->grad;
    const real *nw = l->norm_w ? l->norm_w->data : NULL;
#pragma omp parallel for
    for (int h = 0; h < H; h++) {
        real *dnw = l->norm_w ? l->norm_w->grad + (size_t)h * Dk : NULL;
        real *dnb = l->norm_b ? l->norm_b->grad + (size_t)h * Dk : NULL;
        for (int t = 0; t < N; t++) {
            size_t th = (size_t)t * H + h;
            real *dqn = l->dqn + th * Dk;
            const real *qn = l->qn + th * Dk;
            memset(dqn, 0, (size_t)Dk * sizeof(real));
            pk_backward(dqn, dqn + half, (real *)head_keys(l, dkeys, h, 0), (real *)head_keys(l, dkeys, h, 1),
                        l->dscores + th * k, l->slots + th * k, qn, qn + half, head_keys(l, keys, h, 0),
                        head_keys(l, keys, h, 1), n, half, k);
            norm_one_backward(l->dq + th * Dk, dnw, dnb, dqn, l->q + th * Dk, nw ? nw + (size_t)h * Dk : NULL,
                              l->nmean[th], l->nrstd[th], Dk, l->cfg.query_norm);
        }
    }
}

void um_pkm_backward(UmPkm *l, real *dinp, const real *dout, const real *inp, int N) {
    if (N != l->N) um_die(UM_EXIT_USAGE, "pkm: backward on %d tokens after a forward on %d", N, l->N);
    score_grads(l, dout, N);
    value_grads(l, dout, N);
    key_and_query_grads(l, N);
    // Forward was: q = inp @ Wq^T + bq
    matmul_backward(dinp, l->wq->grad, l->bq ? l->bq->grad : NULL, l->dq, inp, l->wq->data, N, l->D,
                    l->cfg.H * l->cfg.Dk);
}

// ---------------------------------------------------------------- accounting
// Per token: the whole query network and every sub-key (all 2n sub-keys of
// every head are scored), but only H*k value rows.
size_t um_pkm_activated_params(const UmPkm *l) {
    size_t H = (size_t)l->cfg.H;
    size_t p = l->wq->numel + (l->bq ? l->bq->numel : 0);
    p += (l->norm_w ? l->norm_w->numel : 0) + (l->norm_b ? l->norm_b->numel : 0);
    p += l->keys->numel;
    p += H * (size_t)l->cfg.k * (size_t)l->D;
    return p;
}

// Multiply-adds count 2, plain adds 1; norms, top-k comparisons and the
// softmax are left out (O(H*(Dk + n + k^2)) and small).
double um_pkm_flops_per_token(const UmPkm *l) {
    double H = l->cfg.H, Dk = l->cfg.Dk, n = l->cfg.n, k = l->cfg.k, D = l->D;
    double query = 2 * D * H * Dk;
    double scoring = 2 * H * n * Dk;  // n row + n column dot products of Dk/2
    double grid = H * k * k;          // s1[a] + s2[b] for the k x k candidates
    double read = 2 * H * k * D;
    return query + scoring + grid + read;
}

void um_pkm_stats_accumulate(const UmPkm *l, UmMemStats *stats) {
    um_mem_stats_add(stats, l->slots, l->weights, l->scores, l->N * l->cfg.H, l->cfg.k);
}
