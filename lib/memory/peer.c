// peer.c: see peer.h. Forward: query, norm, product-key search, softmax,
// single-neuron experts. Backward undoes them in reverse order.
#include "memory/peer.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/error.h"
#include "kernels/matmul.h"
#include "kernels/vec.h"
#include "nn/gelu.h"
#include "nn/layernorm.h"

// Tokens whose side scores are computed together: one matrix product per
// side over PEER_CHUNK*H queries, small enough to stay in cache.
#define PEER_CHUNK 256

UmPeerConfig um_peer_config_default(void) {
    UmPeerConfig c = {0};
    c.n = 32;
    c.H = 8;   // [PAPER] 8 heads
    c.Dk = 32;
    c.k = 16;  // [PAPER] 16 experts per head
    c.query_norm = 1;
    c.value_lr_mult = 1;  // Meta's variant trains the experts at the base lr
    c.weight_decay = (real)0.1;
    return c;
}

static UmParam *add_param(UmParamRegistry *reg, const char *prefix, const char *name, int group, int ndim,
                          const int *shape) {
    char full[UM_NAME_LEN + 64];
    snprintf(full, sizeof full, "%s%s", prefix ? prefix : "", name);
    if (strlen(full) >= UM_NAME_LEN) um_die(UM_EXIT_USAGE, "peer: parameter name too long: %s", full);
    return params_add(reg, full, group, ndim, shape);
}

static void *alloc_reals(size_t n) { return um_alloc((n ? n : 1) * sizeof(real)); }

void um_peer_init(UmPeer *l, const UmPeerConfig *cfg, int D, int max_tokens, UmParamRegistry *reg, UmRng *rng,
                  const char *prefix) {
    memset(l, 0, sizeof *l);
    l->cfg = *cfg;
    const UmPeerConfig *c = &l->cfg;
    if (D < 1 || max_tokens < 1) um_die(UM_EXIT_USAGE, "peer: D=%d and max_tokens=%d must be >= 1", D, max_tokens);
    if (c->n < 1 || c->H < 1 || c->k < 1 || c->k > c->n) um_die(UM_EXIT_USAGE, "peer: need n, H >= 1 and 1 <= k <= n");
    if (c->Dk < 2 || c->Dk % 2) um_die(UM_EXIT_USAGE, "peer: query dim Dk=%d must be even and >= 2", c->Dk);
    if ((long)c->n * c->n > 0x7fffffffL / 2) um_die(UM_EXIT_USAGE, "peer: n=%d gives too many experts", c->n);
    int H = c->H, Dk = c->Dk, n = c->n;
    l->D = D, l->max_tokens = max_tokens, l->half = Dk / 2, l->n_slots = n * n;
    int g_decay = params_group(reg, "decay", 1, c->weight_decay);
    int g_plain = params_group(reg, "no_decay", 1, 0);
    int g_values = params_group(reg, "memory_values", c->value_lr_mult, 0);
    l->wq = add_param(reg, prefix, "query.weight", g_decay, 2, (int[]){H * Dk, D});
    param_uniform(l->wq, rng, (real)(1 / sqrt((double)D)));  // PyTorch Linear default
    if (c->query_norm) {
        l->norm_w = add_param(reg, prefix, "query_norm.weight", g_plain, 1, (int[]){Dk});
        param_fill(l->norm_w, 1);
    }
    // Sub-keys as PKM's: U(-1/sqrt(half), 1/sqrt(half)).
    l->keys = add_param(reg, prefix, "keys", g_plain, 3, (int[]){2, n, l->half});
    param_uniform(l->keys, rng, (real)(1 / sqrt((double)l->half)));
    // Experts N(0, D^-1/2) (Meta's PEER variant; lucidrains leaves N(0, 1),
    // far too large): <u, x> then has unit variance for a normalised x.
    l->up = add_param(reg, prefix, "experts_up", g_values, 2, (int[]){l->n_slots, D});
    l->down = add_param(reg, prefix, "experts_down", g_values, 2, (int[]){l->n_slots, D});
    param_normal(l->up, rng, (real)(1 / sqrt((double)D)));
    param_normal(l->down, rng, (real)(1 / sqrt((double)D)));
    size_t NQ = (size_t)max_tokens * H * Dk, NK = (size_t)max_tokens * H * c->k;
    l->q = alloc_reals(NQ), l->qn = alloc_reals(NQ), l->q_rstd = alloc_reals((size_t)max_tokens * H);
    l->slots = um_alloc(NK * sizeof(int));
    l->scores = alloc_reals(NK), l->gates = alloc_reals(NK), l->pre = alloc_reals(NK), l->hid = alloc_reals(NK);
    l->gh = alloc_reals(NK);
    int chunk = max_tokens < PEER_CHUNK ? max_tokens : PEER_CHUNK;
    l->side = alloc_reals((size_t)2 * chunk * H * n);
    l->dscores = alloc_reals(NK), l->dpre = alloc_reals(NK), l->dqn = alloc_reals(NQ), l->dq = alloc_reals(NQ);
    l->slot_start = um_alloc(((size_t)l->n_slots + 1) * sizeof(int));
    l->slot_reads = um_alloc(NK * sizeof(int));
    pk_search_alloc(&l->probe_ws, n, l->half, c->k);
}

