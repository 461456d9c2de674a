// ultramem_v2.c: see ultramem_v2.h. Forward: query, keys, search, PEER-style
// slot weights, pool, project. Backward undoes them in reverse order.
// [PAPER] = the V2 paper, [CODE] = the released UltraMemV2 code (HEAD),
// [CODE-later] = a later revision of it (see the research notes, section 3).
#include "memory/ultramem_v2.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/crc32.h"
#include "base/error.h"
#include "kernels/matmul.h"
#include "kernels/vec.h"
#include "memory/ive.h"
#include "memory/product_keys.h"
#include "memory/topk.h"
#include "nn/gelu.h"
#include "nn/layernorm.h"

#define CALIBRATION_TOKENS 512
// Tokens whose side scores are computed together, one matmul per (side,
// rank); bounds the score buffer (256 x 2 x 2 x 503 scores = 2 MB at the
// bench's size) so it stays in cache until the searches read it.
#define SCORE_CHUNK 256

UmUltraMemV2Config um_ultramem_v2_config_default(void) {
    UmUltraMemV2Config c = {0};
    c.n = 16;
    c.Dk = 16;
    c.m = 16;
    c.Dv = 0;
    c.Dp = 0;
    c.r = 2;
    c.cores = 2;
    c.per_rank_query = 1;  // [PAPER] "separate queries for each Tucker rank"
    c.gelu = 0;            // [PAPER] Eq. 15: no activation
    c.share_g = 1;
    c.layer = 0;
    c.n_layers = 4;
    c.calibrate_norm = 1;
    c.init_target_var = 0;
    c.value_init_std = 0;
    c.value_lr_schedule = UM_VALUE_LR_CONSTANT;  // [PAPER] 4.2.9: constant 1x wins long runs
    c.value_lr_mult = 1;
    c.value_lr_mult_end = 1;
    c.value_lr_decay_frac = 1;
    c.shuffle_seed = 0x5eed2;
    c.weight_decay = (real)0.1;
    return c;
}

double um_ultramem_v2_value_lr_mult(const UmUltraMemV2Config *cfg, int step, int total) {
    UmUltraMemConfig v1 = um_ultramem_config_default();  // V1's schedule, same maths
    v1.value_lr_schedule = cfg->value_lr_schedule;
    v1.value_lr_mult = cfg->value_lr_mult;
    v1.value_lr_mult_end = cfg->value_lr_mult_end;
    v1.value_lr_decay_frac = cfg->value_lr_decay_frac;
    return um_ultramem_value_lr_mult(&v1, step, total);
}

// ---------------------------------------------------------------- the V2 init (appendix A)

/* BEGIN EXERCISE 8.2 */
// Forward variance chain (values and pre-values ~ N(0, sv^2), independent):
//   one coordinate of t = A x          : a_gain
//   pre = <P[slot], t>                  : Dp a_gain sv^2
//   weight = s * pre                    : E[s^2] Dp a_gain sv^2
//   acc = sum of m*heads weight * V[slot]: m heads E[s^2] Dp a_gain sv^4
//   out = Wo acc                        : Dv w_var * (the line above)
// Set out's variance to target_var and solve for sv (a fourth root: sv
// enters twice, once through the pre-value and once through the value).
double um_ultramem_v2_value_std(double target_var, double score_sq, int m, int heads, int Dp, int Dv,
                                double a_gain, double w_var) {
    double per_sv4 = (double)m * heads * score_sq * Dp * a_gain * Dv * w_var;
    return pow(target_var / per_sv4, 0.25);
}
/* END EXERCISE 8.2 */

// E[gelu(z)^2] for z ~ N(0, var): midpoint rule over +-8 std (the tails
// past 8 std carry less than 1e-14 of the mass).
double um_gelu_mlp_output_var(int D, int F, double std1, double std2) {
    double var = D * std1 * std1, sd = sqrt(var), sum = 0;
    const int steps = 4000;
    double lo = -8 * sd, h = 16 * sd / steps;
    for (int i = 0; i < steps; i++) {
        double z = lo + (i + 0.5) * h;
        real zr = (real)z, g;
        gelu_forward(&g, &zr, 1);
        sum += (double)g * g * exp(-z * z / (2 * var)) * h;
    }
    double e_g2 = sum / sqrt(2 * 3.14159265358979323846 * var);
    return F * std2 * std2 * e_g2;
}

// ---------------------------------------------------------------- setup

static UmParam *add_param(UmParamRegistry *reg, const char *prefix, const char *name, int group, int ndim,
                          const int *shape) {
    char full[UM_NAME_LEN + 64];
    snprintf(full, sizeof full, "%s%s", prefix ? prefix : "", name);
    if (strlen(full) >= UM_NAME_LEN) um_die(UM_EXIT_USAGE, "ultramem_v2: parameter name too long: %s", full);
    return params_add(reg, full, group, ndim, shape);
}

