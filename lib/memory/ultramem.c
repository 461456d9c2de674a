// ultramem.c: see ultramem.h. Forward: query, keys, cores, search, pool,
// project. Backward undoes them in reverse order. Where the paper and the
// released code differ, the comment says which one is followed ([CODE] =
// the official Ultra-Sparse-Memory-Network repository, [PAPER] = the paper).
#include "memory/ultramem.h"

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
#include "nn/layernorm.h"

// Monte-Carlo sample size of the norm calibration (tokens).
#define CALIBRATION_TOKENS 512
// Tokens whose side scores are computed together: one matmul per (head,
// side) scores them all. The chunk bounds the score buffer (at n 504, E 4,
// H 2, r 2: 256 tokens x 8 x 1008 scores = 8 MB) and keeps it in cache
// between the matmul that writes it and the searches that read it.
#define SCORE_CHUNK 256

UmUltraMemConfig um_ultramem_config_default(void) {
    UmUltraMemConfig c = {0};
    c.n = 32;
    c.H = 2;   // [CODE] mem_head = 2, both sharing one query
    c.Dk = 0;  // = D/4: [CODE] kdim 192 for d_model 768
    c.m = 16;
    c.Dv = 0;  // = D/2: "half vdim + proj"
    c.softmax = 0;
    c.value_proj = 1;
    c.share_query = 1;
    c.qk_norm = 1;
    c.E = 4;  // [PAPER] Table 5
    c.tdqkr = 1;
    c.r = 2;      // [PAPER] Table 5
    c.cores = 2;  // [PAPER] Table 5
    c.improved_init = 1;
    c.calibrate_norm = 1;
    c.value_lr_schedule = UM_VALUE_LR_LINEAR;
    // [PAPER] Table 5 uses the aux loss; [CODE] computes it but has its use
    // commented out. We follow the paper by default (set aux_alpha 0 for the code).
    c.aux_alpha = (real)0.001;
    c.aux_tau = (real)0.15;
    c.ive_seed = 0x5eed;
    c.init_n_layers = 4;
    c.value_init_std = 0;
    // [CODE] mem_value_lr_times 4, decayed linearly to 1x over the whole run
    // (max_steps_rate 1); some secondary sources say 10x, see research notes.
    c.value_lr_mult = 4;
    c.value_lr_mult_end = 1;
    c.value_lr_decay_frac = 1;
    c.weight_decay = (real)0.1;
    return c;
}

UmUltraMemConfig um_ultramem_config_pkm_like(void) {
    UmUltraMemConfig c = um_ultramem_config_default();
    c.softmax = 1;
    c.value_proj = 0;
    c.share_query = 0;
    c.qk_norm = 0;
    c.E = 1;
    c.tdqkr = 0;
    c.r = 1;
    c.cores = 1;
    c.improved_init = 0;
    c.calibrate_norm = 0;
    c.aux_alpha = 0;
    c.value_lr_schedule = UM_VALUE_LR_CONSTANT;  // PKM: a fixed multiplier of 4
    return c;
}

// The value table's LR multiplier ([CODE] olmo/optim.py: mult(step) =
// 1 + (times - 1) max(0, 1 - step / (max_steps rate))), written from start to end.
/* BEGIN EXERCISE 7.1 */
double um_ultramem_value_lr_mult(const UmUltraMemConfig *cfg, int step, int total) {
    double start = cfg->value_lr_mult, end = cfg->value_lr_mult_end;
    if (cfg->value_lr_schedule == UM_VALUE_LR_CONSTANT) return start;
    double span = (double)cfg->value_lr_decay_frac * (total > 0 ? total : 1);
    double left = span > 0 ? 1.0 - step / span : 0.0;
    if (left < 0) left = 0;
    if (left > 1) left = 1;
    return end + (start - end) * left;
}
/* END EXERCISE 7.1 */

// ---------------------------------------------------------------- setup

static UmParam *add_param(UmParamRegistry *reg, const char *prefix, const char *name, int group, int ndim,
                          const int *shape) {
    char full[UM_NAME_LEN + 64];
    snprintf(full, sizeof full, "%s%s", prefix ? prefix : "", name);
    if (strlen(full) >= UM_NAME_LEN) um_die(UM_EXIT_USAGE, "ultramem: parameter name too long: %s", full);
    return params_add(reg, full, group, ndim, shape);
}

// Fill in the "0 = automatic" sizes and reject impossible combinations.
static void resolve_config(UmUltraMemConfig *c, int D, int max_tokens) {
    if (D < 1 || max_tokens < 1) um_die(UM_EXIT_USAGE, "ultramem: D=%d and max_tokens=%d must be >= 1", D, max_tokens);
    if (c->Dk == 0) c->Dk = D / 4 > 0 ? D / 4 : 1;
    if (c->Dv == 0) c->Dv = c->value_proj ? (D / 2 > 0 ? D / 2 : 1) : D;
    if (!c->tdqkr) c->r = 1;
    if (c->n < 1 || c->H < 1 || c->m < 1 || c->Dk < 1 || c->Dv < 1)
        um_die(UM_EXIT_USAGE, "ultramem: n, H, m, Dk and Dv must be >= 1");
    int side = ive_side_factor(c->E);
    if (side < 0) um_die(UM_EXIT_USAGE, "ultramem: IVE expansion E=%d must be a perfect square (1, 4, 9...)", c->E);
    if (c->m > side * c->n)
        um_die(UM_EXIT_USAGE, "ultramem: top-m %d is more than the %d keys per side", c->m, side * c->n);
    if ((long)c->E * c->n * c->n > 0x7fffffffL / 2) um_die(UM_EXIT_USAGE, "ultramem: n=%d, E=%d: too many slots", c->n, c->E);
    if (c->tdqkr && (c->r < 1 || c->r > UM_TUCKER_MAX_RANK))
        um_die(UM_EXIT_USAGE, "ultramem: Tucker rank r=%d, only 1 and 2 are supported", c->r);
    if (c->cores < 1) um_die(UM_EXIT_USAGE, "ultramem: cores must be >= 1");
    if (c->cores > 1 && !c->tdqkr) um_die(UM_EXIT_USAGE, "ultramem: MCS (cores=%d) needs tdqkr", c->cores);
    if (c->Dv % c->cores) um_die(UM_EXIT_USAGE, "ultramem: Dv=%d is not divisible by cores=%d", c->Dv, c->cores);
    if (c->E > 1 && !c->value_proj) um_die(UM_EXIT_USAGE, "ultramem: IVE (E=%d) needs value_proj", c->E);
    if (!c->value_proj && c->Dv != D)
        um_die(UM_EXIT_USAGE, "ultramem: without value_proj the value dim Dv=%d must equal D=%d", c->Dv, D);
}

static void *alloc_reals(size_t n) { return um_alloc((n ? n : 1) * sizeof(real)); }
static void *alloc_ints(size_t n) { return um_alloc((n ? n : 1) * sizeof(int)); }

void um_ultramem_search_alloc(UmUltraMemSearch *ws, int Kn, int m, int r, int Dk) {
    ws->Kn = Kn, ws->m = m, ws->r = r, ws->Dk = Dk;
    ws->S_row = alloc_reals((size_t)r * Kn);
    ws->S_col = alloc_reals((size_t)r * Kn);
    ws->a_row = alloc_reals(Kn);
    ws->a_col = alloc_reals(Kn);
    ws->rows = alloc_ints(m);
    ws->cols = alloc_ints(m);
    ws->row_val = alloc_reals(m);
    ws->col_val = alloc_reals(m);
    ws->Rc = alloc_reals((size_t)m * r);
    ws->Qc = alloc_reals((size_t)m * r);
    ws->grid = alloc_reals((size_t)m * m);
    ws->grid_slot = alloc_ints((size_t)m * m);
    ws->sel_cell = alloc_ints(m);
}