void um_peer_free(UmPeer *l) {
    real *reals[] = {l->q,  l->qn,   l->q_rstd,  l->scores, l->gates, l->pre, l->hid,
                     l->gh, l->side, l->dscores, l->dpre,   l->dqn,   l->dq};
    for (size_t i = 0; i < sizeof reals / sizeof reals[0]; i++) um_free(reals[i]);
    um_free(l->slots), um_free(l->slot_start), um_free(l->slot_reads);
    pk_search_free(&l->probe_ws);
    memset(l, 0, sizeof *l);
}

// ---------------------------------------------------------------- forward

// Only when a probe is attached: redo the chosen query's search from the
// side scores search_all kept for it, with the layer's own workspace (the
// threads' workspaces are gone), and count every read of this batch. The
// gates are the softmax weights of the k experts.
static void fill_probe(UmPeer *l, int N) {
    UmRetrievalProbe *p = l->probe;
    int H = l->cfg.H, k = l->cfg.k;
    um_retrieval_probe_count_reads(p, l->slots, N * H * k);
    if (p->token < 0 || p->token >= N || p->head < 0 || p->head >= H) return;
    size_t th = (size_t)p->token * H + p->head;
    int slots[k];
    real scores[k];
    pk_search_scored(&l->probe_ws, slots, scores);
    um_retrieval_probe_record(p, &l->probe_ws, l->slots + th * k, l->scores + th * k, l->gates + th * k);
}

// qn (N, H*Dk) -> slots, scores, gates (N, H, k). The keys are shared by all
// heads, so a chunk's queries (tokens x heads) are the rows of one matrix
// and each side is one product with the sub-keys (memory/product_keys.h).
static void search_all(UmPeer *l, int N) {
    int H = l->cfg.H, Dk = l->cfg.Dk, k = l->cfg.k, n = l->cfg.n, half = l->half;
    const real *K1 = l->keys->data, *K2 = K1 + (size_t)n * half;
    for (int t0 = 0; t0 < N; t0 += PEER_CHUNK) {
        int R = (N - t0 < PEER_CHUNK ? N - t0 : PEER_CHUNK) * H;
        const real *Q = l->qn + (size_t)t0 * H * Dk;
        real *S1 = l->side, *S2 = S1 + (size_t)R * n;
        pk_side_scores_batch(S1, Q, Dk, K1, R, n, half);
        pk_side_scores_batch(S2, Q + half, Dk, K2, R, n, half);
        UmRetrievalProbe *p = l->probe;
        if (p && p->token >= t0 && p->token < t0 + R / H && p->head >= 0 && p->head < H) {
            // keep the probed query's side scores for fill_probe (the buffer is reused)
            size_t r = (size_t)(p->token - t0) * H + p->head;
            memcpy(l->probe_ws.s1, S1 + r * n, (size_t)n * sizeof(real));
            memcpy(l->probe_ws.s2, S2 + r * n, (size_t)n * sizeof(real));
        }
#pragma omp parallel
        {
            UmPkSearch ws;
            pk_search_alloc(&ws, n, half, k);
#pragma omp for
            for (int r = 0; r < R; r++) {
                size_t o = ((size_t)t0 * H + r) * k;
                pk_select(&ws, l->slots + o, l->scores + o, S1 + (size_t)r * n, S2 + (size_t)r * n);
                // softmax over the k (scores sorted best first: [0] is the max)
                real sum = 0;
                for (int j = 0; j < k; j++) sum += l->gates[o + j] = (real)exp((double)(l->scores[o + j] - l->scores[o]));
                for (int j = 0; j < k; j++) l->gates[o + j] /= sum;
            }
            pk_search_free(&ws);
        }
    }
}