static void resolve_config(UmUltraMemV2Config *c, int D, int max_tokens) {
    if (D < 1 || max_tokens < 1)
        um_die(UM_EXIT_USAGE, "ultramem_v2: D=%d and max_tokens=%d must be >= 1", D, max_tokens);
    if (c->Dv == 0) c->Dv = D / 4 > 0 ? D / 4 : 1;
    if (c->Dp == 0) c->Dp = c->Dv;
    if (c->n < 1 || c->m < 1 || c->Dk < 1 || c->Dv < 1 || c->Dp < 1)
        um_die(UM_EXIT_USAGE, "ultramem_v2: n, m, Dk, Dv and Dp must be >= 1");
    if (c->r < 1 || c->r > UM_TUCKER_MAX_RANK)
        um_die(UM_EXIT_USAGE, "ultramem_v2: Tucker rank r=%d, only 1 and 2 are supported", c->r);
    if (c->cores < 1 || c->Dv % c->cores)
        um_die(UM_EXIT_USAGE, "ultramem_v2: Dv=%d is not divisible by cores=%d", c->Dv, c->cores);
    int side = ive_side_factor(c->share_g);
    if (side < 0 || c->share_g > UM_V2_MAX_SHARE)
        um_die(UM_EXIT_USAGE, "ultramem_v2: share_g=%d must be 1, 4 or 9", c->share_g);
    if (c->n_layers < 1 || c->layer < 0 || c->layer >= c->n_layers)
        um_die(UM_EXIT_USAGE, "ultramem_v2: layer %d of %d", c->layer, c->n_layers);
    if (c->share_g > c->n_layers)
        um_die(UM_EXIT_USAGE, "ultramem_v2: share_g=%d tables but only %d layers", c->share_g, c->n_layers);
    if (c->m > side * c->n) um_die(UM_EXIT_USAGE, "ultramem_v2: top-m %d > %d keys per side", c->m, side * c->n);
    if ((long)c->share_g * c->n * c->n > 0x7fffffffL / 2) um_die(UM_EXIT_USAGE, "ultramem_v2: n=%d: too many slots", c->n);
}

static void *alloc_reals(size_t n) { return um_alloc((n ? n : 1) * sizeof(real)); }
static void *alloc_ints(size_t n) { return um_alloc((n ? n : 1) * sizeof(int)); }

static void alloc_cache(UmUltraMemV2 *l) {
    const UmUltraMemV2Config *c = &l->cfg;
    size_t N = (size_t)l->max_tokens, m = c->m, r = c->r, h = c->cores, Dk = c->Dk;
    size_t QD = 2 * (size_t)l->Rq * Dk, reads = N * m, key_rows = 2 * r * (size_t)l->Kn;
    l->q = alloc_reals(N * QD), l->qn = alloc_reals(N * QD), l->q_rstd = alloc_reals(N * 2 * l->Rq);
    l->khat = alloc_reals(key_rows * Dk), l->k_rstd = alloc_reals(key_rows), l->khat_t = alloc_reals(key_rows * Dk);
    l->virt = alloc_ints(reads), l->win = alloc_ints(reads);
    l->win_R = alloc_reals(reads * r), l->win_Q = alloc_reals(reads * r);
    l->total = alloc_reals(reads), l->score = alloc_reals(reads * h);
    l->tq = alloc_reals(N * c->Dp), l->pre = alloc_reals(reads), l->act = alloc_reals(reads);
    l->acc = alloc_reals(N * c->Dv);
    l->score_chunk = l->max_tokens < SCORE_CHUNK ? l->max_tokens : SCORE_CHUNK;
    l->q_side = alloc_reals((size_t)l->score_chunk * Dk);
    l->side_scores = alloc_reals(2 * r * (size_t)l->score_chunk * l->Kn);
    l->dacc = alloc_reals(N * c->Dv), l->dscore = alloc_reals(reads * h), l->dpre = alloc_reals(reads);
    l->dtq = alloc_reals(N * c->Dp), l->dR = alloc_reals(reads * r), l->dQ = alloc_reals(reads * r);
    l->dqn = alloc_reals(N * QD), l->dq = alloc_reals(N * QD), l->dkhat = alloc_reals(key_rows * Dk);
    l->row_start = alloc_ints((size_t)l->n_win + 1), l->row_reads = alloc_ints(reads);
    um_ultramem_search_alloc(&l->probe_ws, l->Kn, c->m, c->r, c->Dk);
}

void um_ultramem_v2_free(UmUltraMemV2 *l) {
    real *reals[] = {l->khat_t, l->q, l->qn, l->q_rstd, l->khat, l->k_rstd, l->win_R, l->win_Q, l->total,
                     l->score, l->tq,   l->pre,    l->act,  l->acc,    l->dacc,  l->dscore, l->dpre,
                     l->dtq,   l->dR,   l->dQ,     l->dqn,  l->dq,     l->dkhat, l->q_side, l->side_scores};
    for (size_t i = 0; i < sizeof reals / sizeof reals[0]; i++) um_free(reals[i]);
    um_free(l->shuffle), um_free(l->virt), um_free(l->win), um_free(l->row_start), um_free(l->row_reads);
    um_ultramem_search_free(&l->probe_ws);
    memset(l, 0, sizeof *l);  // parameters belong to the registry
}

void um_ultramem_v2_link_ring(UmUltraMemV2 **layers, int L) {
    for (int i = 0; i < L; i++) {
        UmUltraMemV2 *l = layers[i];
        int g = l->cfg.share_g, centre = (g - 1) / 2;
        if (l->cfg.n_layers != L || l->cfg.layer != i)
            um_die(UM_EXIT_USAGE, "ultramem_v2: ring of %d layers, layer %d thinks it is %d of %d", L, i, l->cfg.layer,
                   l->cfg.n_layers);
        for (int j = 0; j < g; j++) {
            // [PAPER] Sg-Ring: the window is centred on the layer and wraps
            // around ([CODE] looks forward only: l, l+1, ..., see the notes).
            const UmUltraMemV2 *o = layers[((i - centre + j) % L + L) % L];
            if (o->cfg.n != l->cfg.n || o->cfg.Dv != l->cfg.Dv || o->cfg.Dp != l->cfg.Dp)
                um_die(UM_EXIT_USAGE, "ultramem_v2: ring layers must share n, Dv and Dp");
            l->ring_pre[j] = o->pre_values, l->ring_values[j] = o->values;
        }
        l->linked = 1;
    }
}

// ---------------------------------------------------------------- forward steps