#ifdef UM_DOUBLE
// "v (tie key kv) ranks above w (kw)": larger value, or equal and lower key.
static int ranks_above(real v, int kv, real w, int kw) { return v > w || (v == w && kv < kw); }
#endif

#ifndef UM_DOUBLE
// A float score v (not NaN) and its tie key kv >= 0 as one number that
// orders like ranks_above: a larger code ranks above. High half: v's bits
// mapped so unsigned order is numeric order (negatives flipped, the sign set
// on positives; -0 first made +0, since -0 == +0); low half: the key
// reversed, so among equal values the lower key is larger.
static inline uint64_t rank_code(float v, int kv) {
    uint32_t u;
    v += 0.0f;  // -0 + 0 = +0
    memcpy(&u, &v, sizeof u);
    u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
    return ((uint64_t)u << 32) | (uint32_t)(0xffffffffu - (uint32_t)kv);
}
#endif

// um_ultramem_topk's second half: the k best of x given tau, a lower bound
// on the k-th best value (at least k elements reach it, unless NaNs are about).
static void topk_from(int *idx, real *val, const real *x, const int *tiekey, int n, int k, real tau) {
    // The best k so far, sorted best first; thr = what a newcomer must reach.
    // Blocks of 256: first the positions that reach thr (vec_indices_at_least:
    // 16 compares and one compress store at a time; NaN never reaches), then
    // those few are insertion-sorted into the list.
    int c = 0, pass[256];
    real thr = tau;
#ifndef UM_DOUBLE
    // Each entry's value and tie key as one unsigned number (rank_code); a
    // block's passing positions are merged into the list at once
    // (vec_topk_merge: on AVX-512 the list stays in registers and an
    // insertion is a compare, a popcount and a shift, with no branch to miss).
    uint64_t bc[k], cand[256];
    for (int i0 = 0; i0 < n; i0 += 256) {
        int i1 = n - i0 < 256 ? n : i0 + 256;
        int np = vec_indices_at_least(pass, x + i0, i1 - i0, thr, i0);  // SIMD compare + compress
        for (int p = 0; p < np; p++) cand[p] = rank_code(x[pass[p]], tiekey ? tiekey[pass[p]] : pass[p]);
        c = vec_topk_merge(bc, idx, c, k, cand, pass, np);
        if (c == k) thr = x[idx[k - 1]] > tau ? x[idx[k - 1]] : tau;
    }
#else
    // double (the gradient-check build): the same insertion, value and key apart
    real bv[k];
    int bk[k];
    for (int i0 = 0; i0 < n; i0 += 256) {
        int i1 = n - i0 < 256 ? n : i0 + 256;
        int np = vec_indices_at_least(pass, x + i0, i1 - i0, thr, i0);
        for (int p = 0; p < np; p++) {
            int i = pass[p];
            real v = x[i];
            if (!(v >= thr)) continue;  // thr rose since the block was scanned
            int kv = tiekey ? tiekey[i] : i;
            if (c == k && !ranks_above(v, kv, bv[k - 1], bk[k - 1])) continue;
            int j = c < k ? c++ : k - 1;  // full: the last one drops out
            for (; j > 0 && ranks_above(v, kv, bv[j - 1], bk[j - 1]); j--)
                bv[j] = bv[j - 1], bk[j] = bk[j - 1], idx[j] = idx[j - 1];
            bv[j] = v, bk[j] = kv, idx[j] = i;
            if (c == k) thr = bv[k - 1] > tau ? bv[k - 1] : tau;
        }
    }
#endif
    if (c < k) {  // only with NaN among the scores: leave them to topk as before
        topk_tiekey(idx, val, x, tiekey, n, k);
        return;
    }
    if (val)
        for (int j = 0; j < k; j++) val[j] = x[idx[j]];
}

void um_ultramem_topk(int *idx, real *val, const real *x, const int *tiekey, int n, int k) {
    // tau: group g holds x[g], x[k + g], x[2k + g], ... (the first (n/k) k
    // elements; the rest need not be in a group). Element-wise maxima over
    // rows of k: a loop the compiler vectorises.
    real tau = -INFINITY;
    if (n >= 2 * k) {
        real mx[k];
        memcpy(mx, x, (size_t)k * sizeof(real));
        for (int j = 1; j < n / k; j++) {
            const real *row = x + (size_t)j * k;
            for (int g = 0; g < k; g++) mx[g] = row[g] > mx[g] ? row[g] : mx[g];
        }
        tau = mx[0];
        for (int g = 1; g < k; g++) tau = mx[g] < tau ? mx[g] : tau;
    }
    topk_from(idx, val, x, tiekey, n, k, tau);
}

// The m x m candidate grid of a search, rows and columns each in order of
// their selection score, best first: the exact scores are largest near the
// corner (0, 0). The m cells nearest it (anti-diagonals a + b = 0, 1, ...)
// are m distinct cells, so the m-th best cell is at least their minimum, and
// that bound lets far fewer cells through than the group maxima do (the
// minimum of the column maxima sits about m - 1 anti-diagonals out).
void um_ultramem_topk_grid(int *idx, real *val, const real *grid, const int *tiekey, int m) {
    real tau = INFINITY;
    int taken = 0;
    for (int d = 0; taken < m; d++)
        for (int a = d < m ? 0 : d - m + 1; a <= d && a < m && taken < m; a++, taken++) {
            real v = grid[a * m + (d - a)];
            tau = v < tau ? v : tau;  // a NaN is skipped: then fewer than m may pass, and topk_from falls back
        }
    topk_from(idx, val, grid, tiekey, m * m, m, tau);
}

// Copy a finished search (its side scores come from S_row, S_col, r*Kn each).
void um_ultramem_search_copy(UmUltraMemSearch *to, const UmUltraMemSearch *from) {
    int Kn = from->Kn, m = from->m, r = from->r;
    memcpy(to->a_row, from->a_row, (size_t)Kn * sizeof(real));
    memcpy(to->a_col, from->a_col, (size_t)Kn * sizeof(real));
    memcpy(to->rows, from->rows, (size_t)m * sizeof(int));
    memcpy(to->cols, from->cols, (size_t)m * sizeof(int));
    memcpy(to->row_val, from->row_val, (size_t)m * sizeof(real));
    memcpy(to->col_val, from->col_val, (size_t)m * sizeof(real));
    memcpy(to->Rc, from->Rc, (size_t)m * r * sizeof(real));
    memcpy(to->Qc, from->Qc, (size_t)m * r * sizeof(real));
    memcpy(to->grid, from->grid, (size_t)m * m * sizeof(real));
    memcpy(to->grid_slot, from->grid_slot, (size_t)m * m * sizeof(int));
    memcpy(to->sel_cell, from->sel_cell, (size_t)m * sizeof(int));
}

// The probe's copy of one search, with that token's side scores S_row,
// S_col (r, Kn) from the chunk's score rows.
static void search_copy(UmUltraMemSearch *to, const UmUltraMemSearch *from, const real *S_row, const real *S_col) {
    memcpy(to->S_row, S_row, (size_t)from->r * from->Kn * sizeof(real));
    memcpy(to->S_col, S_col, (size_t)from->r * from->Kn * sizeof(real));
    um_ultramem_search_copy(to, from);
}

void um_ultramem_probe_copy_search(UmRetrievalProbe *p, const UmUltraMemSearch *ws, int Kn, int m,
                                   const int *slots, const real *scores) {
    memcpy(p->row_scores, ws->a_row, (size_t)Kn * sizeof(real));
    memcpy(p->col_scores, ws->a_col, (size_t)Kn * sizeof(real));
    memcpy(p->grid_rows, ws->rows, (size_t)m * sizeof(int));
    memcpy(p->grid_cols, ws->cols, (size_t)m * sizeof(int));
    memcpy(p->grid, ws->grid, (size_t)m * m * sizeof(real));
    memcpy(p->sel_cell, ws->sel_cell, (size_t)m * sizeof(int));
    memcpy(p->slots, slots, (size_t)m * sizeof(int));
    memcpy(p->scores, scores, (size_t)m * sizeof(real));
}