// slots, gates (N, H, k), x (N, D) -> y (N, D) = sum_j g_j gelu(<U[slot_j], x>) V[slot_j]
static void run_experts(UmPeer *l, real *out, const real *inp, int N) {
    int D = l->D, Hk = l->cfg.H * l->cfg.k;
    const real *U = l->up->data, *V = l->down->data;
#pragma omp parallel for
    for (int t = 0; t < N; t++) {
        const real *x = inp + (size_t)t * D;
        for (int r = t * Hk; r < (t + 1) * Hk; r++) l->pre[r] = vec_dot(U + (size_t)l->slots[r] * D, x, D);
    }
    gelu_forward(l->hid, l->pre, (size_t)N * Hk);
#pragma omp parallel for
    for (int t = 0; t < N; t++) {
        size_t o = (size_t)t * Hk;
        for (int r = 0; r < Hk; r++) l->gh[o + r] = l->gates[o + r] * l->hid[o + r];
        real *y = out + (size_t)t * D;
        memset(y, 0, (size_t)D * sizeof(real));
        vec_gather_rows(y, l->gh + o, l->slots + o, Hk, V, D);
    }
}

void um_peer_forward(UmPeer *l, real *out, const real *inp, int N) {
    if (N < 1 || N > l->max_tokens) um_die(UM_EXIT_USAGE, "peer: %d tokens, sized for 1..%d", N, l->max_tokens);
    l->N = N;
    l->aux_loss = 0;
    int H = l->cfg.H, Dk = l->cfg.Dk, D = l->D;
    matmul_forward(l->q, inp, l->wq->data, NULL, N, D, H * Dk);
    if (l->norm_w)
        rmsnorm_forward(l->qn, l->q_rstd, l->q, l->norm_w->data, N * H, Dk);
    else
        memcpy(l->qn, l->q, (size_t)N * H * Dk * sizeof(real));
    search_all(l, N);
    run_experts(l, out, inp, N);
    if (l->probe) fill_probe(l, N);
}

// ---------------------------------------------------------------- backward

// Forward was: y = sum_j g_j h_j v_j, h_j = gelu(a_j), a_j = <u_j, x>,
// g = softmax(s); so with c_j = <dy, v_j>:
//   dg_j = h_j c_j,  ds_j = g_j (dg_j - sum_l g_l dg_l)
//   da_j = g_j c_j gelu'(a_j),  dx += da_j u_j
static void token_grads(UmPeer *l, real *dinp, const real *dout, int N) {
    int H = l->cfg.H, k = l->cfg.k, D = l->D, Hk = H * k;
    const real *U = l->up->data, *V = l->down->data;
#pragma omp parallel for
    for (int t = 0; t < N; t++) {
        const real *dy = dout + (size_t)t * D;
        size_t o_t = (size_t)t * Hk;
        for (int h = 0; h < H; h++) {
            size_t o = o_t + (size_t)h * k;
            real gdg = 0;
            for (int j = 0; j < k; j++) {
                real cj = vec_dot(dy, V + (size_t)l->slots[o + j] * D, D);
                real dg = l->hid[o + j] * cj;
                l->dscores[o + j] = dg;
                gdg += l->gates[o + j] * dg;
                l->dpre[o + j] = l->gates[o + j] * cj * gelu_derivative(l->pre[o + j]);
            }
            for (int j = 0; j < k; j++) l->dscores[o + j] = l->gates[o + j] * (l->dscores[o + j] - gdg);
        }
        // dx += sum_j da_j U[slot_j]
        vec_gather_rows(dinp + (size_t)t * D, l->dpre + o_t, l->slots + o_t, Hk, U, D);
    }
}

// Forward was: y += g h V[slot], a = <U[slot], x>; so
//   dV[slot] += g h dy,  dU[slot] += da x.
// Reads grouped by slot (counting sort), one owner thread per slot.
static void expert_grads(UmPeer *l, const real *dout, const real *inp, int N) {
    int D = l->D, Hk = l->cfg.H * l->cfg.k, reads = N * Hk, S = l->n_slots;
    int *start = l->slot_start, *list = l->slot_reads;
    memset(start, 0, ((size_t)S + 1) * sizeof(int));
    for (int i = 0; i < reads; i++) start[l->slots[i] + 1]++;
    for (int s = 0; s < S; s++) start[s + 1] += start[s];
    for (int i = 0; i < reads; i++) list[start[l->slots[i]]++] = i;
    for (int s = S; s > 0; s--) start[s] = start[s - 1];
    start[0] = 0;
#pragma omp parallel for schedule(dynamic, 64)
    for (int s = 0; s < S; s++) {
        real *dv = l->down->grad + (size_t)s * D, *du = l->up->grad + (size_t)s * D;
        for (int i = start[s]; i < start[s + 1]; i++) {
            int rd = list[i], t = rd / Hk;
            const real *dy = dout + (size_t)t * D, *x = inp + (size_t)t * D;
            // forward was: y += (g h) V[slot], a = <U[slot], x>
            vec_axpy(dv, l->gh[rd], dy, D);
            vec_axpy(du, l->dpre[rd], x, D);
        }
    }
}