// keys / khat row block of (side, rank)
static real *khat_at(const UmUltraMemV2 *l, real *base, int side, int rho) {
    return base + (((size_t)side * l->cfg.r + rho) * l->Kn) * l->cfg.Dk;
}

static const real *core_at(const UmUltraMemV2 *l, int c) {
    return l->cores->data + (size_t)c * l->cfg.r * l->cfg.r;
}

// The query of (side, rank) for token t: per-rank queries are separate
// blocks; otherwise both ranks read the side's one query.
static size_t q_off(const UmUltraMemV2 *l, int t, int side, int rho) {
    int rq = l->cfg.per_rank_query ? rho : 0;
    return (((size_t)t * 2 + side) * l->Rq + rq) * l->cfg.Dk;
}

// Window row -> the table it lives in and the row there.
static void window_row(const UmUltraMemV2 *l, int w, const real **V, const real **P) {
    // no ring (share_g 1): the window is this layer's own table, and the
    // division (three per read in the pooling) is skipped
    int j = l->cfg.share_g == 1 ? 0 : w / l->n_tab, row = l->cfg.share_g == 1 ? w : w % l->n_tab;
    *V = l->ring_values[j]->data + (size_t)row * l->cfg.Dv;
    *P = l->ring_pre[j]->data + (size_t)row * l->cfg.Dp;
}

static void query_forward(UmUltraMemV2 *l, const real *inp, int N) {
    int QD = 2 * l->Rq * l->cfg.Dk;
    matmul_forward(l->q, inp, l->wq->data, NULL, N, l->D, QD);
    rmsnorm_forward(l->qn, l->q_rstd, l->q, l->qnorm_w->data, N * 2 * l->Rq, l->cfg.Dk);
}

static void prepare_keys_and_cores(UmUltraMemV2 *l) {
    int r = l->cfg.r;
    rmsnorm_forward(l->khat, l->k_rstd, l->keys->data, l->knorm_w->data, 2 * r * l->Kn, l->cfg.Dk);
    // each (side, rank) block transposed: the scoring gemm reads it in place, as B (Dk, Kn)
    for (int b = 0; b < 2 * r; b++)
        matrix_transpose(l->khat_t + (size_t)b * l->Kn * l->cfg.Dk, l->Kn, l->khat + (size_t)b * l->Kn * l->cfg.Dk,
                         l->cfg.Dk, l->Kn, l->cfg.Dk);
    tucker_core_sum(l->core_sum, l->cores->data, l->cfg.cores, r);
    tucker_svd(&l->svd, l->core_sum, r);
}

// The side scores of one token in the chunk buffer: (side, rank) block, row i.
static const real *chunk_scores(const UmUltraMemV2 *l, int side, int rho, int i) {
    return l->side_scores + ((((size_t)side * l->cfg.r + rho) * l->score_chunk) + (size_t)i) * l->Kn;
}

// Side scores of nt tokens from t0, one matmul per (side, rank):
//   side_scores[side, rho] (nt, Kn) = q[side][rho] (nt, Dk) @ khat[side, rho]^T
// Each key is read once per chunk, and the product runs at the SIMD
// kernel's speed (a dot per key and token was the layer's hottest loop).
static void score_chunk(UmUltraMemV2 *l, int t0, int nt) {
    int Dk = l->cfg.Dk;
    for (int side = 0; side < 2; side++)
        for (int rho = 0; rho < l->cfg.r; rho++) {
            for (int t = 0; t < nt; t++)
                memcpy(l->q_side + (size_t)t * Dk, l->qn + q_off(l, t0 + t, side, rho), (size_t)Dk * sizeof(real));
            if (nt <= 16)  // a decode step: keys streamed once, see um_score_keys_blocked
                um_score_keys_blocked((real *)chunk_scores(l, side, rho, 0), l->q_side, khat_at(l, l->khat, side, rho),
                                      nt, Dk, l->Kn);
            else  // q_side (nt, Dk) @ khat_t[side, rho] (Dk, Kn)
                matmul_views((real *)chunk_scores(l, side, rho, 0), (size_t)l->Kn,
                             (UmMatView){l->q_side, (size_t)Dk, 1},
                             (UmMatView){khat_at(l, l->khat_t, side, rho), (size_t)l->Kn, 1}, nt, l->Kn, Dk, 0);
        }
}

// One token's search (V1's TDQKR, with a query per rank) from its side
// scores, row i of the chunk: fills ws (not its S_row, S_col), virt (m), total (m).
static void search_one(const UmUltraMemV2 *l, UmUltraMemSearch *ws, int *virt, real *total, int i) {
    int Kn = l->Kn, m = l->cfg.m, r = l->cfg.r;
    // the separable selection scores u.S_row, t.S_col (rank-1 part of the core)
    if (r == 2) {  // one pass, the same bits as zeroing and two axpys
        const double *u = l->svd.u, *tv = l->svd.t;
        vec_lincomb2(ws->a_row, (real)u[0], chunk_scores(l, 0, 0, i), (real)u[1], chunk_scores(l, 0, 1, i), Kn);
        vec_lincomb2(ws->a_col, (real)tv[0], chunk_scores(l, 1, 0, i), (real)tv[1], chunk_scores(l, 1, 1, i), Kn);
    } else {
        memset(ws->a_row, 0, (size_t)Kn * sizeof(real));
        memset(ws->a_col, 0, (size_t)Kn * sizeof(real));
        for (int rho = 0; rho < r; rho++) {
            vec_axpy(ws->a_row, (real)l->svd.u[rho], chunk_scores(l, 0, rho, i), Kn);
            vec_axpy(ws->a_col, (real)l->svd.t[rho], chunk_scores(l, 1, rho, i), Kn);
        }
    }
    um_ultramem_topk(ws->rows, ws->row_val, ws->a_row, NULL, Kn, m);
    um_ultramem_topk(ws->cols, ws->col_val, ws->a_col, NULL, Kn, m);
    for (int a = 0; a < m; a++)
        for (int rho = 0; rho < r; rho++) {
            ws->Rc[a * r + rho] = chunk_scores(l, 0, rho, i)[ws->rows[a]];
            ws->Qc[a * r + rho] = chunk_scores(l, 1, rho, i)[ws->cols[a]];
        }
    tucker_grid(ws->grid, ws->Rc, m, ws->Qc, m, l->core_sum, r);
    for (int a = 0; a < m; a++)
        for (int b = 0; b < m; b++) ws->grid_slot[a * m + b] = ws->rows[a] * Kn + ws->cols[b];
    // pk_grid_select (best m cells, ties to the lower slot id), filtered first
    um_ultramem_topk_grid(ws->sel_cell, total, ws->grid, ws->grid_slot, m);
    for (int j = 0; j < m; j++) virt[j] = ws->grid_slot[ws->sel_cell[j]];
}