void um_ultramem_search_free(UmUltraMemSearch *ws) {
    um_free(ws->S_row), um_free(ws->S_col), um_free(ws->a_row), um_free(ws->a_col);
    um_free(ws->rows), um_free(ws->cols), um_free(ws->row_val), um_free(ws->col_val);
    um_free(ws->Rc), um_free(ws->Qc), um_free(ws->grid), um_free(ws->grid_slot), um_free(ws->sel_cell);
    memset(ws, 0, sizeof *ws);
}

static void alloc_cache(UmUltraMem *l) {
    const UmUltraMemConfig *c = &l->cfg;
    size_t N = (size_t)l->max_tokens, H = c->H, m = c->m, r = c->r, h = c->cores, Dk = c->Dk;
    size_t NQ = N * l->Hq * 2 * Dk, reads = N * H * m, key_rows = H * 2 * r * (size_t)l->Kn;
    l->core_sum = alloc_reals(H * r * r);
    l->svd = um_alloc(H * sizeof(UmSvd2));
    l->aux_dcore = alloc_reals(H * r * r);
    l->q = alloc_reals(NQ);
    l->qn = alloc_reals(NQ);
    l->q_rstd = alloc_reals(N * l->Hq * 2);
    l->khat = alloc_reals(key_rows * Dk);
    l->k_rstd = alloc_reals(key_rows);
    l->khat_t = alloc_reals(key_rows * Dk);
    l->virt = alloc_ints(reads);
    l->phys = alloc_ints(reads);
    l->block = alloc_ints(reads);
    l->win_R = alloc_reals(reads * r);
    l->win_Q = alloc_reals(reads * r);
    l->total = alloc_reals(reads);
    l->score = alloc_reals(reads * h);
    l->weight = alloc_reals(reads * h);
    l->acc = alloc_reals(N * c->E * c->Dv);
    l->score_chunk = l->max_tokens < SCORE_CHUNK ? l->max_tokens : SCORE_CHUNK;
    l->q_side = alloc_reals((size_t)l->score_chunk * Dk);
    l->side_scores = alloc_reals(H * 2 * (size_t)l->score_chunk * r * l->Kn);
    l->dacc = alloc_reals(N * c->E * c->Dv);
    l->dweight = alloc_reals(reads * h);
    l->dR = alloc_reals(reads * r);
    l->dQ = alloc_reals(reads * r);
    l->dqn_head = alloc_reals(N * H * 2 * Dk);
    l->dqn = alloc_reals(NQ);
    l->dq = alloc_reals(NQ);
    l->dkhat = alloc_reals(key_rows * Dk);
    l->slot_start = alloc_ints((size_t)l->n_phys + 1);
    l->slot_reads = alloc_ints(reads);
    um_ultramem_search_alloc(&l->probe_ws, l->Kn, c->m, c->r, c->Dk);
}

void um_ultramem_free(UmUltraMem *l) {
    real *reals[] = {l->core_sum, l->aux_dcore, l->q, l->qn, l->q_rstd, l->khat, l->khat_t, l->k_rstd, l->win_R,
                     l->win_Q,
                     l->total, l->score, l->weight, l->acc, l->dacc, l->dweight, l->dR, l->dQ, l->dqn_head,
                     l->dqn, l->dq, l->dkhat, l->q_side, l->side_scores};
    for (size_t i = 0; i < sizeof reals / sizeof reals[0]; i++) um_free(reals[i]);
    um_free(l->svd), um_free(l->shuffle), um_free(l->virt), um_free(l->phys), um_free(l->block);
    um_free(l->slot_start), um_free(l->slot_reads);
    um_ultramem_search_free(&l->probe_ws);
    memset(l, 0, sizeof *l);  // parameters belong to the registry
}

// ---------------------------------------------------------------- forward steps

static real *khat_at(const UmUltraMem *l, real *base, int head, int side, int rho) {
    return base + ((((size_t)head * 2 + side) * l->cfg.r + rho) * l->Kn) * l->cfg.Dk;
}

static const real *core_at(const UmUltraMem *l, int head, int c) {
    size_t rr = (size_t)l->cfg.r * l->cfg.r;
    return l->cores->data + ((size_t)head * l->cfg.cores + c) * rr;
}

// q (N, Hq*2*Dk) = inp @ Wq^T, then qn = RMSNorm over each Dk block.
static void query_forward(UmUltraMem *l, const real *inp, int N) {
    int QD = l->Hq * 2 * l->cfg.Dk;
    matmul_forward(l->q, inp, l->wq->data, NULL, N, l->D, QD);
    if (l->qnorm_w)
        rmsnorm_forward(l->qn, l->q_rstd, l->q, l->qnorm_w->data, N * l->Hq * 2, l->cfg.Dk);
    else
        memcpy(l->qn, l->q, (size_t)N * QD * sizeof(real));
}

// Things that depend on the parameters only, once per forward: normalised
// keys, the summed core of each head, its SVD (u, t used for selection,
// detached: nothing in backward differentiates through them) and the
// auxiliary loss with its gradient. [CODE] does the SVD once per training
// step before the forward; within a step the parameters do not change, so
// once per forward is the same thing and needs no extra call from the trainer.
static void prepare_keys_and_cores(UmUltraMem *l) {
    int H = l->cfg.H, r = l->cfg.r, rr = r * r, key_rows = H * 2 * r * l->Kn;
    if (l->knorm_w)
        rmsnorm_forward(l->khat, l->k_rstd, l->keys->data, l->knorm_w->data, key_rows, l->cfg.Dk);
    else
        memcpy(l->khat, l->keys->data, (size_t)key_rows * l->cfg.Dk * sizeof(real));
    // the scoring gemm reads keys as B (Dk, r*Kn): row-major, it reads them in
    // place; as khat^T it would repack them for every chunk of every forward
    int cols = r * l->Kn;
    for (int hs = 0; hs < 2 * H; hs++)
        matrix_transpose(l->khat_t + (size_t)hs * cols * l->cfg.Dk, cols, l->khat + (size_t)hs * cols * l->cfg.Dk,
                         l->cfg.Dk, cols, l->cfg.Dk);
    l->aux_loss = 0;
    memset(l->aux_dcore, 0, (size_t)H * rr * sizeof(real));
    if (!l->cfg.tdqkr) return;
    // [CODE]: mean over heads and the r-1 non-leading values, times alpha.
    double weight = r > 1 ? (double)l->cfg.aux_alpha / ((double)H * (r - 1)) : 0;
    double aux = 0;
    for (int h = 0; h < H; h++) {
        tucker_core_sum(l->core_sum + h * rr, core_at(l, h, 0), l->cfg.cores, r);
        tucker_svd(&l->svd[h], l->core_sum + h * rr, r);
        if (weight > 0) aux += tucker_aux_loss(l->aux_dcore + h * rr, &l->svd[h], weight, l->cfg.aux_tau);
    }
    l->aux_loss = (real)aux;
}