void um_peer_backward(UmPeer *l, real *dinp, const real *dout, const real *inp, int N) {
    if (N != l->N) um_die(UM_EXIT_USAGE, "peer: backward on %d tokens after a forward on %d", N, l->N);
    int H = l->cfg.H, Dk = l->cfg.Dk, k = l->cfg.k, n = l->cfg.n, half = l->half;
    token_grads(l, dinp, dout, N);
    expert_grads(l, dout, inp, N);
    // Forward was: s_j = S1[row_j] + S2[col_j], S1 = Q1 @ K1^T, S2 = Q2 @ K2^T
    // over a chunk of queries; so scatter ds onto the side scores, then two
    // matrix products per side give dQ and dK (memory/product_keys.h).
    const real *K1 = l->keys->data, *K2 = K1 + (size_t)n * half;
    real *dK1 = l->keys->grad, *dK2 = dK1 + (size_t)n * half;
    memset(l->dqn, 0, (size_t)N * H * Dk * sizeof(real));
    for (int t0 = 0; t0 < N; t0 += PEER_CHUNK) {
        int R = (N - t0 < PEER_CHUNK ? N - t0 : PEER_CHUNK) * H;
        size_t r0 = (size_t)t0 * H;
        real *dS1 = l->side, *dS2 = dS1 + (size_t)R * n;
        memset(dS1, 0, (size_t)2 * R * n * sizeof(real));
#pragma omp parallel for
        for (int r = 0; r < R; r++)
            pk_select_backward(dS1 + (size_t)r * n, dS2 + (size_t)r * n, l->dscores + (r0 + r) * k,
                               l->slots + (r0 + r) * k, n, k);
        const real *Q = l->qn + r0 * Dk;
        real *dQ = l->dqn + r0 * Dk;
        pk_side_scores_batch_backward(dQ, Dk, dK1, dS1, Q, Dk, K1, R, n, half);
        pk_side_scores_batch_backward(dQ + half, Dk, dK2, dS2, Q + half, Dk, K2, R, n, half);
    }
    const real *dq = l->dqn;
    if (l->norm_w) {
        memset(l->dq, 0, (size_t)N * H * Dk * sizeof(real));
        rmsnorm_backward(l->dq, l->norm_w->grad, l->dqn, l->q, l->norm_w->data, l->q_rstd, N * H, Dk);
        dq = l->dq;
    }
    // Forward was: q = inp @ Wq^T
    matmul_backward(dinp, l->wq->grad, NULL, dq, inp, l->wq->data, N, l->D, H * Dk);
}

// ---------------------------------------------------------------- accounting

size_t um_peer_activated_params(const UmPeer *l) {
    size_t p = l->wq->numel + (l->norm_w ? l->norm_w->numel : 0) + l->keys->numel;
    return p + (size_t)l->cfg.H * l->cfg.k * 2 * l->D;
}

// Multiply-adds 2, adds 1; norms, top-k and exp left out.
double um_peer_flops_per_token(const UmPeer *l) {
    double H = l->cfg.H, Dk = l->cfg.Dk, n = l->cfg.n, k = l->cfg.k, D = l->D;
    double query = 2 * D * H * Dk;
    double scoring = 2 * H * n * Dk;  // n row + n column dot products of Dk/2, per head
    double grid = H * k * k;
    double experts = H * k * (2 * D + 2 * D);  // <u, x>, then g h v
    return query + scoring + grid + experts;
}

void um_peer_stats_accumulate(const UmPeer *l, UmMemStats *stats) {
    um_mem_stats_add(stats, l->slots, l->gates, l->scores, l->N * l->cfg.H, l->cfg.k);
}

unsigned long um_peer_selection_hash(const UmPeer *l) {
    unsigned long h = 1469598103934665603ul;
    for (int i = 0; i < l->N * l->cfg.H * l->cfg.k; i++) h = (h ^ (unsigned)l->slots[i]) * 1099511628211ul;
    return h;
}