// Keep the probe's search: ws, plus row i's side scores from the chunk.
static void keep_probe_search(UmUltraMemV2 *l, const UmUltraMemSearch *ws, int i) {
    UmUltraMemSearch *p = &l->probe_ws;
    int Kn = l->Kn, r = l->cfg.r;
    for (int rho = 0; rho < r; rho++) {
        memcpy(p->S_row + (size_t)rho * Kn, chunk_scores(l, 0, rho, i), (size_t)Kn * sizeof(real));
        memcpy(p->S_col + (size_t)rho * Kn, chunk_scores(l, 1, rho, i), (size_t)Kn * sizeof(real));
    }
    um_ultramem_search_copy(p, ws);
}

// qn -> virt, win, win_R, win_Q, total, score for every token, a chunk of
// tokens at a time: score the chunk's keys (matmuls), then search each token.
static void search_all(UmUltraMemV2 *l, int N) {
    int m = l->cfg.m, r = l->cfg.r, hc = l->cfg.cores, CH = l->score_chunk;
    int probe_t = l->probe && l->probe->token >= 0 && l->probe->token < N ? l->probe->token : -1;
    for (int t0 = 0; t0 < N; t0 += CH) {
        int nt = N - t0 < CH ? N - t0 : CH;
        score_chunk(l, t0, nt);
#pragma omp parallel
    {
        UmUltraMemSearch ws;
        um_ultramem_search_alloc(&ws, l->Kn, m, r, l->cfg.Dk);
#pragma omp for
        for (int i = 0; i < nt; i++) {
            int t = t0 + i;
            size_t o = (size_t)t * m;
            search_one(l, &ws, l->virt + o, l->total + o, i);
            if (t == probe_t) keep_probe_search(l, &ws, i);
            for (int j = 0; j < m; j++) {
                int cell = ws.sel_cell[j];
                real *R = l->win_R + (o + j) * r, *Q = l->win_Q + (o + j) * r;
                memcpy(R, ws.Rc + (cell / m) * r, (size_t)r * sizeof(real));
                memcpy(Q, ws.Qc + (cell % m) * r, (size_t)r * sizeof(real));
                for (int c = 0; c < hc; c++) l->score[(o + j) * hc + c] = tucker_score(R, core_at(l, c), Q, r);
            }
        }
        um_ultramem_search_free(&ws);
    }
    }
    // virt -> window row through the shuffle, for all reads at once: the
    // table (n_win ints) is cold in a decode step, and independent, prefetched
    // lookups overlap their misses (one per read inside the search did not)
    long reads = (long)N * m;
#pragma omp parallel for if (reads >= 4096)
    for (long i = 0; i < reads; i++) {
        if (i + 32 < reads) __builtin_prefetch(l->shuffle + l->virt[i + 32]);
        int block;  // always 0: the window has exactly Kn*Kn rows
        ive_address(&l->win[i], &block, l->shuffle, l->virt[i], l->n_win);
    }
}

/* BEGIN EXERCISE 8.1 */
// PEER-style weights of one token's m winners ([PAPER] Eq. 15):
//   act_j = pre_j            (or gelu(pre_j) when use_gelu: PEER's form)
//   w_jc  = s_jc * act_j     for each core c (MCS: core c weights slice c)
// score, weight (m, h); pre, act (m).
void um_v2_slot_weights(real *weight, real *act, const real *score, const real *pre, int m, int h, int use_gelu) {
    for (int j = 0; j < m; j++) {
        if (use_gelu)
            gelu_forward(&act[j], &pre[j], 1);
        else
            act[j] = pre[j];
        for (int c = 0; c < h; c++) weight[j * h + c] = score[j * h + c] * act[j];
    }
}

// Forward was: w_jc = s_jc * act_j, act_j = pre_j or gelu(pre_j); so
//   dscore_jc = dw_jc * act_j            (overwritten)
//   dpre_j    = act'(pre_j) * sum_c dw_jc * s_jc   (overwritten)
void um_v2_slot_weights_backward(real *dscore, real *dpre, const real *dweight, const real *score, const real *pre,
                                 const real *act, int m, int h, int use_gelu) {
    for (int j = 0; j < m; j++) {
        real dact = 0;
        for (int c = 0; c < h; c++) {
            dscore[j * h + c] = dweight[j * h + c] * act[j];
            dact += dweight[j * h + c] * score[j * h + c];
        }
        dpre[j] = use_gelu ? dact * gelu_derivative(pre[j]) : dact;
    }
}
/* END EXERCISE 8.1 */