// Stages 2 and 3 of the search for one (token, head), from its side scores
// S_row, S_col (r, Kn each; computed beforehand for a whole chunk of tokens
// by search_all, or for one query by um_ultramem_search) and its queries
// q_row, q_col (Dk) -> ws, virt, total.
static void search_scored(const UmUltraMem *l, UmUltraMemSearch *ws, int *virt, real *total, const real *S_row,
                          const real *S_col, const real *q_row, const real *q_col, int head) {
    int Kn = l->Kn, m = l->cfg.m, r = l->cfg.r, Dk = l->cfg.Dk;
    // The separable selection scores: u.S_row and t.S_col (rank-1 part of the core).
    if (l->cfg.tdqkr) {
        const UmSvd2 *svd = &l->svd[head];
        if (r == 2) {  // one pass, the same bits as zeroing and two axpys
            vec_lincomb2(ws->a_row, (real)svd->u[0], S_row, (real)svd->u[1], S_row + Kn, Kn);
            vec_lincomb2(ws->a_col, (real)svd->t[0], S_col, (real)svd->t[1], S_col + Kn, Kn);
        } else {
            memset(ws->a_row, 0, (size_t)Kn * sizeof(real));
            memset(ws->a_col, 0, (size_t)Kn * sizeof(real));
            for (int rho = 0; rho < r; rho++) {
                vec_axpy(ws->a_row, (real)svd->u[rho], S_row + (size_t)rho * Kn, Kn);
                vec_axpy(ws->a_col, (real)svd->t[rho], S_col + (size_t)rho * Kn, Kn);
            }
        }
    } else {
        memcpy(ws->a_row, S_row, (size_t)Kn * sizeof(real));
        memcpy(ws->a_col, S_col, (size_t)Kn * sizeof(real));
    }
    um_ultramem_topk(ws->rows, ws->row_val, ws->a_row, NULL, Kn, m);
    um_ultramem_topk(ws->cols, ws->col_val, ws->a_col, NULL, Kn, m);
    for (int a = 0; a < m; a++)
        for (int rho = 0; rho < r; rho++) {
            ws->Rc[a * r + rho] = S_row[(size_t)rho * Kn + ws->rows[a]];
            ws->Qc[a * r + rho] = S_col[(size_t)rho * Kn + ws->cols[a]];
        }
    // Additive scoring is PKM, and this rung of the ablation ladder must
    // score exactly like PKM: the matmul sums in another order (and with
    // FMA), so rescore the m candidates of each side with PKM's own dot.
    // Only 2m dots, against the 2 Kn the matmul did.
    if (!l->cfg.tdqkr)
        for (int a = 0; a < m; a++) {
            pk_side_scores(&ws->Rc[a], q_row, khat_at(l, l->khat, head, 0, 0) + (size_t)ws->rows[a] * Dk, 1, Dk);
            pk_side_scores(&ws->Qc[a], q_col, khat_at(l, l->khat, head, 1, 0) + (size_t)ws->cols[a] * Dk, 1, Dk);
            ws->row_val[a] = ws->Rc[a], ws->col_val[a] = ws->Qc[a];
        }
    // Stage 2: score the m x m candidates exactly, keep the best m.
    if (l->cfg.tdqkr) {
        tucker_grid(ws->grid, ws->Rc, m, ws->Qc, m, l->core_sum + (size_t)head * r * r, r);
        for (int a = 0; a < m; a++)
            for (int b = 0; b < m; b++) ws->grid_slot[a * m + b] = ws->rows[a] * Kn + ws->cols[b];
    } else {
        pk_grid_additive(ws->grid, ws->grid_slot, ws->rows, ws->Rc, m, ws->cols, ws->Qc, m, Kn);
    }
    // pk_grid_select (best m cells, ties to the lower slot id), filtered first
    um_ultramem_topk_grid(ws->sel_cell, total, ws->grid, ws->grid_slot, m);
    for (int j = 0; j < m; j++) virt[j] = ws->grid_slot[ws->sel_cell[j]];
}

// Stage 1 for one query: r score vectors per side, one per rank, each the
// query against that rank's Kn keys (the same product search_all does for a
// chunk with one matmul; matmul_forward on one row scores it this way too).
void um_ultramem_search(const UmUltraMem *l, UmUltraMemSearch *ws, int *virt, real *total, const real *q_row,
                        const real *q_col, int head) {
    int Kn = l->Kn, r = l->cfg.r, Dk = l->cfg.Dk;
    matmul_forward(ws->S_row, q_row, khat_at(l, l->khat, head, 0, 0), NULL, 1, Dk, r * Kn);
    matmul_forward(ws->S_col, q_col, khat_at(l, l->khat, head, 1, 0), NULL, 1, Dk, r * Kn);
    search_scored(l, ws, virt, total, ws->S_row, ws->S_col, q_row, q_col, head);
}

// w (m) = softmax over the m entries s[j*stride] (one core's scores; with
// MCS they are not sorted, so take the max explicitly).
static void softmax_strided(real *w, const real *s, int m, int stride) {
    real mx = s[0];
    for (int j = 1; j < m; j++)
        if (s[j * stride] > mx) mx = s[j * stride];
    real sum = 0;
    for (int j = 0; j < m; j++) {
        w[j * stride] = (real)exp((double)(s[j * stride] - mx));
        sum += w[j * stride];
    }
    for (int j = 0; j < m; j++) w[j * stride] /= sum;
}

// For one (token, head) after its search: each winner's score vectors, its
// score under each core and its weights (address_reads finds its row).
static void record_winners(UmUltraMem *l, const UmUltraMemSearch *ws, size_t th, int head) {
    int m = l->cfg.m, r = l->cfg.r, hc = l->cfg.cores;
    size_t o = th * m;
    for (int j = 0; j < m; j++) {
        int cell = ws->sel_cell[j];
        real *R = l->win_R + (o + j) * r, *Q = l->win_Q + (o + j) * r;
        memcpy(R, ws->Rc + (cell / m) * r, (size_t)r * sizeof(real));
        memcpy(Q, ws->Qc + (cell % m) * r, (size_t)r * sizeof(real));
        real *s = l->score + (o + j) * hc;
        if (l->cfg.tdqkr)
            for (int c = 0; c < hc; c++) s[c] = tucker_score(R, core_at(l, head, c), Q, r);
        else
            s[0] = R[0] + Q[0];
    }
    // [CODE] uses the scores raw (no activation at all); PKM's softmax is a switch.
    real *w = l->weight + o * hc;
    const real *s = l->score + o * hc;
    if (l->cfg.softmax)
        for (int c = 0; c < hc; c++) softmax_strided(w + c, s + c, m, hc);
    else
        memcpy(w, s, (size_t)m * hc * sizeof(real));
}

// A decode step's few tokens: the keys (4 MB at n 504, E 4, far more than
// L2) are what costs, so each block of KEY_BLOCK keys (32 KB at Dk 128) is
// scored against every token while it sits in L1: the keys stream from
// memory once. matmul_forward with under 4 rows does one vec_score_keys
// pass per row over all keys (the same sums, bit for bit, as here: the
// kernel's groups of 4 keys line up with blocks of 64), re-reading them from
// L3 for every row; from 4 rows on its decode kernel was slower still.
#define FEW_TOKENS 16
#define KEY_BLOCK 64
void um_score_keys_blocked(real *S, const real *q, const real *keys, int nt, int Dk, int cols) {
    int nblocks = (cols + KEY_BLOCK - 1) / KEY_BLOCK;
#pragma omp parallel for if ((double)nt * cols * Dk >= 1 << 20)
    for (int b = 0; b < nblocks; b++) {  // blocks own disjoint columns of S
        int k0 = b * KEY_BLOCK, kb = cols - k0 < KEY_BLOCK ? cols - k0 : KEY_BLOCK;
        for (int t = 0; t < nt; t++)
            vec_score_keys(S + (size_t)t * cols + k0, q + (size_t)t * Dk, keys + (size_t)k0 * Dk, kb, Dk);
    }
}