// Ask the memory system for the pre-value and value rows of window rows
// win (count) ahead of their use (a hint: no effect on results). The tables
// are far bigger than the caches, so each row read waits for DRAM; the
// pooling prefetches the next token's rows while it sums this token's.
static void prefetch_window_rows(const UmUltraMemV2 *l, const int *win, int count) {
    for (int i = 0; i < count; i++) {
        const real *V, *P;
        window_row(l, win[i], &V, &P);
        for (size_t b = 0; b < (size_t)l->cfg.Dv * sizeof(real); b += 64) __builtin_prefetch((const char *)V + b);
        for (size_t b = 0; b < (size_t)l->cfg.Dp * sizeof(real); b += 64) __builtin_prefetch((const char *)P + b);
    }
}

// t = A x; pre_j = <P[win_j], t>; w = weights; acc[slice c] += w_jc V[win_j, slice c].
// The weights live in dscore's buffer's twin: we keep them in `score`-shaped
// scratch per token (recomputed in backward, cheaper than caching N*m*h).
static void pool_values(UmUltraMemV2 *l, const real *inp, int N) {
    int m = l->cfg.m, hc = l->cfg.cores, Dv = l->cfg.Dv, Dp = l->cfg.Dp, sl = l->slice;
    matmul_forward(l->tq, inp, l->wa->data, NULL, N, l->D, Dp);
#pragma omp parallel for
    for (int t = 0; t < N; t++) {
        size_t o = (size_t)t * m;
        if (t + 1 < N) prefetch_window_rows(l, l->win + o + m, m);
        const real *tv = l->tq + (size_t)t * Dp;
        for (int j = 0; j < m; j++) {
            const real *V, *P;
            window_row(l, l->win[o + j], &V, &P);
            l->pre[o + j] = vec_dot(P, tv, Dp);
        }
        real w[m * hc];
        um_v2_slot_weights(w, l->act + o, l->score + o * hc, l->pre + o, m, hc, l->cfg.gelu);
        real *acc = l->acc + (size_t)t * Dv;
        memset(acc, 0, (size_t)Dv * sizeof(real));
        for (int j = 0; j < m; j++) {
            const real *V, *P;
            window_row(l, l->win[o + j], &V, &P);
            for (int c = 0; c < hc; c++) vec_axpy(acc + c * sl, w[j * hc + c], V + c * sl, sl);
        }
    }
}

// Only when a probe is attached: copy the chosen token's search, which
// search_all kept in probe_ws (V2 has one head: p->head is ignored),
// and count every read of this batch per window row.
static void fill_probe(UmUltraMemV2 *l, int N) {
    UmRetrievalProbe *p = l->probe;
    UmUltraMemSearch *ws = &l->probe_ws;
    int m = l->cfg.m, hc = l->cfg.cores, Kn = l->Kn;
    um_retrieval_probe_count_reads(p, l->win, N * m);
    if (p->token < 0 || p->token >= N) return;
    size_t o = (size_t)p->token * m;
    um_ultramem_probe_copy_search(p, ws, Kn, m, l->virt + o, l->total + o);
    for (int j = 0; j < m; j++) {
        real w = 0;
        for (int c = 0; c < hc; c++) w += l->score[(o + j) * hc + c] * l->act[o + j];
        p->weights[j] = w;
    }
    p->filled = 1;
}

void um_ultramem_v2_forward(UmUltraMemV2 *l, real *out, const real *inp, int N) {
    if (N < 1 || N > l->max_tokens)
        um_die(UM_EXIT_USAGE, "ultramem_v2: %d tokens, sized for 1..%d", N, l->max_tokens);
    if (!l->linked) um_die(UM_EXIT_USAGE, "ultramem_v2: share_g=%d needs um_ultramem_v2_link_ring", l->cfg.share_g);
    l->N = N;
    l->aux_loss = 0;
    if (!l->inference) prepare_keys_and_cores(l);  // inference mode: prepared by um_ultramem_v2_set_inference
    query_forward(l, inp, N);
    search_all(l, N);
    pool_values(l, inp, N);
    // [PAPER] Eq. 12: one projection (IVE's E projectors collapsed into one)
    matmul_forward(out, l->acc, l->wo->data, NULL, N, l->cfg.Dv, l->D);
    if (l->probe) fill_probe(l, N);
}

void um_ultramem_v2_set_inference(UmUltraMemV2 *l, int on) {
    l->inference = on ? 1 : 0;
    if (on) prepare_keys_and_cores(l);  // from the parameters as they are now
}

// ---------------------------------------------------------------- backward

// Forward was: acc[slice c] += w_jc V[win_j, slice c], w_jc = s_jc act_j,
// pre_j = <P[win_j], t>; so per token
//   dw_jc = <dacc[slice c], V[win_j, slice c]>
//   dscore, dpre from the slot-weight backward
//   dt += dpre_j P[win_j]
static void weight_grads(UmUltraMemV2 *l, int N) {
    int m = l->cfg.m, hc = l->cfg.cores, Dv = l->cfg.Dv, Dp = l->cfg.Dp, sl = l->slice;
#pragma omp parallel for
    for (int t = 0; t < N; t++) {
        size_t o = (size_t)t * m;
        const real *da = l->dacc + (size_t)t * Dv;
        real dw[m * hc];
        for (int j = 0; j < m; j++) {
            const real *V, *P;
            window_row(l, l->win[o + j], &V, &P);
            for (int c = 0; c < hc; c++) dw[j * hc + c] = vec_dot(da + c * sl, V + c * sl, sl);
        }
        um_v2_slot_weights_backward(l->dscore + o * hc, l->dpre + o, dw, l->score + o * hc, l->pre + o, l->act + o, m,
                                    hc, l->cfg.gelu);
        real *dt = l->dtq + (size_t)t * Dp;
        memset(dt, 0, (size_t)Dp * sizeof(real));
        for (int j = 0; j < m; j++) {
            const real *V, *P;
            window_row(l, l->win[o + j], &V, &P);
            vec_axpy(dt, l->dpre[o + j], P, Dp);
        }
    }
}