// Side scores of nt tokens from t0: for each (head, side),
//   side_scores[h, side] (nt, r*Kn) = qn_side (nt, Dk) @ khat[h, side]^T
// (the r rank blocks of a (head, side) are contiguous, r*Kn keys in all).
// One matmul reads each key once per chunk instead of once per token, and
// runs at the SIMD kernel's speed instead of a scalar dot's.
static void score_chunk(UmUltraMem *l, int t0, int nt) {
    int H = l->cfg.H, Dk = l->cfg.Dk, QD = l->Hq * 2 * Dk;
    size_t cols = (size_t)l->cfg.r * l->Kn;
    for (int hq = 0; hq < l->Hq; hq++)
        for (int side = 0; side < 2; side++) {
            for (int t = 0; t < nt; t++)  // this side's queries as one contiguous (nt, Dk) matrix
                memcpy(l->q_side + (size_t)t * Dk, l->qn + (size_t)(t0 + t) * QD + ((size_t)hq * 2 + side) * Dk,
                       (size_t)Dk * sizeof(real));
            // with share_query every head reads this one query (hq = 0)
            for (int h = l->cfg.share_query ? 0 : hq; h < (l->cfg.share_query ? H : hq + 1); h++) {
                real *S = l->side_scores + ((size_t)h * 2 + side) * l->score_chunk * cols;
                if (nt <= FEW_TOKENS) {
                    um_score_keys_blocked(S, l->q_side, khat_at(l, l->khat, h, side, 0), nt, Dk, (int)cols);
                } else {  // S (nt, cols) = q_side (nt, Dk) @ khat_t[h, side] (Dk, cols)
                    const real *Kt = l->khat_t + ((size_t)h * 2 + side) * Dk * cols;
                    matmul_views(S, cols, (UmMatView){l->q_side, (size_t)Dk, 1}, (UmMatView){Kt, cols, 1}, nt, (int)cols,
                                 Dk, 0);
                }
            }
        }
}

// Distance, in reads, of the shuffle prefetch in address_reads.
#define SHUFFLE_PREFETCH 32

// virt -> phys, block for all N*H*m reads (IVE's fixed shuffle). The
// shuffle is a table of n_virt ints (4 MB at n 504, E 4) that a decode step
// finds cold: looked up inside each search, every read waited alone for its
// miss. Here the lookups are independent and prefetched ahead, so the misses
// overlap.
static void address_reads(UmUltraMem *l, int N) {
    long reads = (long)N * l->cfg.H * l->cfg.m;
    const int *virt = l->virt, *perm = l->shuffle;
#pragma omp parallel for if (reads >= 4096)
    for (long i = 0; i < reads; i++) {
        if (perm && i + SHUFFLE_PREFETCH < reads) __builtin_prefetch(perm + virt[i + SHUFFLE_PREFETCH]);
        ive_address(&l->phys[i], &l->block[i], perm, virt[i], l->n_phys);
    }
}

// qn -> virt, phys, block, win_R, win_Q, total, score, weight for all (token, head)
static void search_all(UmUltraMem *l, int N) {
    int H = l->cfg.H, m = l->cfg.m, CH = l->score_chunk;
    size_t cols = (size_t)l->cfg.r * l->Kn;
    // the probe's (token, head), if one is attached: its search is kept
    long probe_th = -1;
    if (l->probe && l->probe->base.token >= 0 && l->probe->base.token < N && l->probe->base.head >= 0 &&
        l->probe->base.head < H)
        probe_th = (long)l->probe->base.token * H + l->probe->base.head;
    for (int t0 = 0; t0 < N; t0 += CH) {
        int nt = N - t0 < CH ? N - t0 : CH;
        score_chunk(l, t0, nt);
#pragma omp parallel
        {
            UmUltraMemSearch ws;  // one workspace per thread
            um_ultramem_search_alloc(&ws, l->Kn, m, l->cfg.r, l->cfg.Dk);
#pragma omp for
            for (int i = 0; i < nt * H; i++) {
                int t = t0 + i / H, h = i % H;
                size_t th = (size_t)t * H + h, o = th * m;
                const real *S_row = l->side_scores + (((size_t)h * 2 + 0) * CH + (size_t)(i / H)) * cols;
                const real *S_col = l->side_scores + (((size_t)h * 2 + 1) * CH + (size_t)(i / H)) * cols;
                const real *q_row = l->qn + ((size_t)t * l->Hq + (l->cfg.share_query ? 0 : h)) * 2 * l->cfg.Dk;
                search_scored(l, &ws, l->virt + o, l->total + o, S_row, S_col, q_row, q_row + l->cfg.Dk, h);
                record_winners(l, &ws, th, h);
                if ((long)th == probe_th) search_copy(&l->probe_ws, &ws, S_row, S_col);
            }
            um_ultramem_search_free(&ws);
        }
    }
    address_reads(l, N);
}

// Ask the memory system for rows idx (count) of the table V (rows, D) ahead
// of their use: every 64-byte line of each row (a hint: no effect on results).
static void prefetch_rows(const real *V, const int *idx, int count, int D) {
    for (int i = 0; i < count; i++) {
        const char *row = (const char *)(V + (size_t)idx[i] * D);
        for (size_t b = 0; b < (size_t)D * sizeof(real); b += 64) __builtin_prefetch(row + b);
    }
}

// Pool before projecting (IVE's efficient form): per token,
//   acc[block, slice c] += w_c V[phys, slice c]   over all heads and winners.
// [CODE] pools every head's reads into the same E x Dv accumulator (heads
// share the value table and the projection). With MCS, core c owns the
// c-th Dv/h slice of every value row ([PAPER] Eq. 16-17, [CODE] the same).
// This is ive_pool_token (memory/ive.c) with the SIMD axpy for each slice.
// The value rows are scattered over a table far bigger than the caches, so
// each read waits for DRAM; asking for the next token's rows (prefetch)
// while this token's are summed overlaps those waits.
static void pool_values(UmUltraMem *l, int N) {
    int Dv = l->cfg.Dv, E = l->cfg.E, reads = l->cfg.H * l->cfg.m, hc = l->cfg.cores, sl = l->slice;
#pragma omp parallel for
    for (int t = 0; t < N; t++) {
        if (t + 1 < N) prefetch_rows(l->values->data, l->phys + (size_t)(t + 1) * reads, reads, Dv);
        real *acc = l->acc + (size_t)t * E * Dv;
        memset(acc, 0, (size_t)E * Dv * sizeof(real));
        for (size_t i = (size_t)t * reads; i < (size_t)(t + 1) * reads; i++) {
            const real *v = l->values->data + (size_t)l->phys[i] * Dv;
            real *a = acc + (size_t)l->block[i] * Dv;
            for (int c = 0; c < hc; c++) vec_axpy(a + c * sl, l->weight[i * hc + c], v + c * sl, sl);
        }
    }
}

static void fill_probe(UmUltraMem *l, int N) {
    UmUltraMemProbe *p = l->probe;
    int H = l->cfg.H, m = l->cfg.m, r = l->cfg.r, hc = l->cfg.cores, Kn = l->Kn;
    if (p->base.n != Kn || p->base.k != m || p->r != r || p->h != hc || p->n_phys != l->n_phys)
        um_die(UM_EXIT_USAGE, "ultramem: probe sized for Kn=%d m=%d r=%d h=%d, layer has %d %d %d %d", p->base.n,
               p->base.k, p->r, p->h, Kn, m, r, hc);
    um_ultramem_probe_count_reads(p, l->virt, l->phys, N * H * m);
    int t = p->base.token, h = p->base.head;
    if (t < 0 || t >= N || h < 0 || h >= H) return;
    UmUltraMemSearch *ws = &l->probe_ws;
    size_t th = (size_t)t * H + h, o = th * m;
    // search_all kept this (token, head)'s search in probe_ws
    UmRetrievalProbe *b = &p->base;
    um_ultramem_probe_copy_search(b, ws, Kn, m, l->virt + o, l->total + o);
    for (int j = 0; j < m; j++) {
        real w = 0;
        for (int c = 0; c < hc; c++) w += l->weight[(o + j) * hc + c];
        b->weights[j] = w;
    }
    memcpy(p->side_row, ws->S_row, (size_t)r * Kn * sizeof(real));
    memcpy(p->side_col, ws->S_col, (size_t)r * Kn * sizeof(real));
    memcpy(p->phys, l->phys + o, (size_t)m * sizeof(int));
    memcpy(p->block, l->block + o, (size_t)m * sizeof(int));
    memcpy(p->core_scores, l->score + o * hc, (size_t)m * hc * sizeof(real));
    memcpy(p->core_weights, l->weight + o * hc, (size_t)m * hc * sizeof(real));
    memset(p->sv, 0, sizeof p->sv), memset(p->u, 0, sizeof p->u), memset(p->t, 0, sizeof p->t);
    if (l->cfg.tdqkr)
        for (int i = 0; i < r; i++) p->sv[i] = l->svd[h].s[i], p->u[i] = l->svd[h].u[i], p->t[i] = l->svd[h].t[i];
    b->filled = 1;
}

void um_ultramem_forward(UmUltraMem *l, real *out, const real *inp, int N) {
    if (N < 1 || N > l->max_tokens) um_die(UM_EXIT_USAGE, "ultramem: %d tokens, sized for 1..%d", N, l->max_tokens);
    l->N = N;
    if (!l->inference) prepare_keys_and_cores(l);  // inference mode: prepared by um_ultramem_set_inference
    query_forward(l, inp, N);
    search_all(l, N);
    pool_values(l, N);
    int EDv = l->cfg.E * l->cfg.Dv;
    if (l->wo)  // one Linear(E*Dv -> D) = the sum over blocks of W_p^T pooled_p
        matmul_forward(out, l->acc, l->wo->data, NULL, N, EDv, l->D);
    else
        memcpy(out, l->acc, (size_t)N * l->D * sizeof(real));
    if (l->probe) fill_probe(l, N);
}

void um_ultramem_set_inference(UmUltraMem *l, int on) {
    l->inference = on ? 1 : 0;
    if (on) prepare_keys_and_cores(l);  // from the parameters as they are now
}

// ---------------------------------------------------------------- backward

// Forward was: acc[block, slice c] += w_c V[phys, slice c]; so
//   dw_c = <dacc[block, slice c], V[phys, slice c]>
// and, through the softmax when on: ds_j = w_j (dw_j - sum_l w_l dw_l) per core.
// dweight ends up holding d loss / d score.
static void score_grads(UmUltraMem *l, const real *dacc, int N) {
    int Dv = l->cfg.Dv, EDv = l->cfg.E * Dv, H = l->cfg.H, m = l->cfg.m, hc = l->cfg.cores;
#pragma omp parallel for
    for (int th = 0; th < N * H; th++) {
        const real *da = dacc + (size_t)(th / H) * EDv;
        size_t o = (size_t)th * m;
        real *ds = l->dweight + o * hc;
        ive_pool_backward_weights(ds, da, l->values->data, l->phys + o, l->block + o, m, Dv, hc);
        if (!l->cfg.softmax) continue;
        const real *w = l->weight + o * hc;
        for (int c = 0; c < hc; c++) {
            real wg = 0;
            for (int j = 0; j < m; j++) wg += w[j * hc + c] * ds[j * hc + c];
            for (int j = 0; j < m; j++) ds[j * hc + c] = w[j * hc + c] * (ds[j * hc + c] - wg);
        }
    }
}

// Forward was: acc[t, block, slice c] += w_c V[phys, slice c]; so
//   dV[phys, slice c] += w_c dacc[t, block, slice c].
// As in PKM: a counting sort groups the reads by physical row (keeping their
// token, head, rank order) and each thread owns whole rows, so the sums are
// race-free and bit-identical for any thread count.
static void value_grads(UmUltraMem *l, const real *dacc, int N) {
    int Dv = l->cfg.Dv, EDv = l->cfg.E * Dv, Hm = l->cfg.H * l->cfg.m, hc = l->cfg.cores;
    int reads = N * Hm, S = l->n_phys, *start = l->slot_start, *list = l->slot_reads;
    memset(start, 0, ((size_t)S + 1) * sizeof(int));
    for (int i = 0; i < reads; i++) start[l->phys[i] + 1]++;
    for (int s = 0; s < S; s++) start[s + 1] += start[s];
    for (int i = 0; i < reads; i++) list[start[l->phys[i]]++] = i;  // start[s] now = end of s
    for (int s = S; s > 0; s--) start[s] = start[s - 1];
    start[0] = 0;
    real *dV = l->values->grad;
#pragma omp parallel for schedule(dynamic, 64)
    for (int s = 0; s < S; s++) {
        real *dv = dV + (size_t)s * Dv;
        for (int i = start[s]; i < start[s + 1]; i++) {
            int rd = list[i];
            const real *d = dacc + (size_t)(rd / Hm) * EDv + (size_t)l->block[rd] * Dv;
            ive_pool_backward_value(dv, d, l->weight + (size_t)rd * hc, Dv, hc);
        }
    }
}

// Forward was: s_c = R^T C_c Q (TDQKR) or s = R + Q (additive); so
//   dR = sum_c ds_c C_c Q,  dQ = sum_c ds_c C_c^T R   (or dR = dQ = ds).
// Each winner is independent: parallel over (token, head).
static void side_score_grads(UmUltraMem *l, int N) {
    int H = l->cfg.H, m = l->cfg.m, r = l->cfg.r, hc = l->cfg.cores;
#pragma omp parallel for
    for (int th = 0; th < N * H; th++) {
        for (int j = 0; j < m; j++) {
            size_t i = (size_t)th * m + j;
            real *dR = l->dR + i * r, *dQ = l->dQ + i * r;
            const real *ds = l->dweight + i * hc;
            if (!l->cfg.tdqkr) {
                dR[0] = ds[0], dQ[0] = ds[0];
                continue;
            }
            memset(dR, 0, (size_t)r * sizeof(real));
            memset(dQ, 0, (size_t)r * sizeof(real));
            for (int c = 0; c < hc; c++)
                tucker_score_backward(dR, dQ, NULL, ds[c], l->win_R + i * r, core_at(l, th % H, c), l->win_Q + i * r,
                                      r);
        }
    }
}

// Forward was: s_c = R^T C_c Q; so dC_c += ds_c R Q^T, summed over tokens
// (one head per thread: each owns its cores), plus the aux loss gradient:
// aux depends on C_sum = sum_c C_c, so every core gets d aux / d C_sum.
static void core_grads(UmUltraMem *l, int N) {
    if (!l->cfg.tdqkr) return;
    int H = l->cfg.H, m = l->cfg.m, r = l->cfg.r, rr = r * r, hc = l->cfg.cores;
#pragma omp parallel for
    for (int h = 0; h < H; h++) {
        real *dC = l->cores->grad + (size_t)h * hc * rr;
        for (int t = 0; t < N; t++)
            for (int j = 0; j < m; j++) {
                size_t i = ((size_t)t * H + h) * m + j;
                for (int c = 0; c < hc; c++)
                    tucker_score_backward(NULL, NULL, dC + c * rr, l->dweight[i * hc + c], l->win_R + i * r, NULL,
                                          l->win_Q + i * r, r);
            }
        for (int c = 0; c < hc; c++)
            for (int k = 0; k < rr; k++) dC[c * rr + k] += l->aux_dcore[h * rr + k];
    }
}