// Forward was: acc[t, slice c] += w_c V[w, slice c], pre = <P[w], t_vec>; so
//   dV[w, slice c] += w_c dacc[t, slice c],  dP[w] += dpre t_vec.
// A counting sort groups the reads by window row (token order kept); each
// thread owns whole rows: race-free and bit-identical for any thread count.
static void table_grads(UmUltraMemV2 *l, int N) {
    int m = l->cfg.m, hc = l->cfg.cores, Dv = l->cfg.Dv, Dp = l->cfg.Dp, sl = l->slice;
    int reads = N * m, S = l->n_win, *start = l->row_start, *list = l->row_reads;
    memset(start, 0, ((size_t)S + 1) * sizeof(int));
    for (int i = 0; i < reads; i++) start[l->win[i] + 1]++;
    for (int s = 0; s < S; s++) start[s + 1] += start[s];
    for (int i = 0; i < reads; i++) list[start[l->win[i]]++] = i;
    for (int s = S; s > 0; s--) start[s] = start[s - 1];
    start[0] = 0;
#pragma omp parallel for schedule(dynamic, 64)
    for (int s = 0; s < S; s++) {
        if (start[s] == start[s + 1]) continue;
        int j = s / l->n_tab, row = s % l->n_tab;
        real *dv = l->ring_values[j]->grad + (size_t)row * Dv;
        real *dp = l->ring_pre[j]->grad + (size_t)row * Dp;
        for (int i = start[s]; i < start[s + 1]; i++) {
            int rd = list[i], t = rd / m;
            const real *d = l->dacc + (size_t)t * Dv, *tv = l->tq + (size_t)t * Dp;
            for (int c = 0; c < hc; c++) vec_axpy(dv + c * sl, l->score[(size_t)rd * hc + c] * l->act[rd], d + c * sl, sl);
            vec_axpy(dp, l->dpre[rd], tv, Dp);
        }
    }
}

// Forward was: s_c = R^T C_c Q; so dR = sum_c ds_c C_c Q, dQ = sum_c ds_c C_c^T R,
// and dC_c += ds_c R Q^T (cores summed over tokens in order: one thread).
static void tucker_grads(UmUltraMemV2 *l, int N) {
    int m = l->cfg.m, r = l->cfg.r, hc = l->cfg.cores;
#pragma omp parallel for
    for (int i = 0; i < N * m; i++) {
        real *dR = l->dR + (size_t)i * r, *dQ = l->dQ + (size_t)i * r;
        memset(dR, 0, (size_t)r * sizeof(real));
        memset(dQ, 0, (size_t)r * sizeof(real));
        for (int c = 0; c < hc; c++)
            tucker_score_backward(dR, dQ, NULL, l->dscore[(size_t)i * hc + c], l->win_R + (size_t)i * r, core_at(l, c),
                                  l->win_Q + (size_t)i * r, r);
    }
    for (int i = 0; i < N * m; i++)
        for (int c = 0; c < hc; c++)
            tucker_score_backward(NULL, NULL, l->cores->grad + (size_t)c * r * r, l->dscore[(size_t)i * hc + c],
                                  l->win_R + (size_t)i * r, NULL, l->win_Q + (size_t)i * r, r);
}

// Forward was: S_side[rho][idx] = <q[side][rho], khat[side, rho, idx]>; so
//   dq[side][rho] += dS khat[idx],  dkhat[idx] += dS q[side][rho].
// One side per thread (it owns those keys' rows and that half of every query).
static void key_and_query_grads(UmUltraMemV2 *l, int N) {
    int m = l->cfg.m, r = l->cfg.r, Dk = l->cfg.Dk, Kn = l->Kn, QD = 2 * l->Rq * Dk;
    memset(l->dqn, 0, (size_t)N * QD * sizeof(real));
#pragma omp parallel for
    for (int side = 0; side < 2; side++) {
        for (int t = 0; t < N; t++)
            for (int j = 0; j < m; j++) {
                size_t i = (size_t)t * m + j;
                int idx = side == 0 ? l->virt[i] / Kn : l->virt[i] % Kn;
                const real *g = (side == 0 ? l->dR : l->dQ) + i * r;
                for (int rho = 0; rho < r; rho++) {
                    const real *kh = khat_at(l, l->khat, side, rho) + (size_t)idx * Dk;
                    real *dkh = khat_at(l, l->dkhat, side, rho) + (size_t)idx * Dk;
                    const real *qv = l->qn + q_off(l, t, side, rho);
                    real *dq = l->dqn + q_off(l, t, side, rho);
                    vec_axpy(dq, g[rho], kh, Dk);
                    vec_axpy(dkh, g[rho], qv, Dk);
                }
            }
    }
}

void um_ultramem_v2_backward(UmUltraMemV2 *l, real *dinp, const real *dout, const real *inp, int N) {
    if (N != l->N) um_die(UM_EXIT_USAGE, "ultramem_v2: backward on %d tokens after a forward on %d", N, l->N);
    if (l->inference)
        um_die(UM_EXIT_USAGE, "ultramem_v2: backward in inference mode (cached keys); turn it off to train");
    int Dv = l->cfg.Dv, Dk = l->cfg.Dk, QD = 2 * l->Rq * Dk, key_rows = 2 * l->cfg.r * l->Kn;
    // Forward was: out = acc @ Wo^T
    memset(l->dacc, 0, (size_t)N * Dv * sizeof(real));
    matmul_backward(l->dacc, l->wo->grad, NULL, dout, l->acc, l->wo->data, N, Dv, l->D);
    weight_grads(l, N);
    table_grads(l, N);
    // Forward was: t = inp @ A^T
    matmul_backward(dinp, l->wa->grad, NULL, l->dtq, inp, l->wa->data, N, l->D, l->cfg.Dp);
    tucker_grads(l, N);
    memset(l->dkhat, 0, (size_t)key_rows * Dk * sizeof(real));
    key_and_query_grads(l, N);
    // Forward was: khat = RMSNorm(keys), qn = RMSNorm(q)
    rmsnorm_backward(l->keys->grad, l->knorm_w->grad, l->dkhat, l->keys->data, l->knorm_w->data, l->k_rstd, key_rows,
                     Dk);
    memset(l->dq, 0, (size_t)N * QD * sizeof(real));
    rmsnorm_backward(l->dq, l->qnorm_w->grad, l->dqn, l->q, l->qnorm_w->data, l->q_rstd, N * 2 * l->Rq, Dk);
    // Forward was: q = inp @ Wq^T
    matmul_backward(dinp, l->wq->grad, NULL, l->dq, inp, l->wq->data, N, l->D, QD);
}

// ---------------------------------------------------------------- init

// Monte-Carlo at init on x ~ N(0, I_D) (the layer reads a normalised hidden
// state): scale both norm weights so the mean selected summed-core score is
// 1 (a weight g scales the bilinear score by g^4; scaling never changes the
// winners), then measure E[s_c^2] of the per-core scores, the quantity
// Eq. 22 writes (1 + sigma_s^2) for (mean 1, variance sigma_s^2).
static void measure_scores(UmUltraMemV2 *l, UmRng *rng) {
    UmRng cal;
    rng_seed(&cal, ((uint64_t)rng_u32(rng) << 32) | rng_u32(rng));
    int chunk = l->max_tokens < CALIBRATION_TOKENS ? l->max_tokens : CALIBRATION_TOKENS;
    real *x = alloc_reals((size_t)chunk * l->D);
    double g = 1;
    if (l->cfg.calibrate_norm) {  // start from RMS-1 queries and keys: g below is then the weight itself
        param_fill(l->qnorm_w, 1);
        param_fill(l->knorm_w, 1);
    }
    for (int pass = 0; pass < 2; pass++) {  // pass 0 calibrates, pass 1 measures
        if (pass == 1 && !l->cfg.calibrate_norm) continue;
        double sum = 0, sum_sq = 0;
        long count = 0, count_c = 0;
        rng_seed(&cal, 0x5c0e ^ (uint64_t)l->cfg.layer);
        prepare_keys_and_cores(l);
        for (int done = 0; done < CALIBRATION_TOKENS; done += chunk) {
            int N = CALIBRATION_TOKENS - done < chunk ? CALIBRATION_TOKENS - done : chunk;
            for (size_t i = 0; i < (size_t)N * l->D; i++) x[i] = (real)rng_normal(&cal);
            query_forward(l, x, N);
            search_all(l, N);
            for (size_t i = 0; i < (size_t)N * l->cfg.m; i++) sum += l->total[i];
            for (size_t i = 0; i < (size_t)N * l->cfg.m * l->cfg.cores; i++) sum_sq += (double)l->score[i] * l->score[i];
            count += (long)N * l->cfg.m, count_c += (long)N * l->cfg.m * l->cfg.cores;
        }
        l->init_score_mean = sum / count;
        l->init_score_sq = sum_sq / count_c;
        if (pass == 0 && l->cfg.calibrate_norm) {
            double mu = l->init_score_mean;
            g = mu > 0 ? pow(mu, -0.25) : pow((double)l->cfg.Dk, -0.33);
            param_fill(l->qnorm_w, (real)g);
            param_fill(l->knorm_w, (real)g);
        }
    }
    um_free(x);
    l->N = 0;
}

// [PAPER] appendix A: every linear std sqrt(2/(5 fan_in)) (Nguyen & Salazar),
// so A x has per-coordinate variance 0.4; values and pre-values share one
// std from Eq. 26, solved for this layer's measured E[s^2].
static void init_params(UmUltraMemV2 *l, UmRng *rng) {
    const UmUltraMemV2Config *c = &l->cfg;
    double D = l->D, Dk = c->Dk, Dv = c->Dv;
    param_normal(l->wq, rng, (real)(1 / sqrt(Dk)));    // [CODE] N(0, 1/kdim)
    param_normal(l->keys, rng, (real)(1 / sqrt(Dk)));  // [CODE] N(0, 1/kdim)
    param_uniform(l->cores, rng, (real)0.5);           // [CODE] U(0, 1)
    for (size_t i = 0; i < l->cores->numel; i++) l->cores->data[i] += (real)0.5;
    double a_std = sqrt(2 / (5 * D)), w_std = sqrt(2 / (5 * Dv));
    param_normal(l->wa, rng, (real)a_std);
    param_normal(l->wo, rng, (real)w_std);
    param_fill(l->qnorm_w, (real)pow(Dk, -0.33));
    param_fill(l->knorm_w, (real)pow(Dk, -0.33));
    measure_scores(l, rng);
    double target = c->init_target_var;
    if (target <= 0) target = 0.064 * 4.0 / (2.0 * c->n_layers);  // [PAPER] Eq. 25 with k_inner = 4
    l->init_value_std = c->value_init_std > 0 ? c->value_init_std
                                             : um_ultramem_v2_value_std(target, l->init_score_sq, c->m, 1, c->Dp,
                                                                        c->Dv, a_std * a_std * D, w_std * w_std);
    param_normal(l->values, rng, (real)l->init_value_std);
    param_normal(l->pre_values, rng, (real)l->init_value_std);
}