// Forward was: S_side[rho][idx] = <qn_side, khat[h, side, rho, idx]>; so
//   dqn_side += dS khat[idx],  dkhat[idx] += dS qn_side.
// One (head, side) per thread: it owns those keys' gradient rows and that
// half of every token's per-head query gradient; tokens run in order.
static void key_and_query_grads(UmUltraMem *l, int N) {
    int H = l->cfg.H, m = l->cfg.m, r = l->cfg.r, Dk = l->cfg.Dk, Kn = l->Kn;
#pragma omp parallel for
    for (int hs = 0; hs < 2 * H; hs++) {
        int h = hs / 2, side = hs % 2, hq = l->cfg.share_query ? 0 : h;
        for (int t = 0; t < N; t++) {
            size_t th = (size_t)t * H + h;
            real *dq = l->dqn_head + th * 2 * Dk + (size_t)side * Dk;
            const real *qv = l->qn + ((size_t)t * l->Hq + hq) * 2 * Dk + (size_t)side * Dk;
            memset(dq, 0, (size_t)Dk * sizeof(real));
            for (int j = 0; j < m; j++) {
                size_t i = th * m + j;
                int idx = side == 0 ? l->virt[i] / Kn : l->virt[i] % Kn;
                const real *g = (side == 0 ? l->dR : l->dQ) + i * r;
                for (int rho = 0; rho < r; rho++) {
                    const real *kh = khat_at(l, l->khat, h, side, rho) + (size_t)idx * Dk;
                    real *dkh = khat_at(l, l->dkhat, h, side, rho) + (size_t)idx * Dk;
                    for (int x = 0; x < Dk; x++) {
                        dq[x] += g[rho] * kh[x];
                        dkh[x] += g[rho] * qv[x];
                    }
                }
            }
        }
    }
}

void um_ultramem_backward(UmUltraMem *l, real *dinp, const real *dout, const real *inp, int N) {
    if (N != l->N) um_die(UM_EXIT_USAGE, "ultramem: backward on %d tokens after a forward on %d", N, l->N);
    if (l->inference) um_die(UM_EXIT_USAGE, "ultramem: backward in inference mode (cached keys); turn it off to train");
    int EDv = l->cfg.E * l->cfg.Dv, Dk = l->cfg.Dk, QD = l->Hq * 2 * Dk;
    int key_rows = l->cfg.H * 2 * l->cfg.r * l->Kn;
    // Forward was: out = acc @ Wo^T (or out = acc)
    const real *dacc = dout;
    if (l->wo) {
        memset(l->dacc, 0, (size_t)N * EDv * sizeof(real));
        matmul_backward(l->dacc, l->wo->grad, NULL, dout, l->acc, l->wo->data, N, EDv, l->D);
        dacc = l->dacc;
    }
    score_grads(l, dacc, N);
    value_grads(l, dacc, N);
    side_score_grads(l, N);
    core_grads(l, N);
    memset(l->dkhat, 0, (size_t)key_rows * Dk * sizeof(real));
    key_and_query_grads(l, N);
    // Forward was: every head read the shared query; so its gradient is the
    // sum over heads (in head order, per token: deterministic).
    const real *dqn = l->dqn_head;
    if (l->cfg.share_query && l->cfg.H > 1) {
        int H = l->cfg.H;
#pragma omp parallel for
        for (int t = 0; t < N; t++) {
            real *d = l->dqn + (size_t)t * QD;
            memcpy(d, l->dqn_head + (size_t)t * H * QD, (size_t)QD * sizeof(real));
            for (int h = 1; h < H; h++)
                for (int x = 0; x < QD; x++) d[x] += l->dqn_head[((size_t)t * H + h) * QD + x];
        }
        dqn = l->dqn;
    }
    // Forward was: khat = RMSNorm(keys), qn = RMSNorm(q) (or copies)
    if (l->knorm_w) {
        rmsnorm_backward(l->keys->grad, l->knorm_w->grad, l->dkhat, l->keys->data, l->knorm_w->data, l->k_rstd,
                         key_rows, Dk);
    } else {
        real *dk = l->keys->grad;
        for (size_t i = 0; i < (size_t)key_rows * Dk; i++) dk[i] += l->dkhat[i];
    }
    const real *dq = dqn;
    if (l->qnorm_w) {
        memset(l->dq, 0, (size_t)N * QD * sizeof(real));
        rmsnorm_backward(l->dq, l->qnorm_w->grad, dqn, l->q, l->qnorm_w->data, l->q_rstd, N * l->Hq * 2, Dk);
        dq = l->dq;
    }
    // Forward was: q = inp @ Wq^T
    matmul_backward(dinp, l->wq->grad, NULL, dq, inp, l->wq->data, N, l->D, QD);
}

// ---------------------------------------------------------------- init

// The two numbers of the "improved init" (research notes section 2.7).
// Value std: PKM (XLM) draws values from N(0, 1/Dv) and lets the softmax keep
// the output in scale. Raw scores of mean ~1 summed over m winners of H heads
// (and E blocks pooled, then projected) make the output variance about
// m H Var(V) / E, so [PAPER] sets Var(V) = E / (2 m H L): every one of the L
// memory layers then adds 1/(2L), like a GPT residual branch.
// Norm gain: a weight g on both the query and the key norm scales each side
// score by g^2, the additive score by g^2 and the bilinear (TDQKR) score by g^4,
// so g = mu^(-1/2) or mu^(-1/4) moves a measured mean selected score mu to 1;
// if mu <= 0 (it should not happen), [CODE]'s constant 1/Dk^0.33.
/* BEGIN EXERCISE 7.2 */
static double value_init_std(const UmUltraMemConfig *c) {
    if (!c->improved_init) return 1 / sqrt((double)c->Dv);
    int L = c->init_n_layers > 0 ? c->init_n_layers : 1;
    return sqrt((double)c->E / (2.0 * c->m * c->H * L));
}

static double norm_gain(double mu, int tdqkr, int Dk) {
    if (mu <= 0) return pow((double)Dk, -0.33);
    return pow(mu, tdqkr ? -0.25 : -0.5);
}
/* END EXERCISE 7.2 */

// Monte-Carlo calibration of the query/key norm weights ([PAPER] "improved
// init": the scores are used raw, so their scale IS the output scale, and
// the value init assumes selected scores of mean ~1).
//   1. Both norm weights = 1 (queries and keys then have RMS 1).
//   2. Run the search on CALIBRATION_TOKENS inputs x ~ N(0, I_D) (the layer
//      reads an RMS-normalised hidden state, RMS ~1 at init) and measure mu,
//      the mean over tokens, heads and winners of the selected (summed-core)
//      score.
//   3. A weight g on both norms scales every side score by g^2, hence the
//      additive score by g^2 and the bilinear score R^T C Q by g^4. Positive
//      scaling never changes which slots win, so g = mu^(-1/2) (additive) or
//      mu^(-1/4) (TDQKR) makes the mean selected score exactly 1 on this
//      sample.
// [PAPER] (as summarised) puts 1/sqrt(E[Y]) on the query norm and 1/sqrt(Dk)
// on the key norm, E[Y] the Monte-Carlo mean top-m of n Gaussians; we
// measure the layer itself instead of modelling it (it also covers TDQKR and
// the cores) and split the factor evenly. If mu <= 0 (it should not), fall
// back to [CODE]'s constant 1/Dk^0.33.
static void calibrate_norms(UmUltraMem *l, UmRng *rng) {
    UmRng cal;
    rng_seed(&cal, ((uint64_t)rng_u32(rng) << 32) | rng_u32(rng));
    param_fill(l->qnorm_w, 1);
    param_fill(l->knorm_w, 1);
    int chunk = l->max_tokens < CALIBRATION_TOKENS ? l->max_tokens : CALIBRATION_TOKENS;
    real *x = alloc_reals((size_t)chunk * l->D);
    double sum = 0;
    long count = 0;
    prepare_keys_and_cores(l);
    for (int done = 0; done < CALIBRATION_TOKENS; done += chunk) {
        int N = CALIBRATION_TOKENS - done < chunk ? CALIBRATION_TOKENS - done : chunk;
        for (size_t i = 0; i < (size_t)N * l->D; i++) x[i] = (real)rng_normal(&cal);
        query_forward(l, x, N);
        search_all(l, N);
        for (size_t i = 0; i < (size_t)N * l->cfg.H * l->cfg.m; i++) sum += l->total[i];
        count += (long)N * l->cfg.H * l->cfg.m;
    }
    um_free(x);
    double g = norm_gain(sum / (double)count, l->cfg.tdqkr, l->cfg.Dk);
    param_fill(l->qnorm_w, (real)g);
    param_fill(l->knorm_w, (real)g);
    l->N = 0;  // the cache holds calibration data, not a forward of the caller's
}