void um_ultramem_v2_init(UmUltraMemV2 *l, const UmUltraMemV2Config *cfg, int D, int max_tokens,
                         UmParamRegistry *reg, UmRng *rng, const char *prefix) {
    memset(l, 0, sizeof *l);
    l->cfg = *cfg;
    resolve_config(&l->cfg, D, max_tokens);
    const UmUltraMemV2Config *c = &l->cfg;
    l->D = D;
    l->max_tokens = max_tokens;
    l->Rq = c->per_rank_query ? c->r : 1;
    l->Kn = ive_side_factor(c->share_g) * c->n;
    l->n_tab = c->n * c->n;
    l->n_win = c->share_g * l->n_tab;
    l->slice = c->Dv / c->cores;

    int g_decay = params_group(reg, "decay", 1, c->weight_decay);
    int g_plain = params_group(reg, "no_decay", 1, 0);
    int g_values = params_group(reg, "memory_values", (real)um_ultramem_v2_value_lr_mult(c, 0, 1), 0);
    int Dk = c->Dk, r = c->r;
    l->wq = add_param(reg, prefix, "query.weight", g_decay, 2, (int[]){2 * l->Rq * Dk, D});
    l->qnorm_w = add_param(reg, prefix, "query_norm.weight", g_plain, 1, (int[]){Dk});
    l->keys = add_param(reg, prefix, "keys", g_plain, 3, (int[]){2, r * l->Kn, Dk});
    l->knorm_w = add_param(reg, prefix, "key_norm.weight", g_plain, 1, (int[]){Dk});
    l->cores = add_param(reg, prefix, "cores", g_plain, 3, (int[]){c->cores, r, r});
    l->wa = add_param(reg, prefix, "pre_value_proj.weight", g_decay, 2, (int[]){c->Dp, D});
    l->pre_values = add_param(reg, prefix, "pre_values", g_values, 2, (int[]){l->n_tab, c->Dp});
    l->values = add_param(reg, prefix, "values", g_values, 2, (int[]){l->n_tab, c->Dv});
    l->wo = add_param(reg, prefix, "value_proj.weight", g_decay, 2, (int[]){D, c->Dv});
    if (c->share_g == 1) {
        l->ring_pre[0] = l->pre_values, l->ring_values[0] = l->values;
        l->linked = 1;
    }
    // The shuffle of virtual addresses (V1's IVE permutation, reused): here
    // it scatters neighbouring grid cells over the rows (and, when sharing,
    // over the ring's tables). From the seed and the layer's name.
    l->shuffle_seed = ive_layer_seed(c->shuffle_seed, prefix);
    l->shuffle = alloc_ints(l->n_win);
    ive_shuffle(l->shuffle, l->n_win, l->shuffle_seed);
    alloc_cache(l);
    init_params(l, rng);
}

// ---------------------------------------------------------------- accounting

size_t um_ultramem_v2_activated_params(const UmUltraMemV2 *l) {
    size_t p = l->wq->numel + l->qnorm_w->numel + l->keys->numel + l->knorm_w->numel + l->cores->numel;
    p += l->wa->numel + l->wo->numel;
    p += (size_t)l->cfg.m * (l->cfg.Dv + l->cfg.Dp);
    return p;
}

double um_ultramem_v2_config_flops(const UmUltraMemV2Config *c, int D) {
    double Dk = c->Dk, m = c->m, r = c->r, h = c->cores, Rq = c->per_rank_query ? c->r : 1;
    double Dv = c->Dv ? c->Dv : (D / 4 > 0 ? D / 4 : 1), Dp = c->Dp ? c->Dp : Dv;
    double Kn = c->n * sqrt((double)c->share_g);
    double query = 2.0 * D * 2 * Rq * Dk;
    double keys = 2.0 * 2 * r * Kn * Dk;
    double select = 2.0 * 2 * r * Kn;                    // u.S_row, t.S_col
    double grid = 2.0 * (m * r * r + m * m * r);         // R^T Csum once per row, r per cell
    double winners = 2.0 * m * h * (r * r + r);          // each core's score of each winner
    double peer = 2.0 * D * Dp + 2.0 * m * Dp + m * h;   // A x, <P, Ax>, s * pre
    double read = 2.0 * m * Dv;
    double proj = 2.0 * Dv * D;
    return query + keys + select + grid + winners + peer + read + proj;
}

double um_ultramem_v2_flops_per_token(const UmUltraMemV2 *l) { return um_ultramem_v2_config_flops(&l->cfg, l->D); }

int um_ultramem_v2_dk_for_flops(const UmUltraMemV2Config *cfg, int D, double flops_per_layer) {
    UmUltraMemV2Config c = *cfg;
    int best = 1;
    for (int dk = 1; dk <= 4 * D; dk++) {
        c.Dk = dk;
        if (um_ultramem_v2_config_flops(&c, D) <= flops_per_layer) best = dk;
    }
    return best;
}

double um_ultramem_v2_bytes_read_per_token(const UmUltraMemV2 *l) {
    return (double)l->cfg.m * (l->cfg.Dv + l->cfg.Dp) * sizeof(real);
}

void um_ultramem_v2_stats_accumulate(const UmUltraMemV2 *l, UmMemStats *stats) {
    um_mem_stats_add(stats, l->win, NULL, l->total, l->N, l->cfg.m);
}

unsigned long um_ultramem_v2_selection_hash(const UmUltraMemV2 *l) {
    unsigned long h = 1469598103934665603ul;
    for (int i = 0; i < l->N * l->cfg.m; i++) h = (h ^ (unsigned)l->virt[i]) * 1099511628211ul;
    return h;
}