// PKM init (improved_init 0) or [CODE]/[PAPER] UltraMem init (section 2.7).
static void init_params(UmUltraMem *l, UmRng *rng) {
    const UmUltraMemConfig *c = &l->cfg;
    double Dk = c->Dk, EDv = (double)c->E * c->Dv;
    if (c->improved_init) {
        param_normal(l->wq, rng, (real)(1 / sqrt(Dk)));    // [CODE] N(0, 1/kdim)
        param_normal(l->keys, rng, (real)(1 / sqrt(Dk)));  // [CODE] N(0, 1/kdim)
    } else {
        param_uniform(l->wq, rng, (real)(1 / sqrt((double)l->D)));  // PyTorch Linear default (PKM)
        param_uniform(l->keys, rng, (real)(1 / sqrt(Dk)));          // XLM sub-keys
    }
    if (l->cores) {  // [CODE] U(0, 1): positive, so u and t start all-positive
        param_uniform(l->cores, rng, (real)0.5);
        for (size_t i = 0; i < l->cores->numel; i++) l->cores->data[i] += (real)0.5;
    }
    double vstd = c->value_init_std > 0 ? c->value_init_std : value_init_std(c);
    param_normal(l->values, rng, (real)vstd);
    if (l->wo) {
        if (c->improved_init)
            param_normal(l->wo, rng, (real)(1 / sqrt(EDv)));  // [CODE] N(0, 1/(E Dv))
        else
            param_uniform(l->wo, rng, (real)(1 / sqrt(EDv)));  // PyTorch Linear default
    }
    if (l->qnorm_w) {
        if (c->improved_init && c->calibrate_norm) {
            calibrate_norms(l, rng);
        } else {
            real g = c->improved_init ? (real)pow(Dk, -0.33) : 1;  // [CODE] 1/kdim^0.33
            param_fill(l->qnorm_w, g);
            param_fill(l->knorm_w, g);
        }
    }
}

void um_ultramem_init(UmUltraMem *l, const UmUltraMemConfig *cfg, int D, int max_tokens, UmParamRegistry *reg,
                      UmRng *rng, const char *prefix) {
    memset(l, 0, sizeof *l);
    l->cfg = *cfg;
    resolve_config(&l->cfg, D, max_tokens);
    const UmUltraMemConfig *c = &l->cfg;
    l->D = D;
    l->max_tokens = max_tokens;
    l->Hq = c->share_query ? 1 : c->H;
    l->side = ive_side_factor(c->E);
    l->Kn = l->side * c->n;
    l->n_phys = c->n * c->n;
    l->n_virt = l->Kn * l->Kn;
    l->slice = c->Dv / c->cores;

    int g_decay = params_group(reg, "decay", 1, c->weight_decay);
    int g_plain = params_group(reg, "no_decay", 1, 0);
    // Values get no weight decay, as in PKM (a rarely read row would decay
    // between its reads); [CODE] does decay them. Shared with PKM by name.
    int g_values = params_group(reg, "memory_values", (real)um_ultramem_value_lr_mult(c, 0, 1), 0);

    int Dk = c->Dk, H = c->H, r = c->r;
    l->wq = add_param(reg, prefix, "query.weight", g_decay, 2, (int[]){l->Hq * 2 * Dk, D});
    if (c->qk_norm) l->qnorm_w = add_param(reg, prefix, "query_norm.weight", g_plain, 1, (int[]){Dk});
    l->keys = add_param(reg, prefix, "keys", g_plain, 4, (int[]){H, 2, r * l->Kn, Dk});
    if (c->qk_norm) l->knorm_w = add_param(reg, prefix, "key_norm.weight", g_plain, 1, (int[]){Dk});
    if (c->tdqkr) l->cores = add_param(reg, prefix, "cores", g_plain, 4, (int[]){H, c->cores, r, r});
    l->values = add_param(reg, prefix, "values", g_values, 2, (int[]){l->n_phys, c->Dv});
    if (c->value_proj) l->wo = add_param(reg, prefix, "value_proj.weight", g_decay, 2, (int[]){D, c->E * c->Dv});

    // The IVE shuffle: derived from the configured seed and the layer's name,
    // so two layers get different maps and a reload rebuilds the same one.
    if (c->E > 1) {
        l->ive_seed = ive_layer_seed(c->ive_seed, prefix);
        l->shuffle = alloc_ints(l->n_virt);
        ive_shuffle(l->shuffle, l->n_virt, l->ive_seed);
    }
    alloc_cache(l);
    init_params(l, rng);
}

// ---------------------------------------------------------------- accounting

// Per token: the query network, every key (all 2 r Kn keys of every head are
// scored), the cores, H*m value rows of Dv, and the output projection.
size_t um_ultramem_activated_params(const UmUltraMem *l) {
    size_t p = l->wq->numel + l->keys->numel;
    p += (l->qnorm_w ? l->qnorm_w->numel : 0) + (l->knorm_w ? l->knorm_w->numel : 0);
    p += l->cores ? l->cores->numel : 0;
    p += (size_t)l->cfg.H * l->cfg.m * l->cfg.Dv;
    p += l->wo ? l->wo->numel : 0;
    return p;
}

// Multiply-adds count 2, plain adds 1; norms, top-k and softmax are left out.
double um_ultramem_flops_per_token(const UmUltraMem *l) {
    double H = l->cfg.H, Hq = l->Hq, Dk = l->cfg.Dk, Kn = l->Kn, m = l->cfg.m, r = l->cfg.r, h = l->cfg.cores;
    double D = l->D, Dv = l->cfg.Dv, E = l->cfg.E;
    double query = 2 * D * Hq * 2 * Dk;
    double keys = 2 * H * 2 * r * Kn * Dk;  // r score vectors per side
    double select = 0, grid, winners = 0;
    if (l->cfg.tdqkr) {
        select = 2 * H * 2 * r * Kn;                     // u.S_row, t.S_col
        grid = 2 * H * (m * r * r + m * m * r);          // R^T Csum once per row, then r per cell
        winners = 2 * H * m * h * (r * r + r);           // each core's score of each winner
    } else {
        grid = H * m * m;  // s_row + s_col per cell
    }
    double read = 2 * H * m * Dv;  // each core weights its Dv/h slice: Dv per read in all
    double proj = l->wo ? 2 * E * Dv * D : 0;
    return query + keys + select + grid + winners + read + proj;
}

double um_ultramem_bytes_read_per_token(const UmUltraMem *l) {
    return (double)l->cfg.H * l->cfg.m * l->cfg.Dv * sizeof(real);
}

void um_ultramem_stats_accumulate(const UmUltraMem *l, UmMemStats *stats) {
    um_mem_stats_add(stats, l->phys, NULL, l->total, l->N * l->cfg.H, l->cfg.m);
}

unsigned long um_ultramem_selection_hash(const UmUltraMem *l) {
    unsigned long h = 1469598103934665603ul;
    for (int i = 0; i < l->N * l->cfg.H * l->cfg.m; i++) h = (h ^ (unsigned)l->virt[i]) * 1099511628211ul;
    return h;
}
