// capture.c: see capture.h.
#include "capture.h"

#include <math.h>
#include <string.h>

#include "base/alloc.h"

#define MOE_PROBE_WINDOW 50  // forward passes the MoE probe's load ring covers

// The read window's ring over `side` x `side` running counts.
static void alloc_read_window(VizTap *tp, const uint64_t *counts, int side) {
    tp->counts = counts, tp->read_side = side, tp->read_slots = side * side;
    tp->chunk_reads = um_alloc((size_t)VIZ_READ_CHUNKS * tp->read_slots * sizeof(float));
    tp->at_chunk_start = um_alloc((size_t)tp->read_slots * sizeof(uint64_t));
}

static void tap_pkm(VizTap *tp, UmPkm *l, int block) {
    tp->kind = VIZ_LAYER_PKM, tp->block = block, tp->pkm = l;
    um_retrieval_probe_init(&tp->rp, l->cfg.n, l->cfg.k, 0, 0);
    alloc_read_window(tp, tp->rp.read_counts, l->cfg.n);
    l->probe = &tp->rp;
}

// UltraMem: the probe's grid is the VIRTUAL one (Kn = sqrt(E) n keys per
// side); reads are watched per physical value row (n x n of them).
static void tap_ultramem(VizTap *tp, UmUltraMem *l, int block) {
    tp->kind = VIZ_LAYER_ULTRAMEM, tp->block = block, tp->um = l;
    const UmUltraMemConfig *c = &l->cfg;
    um_ultramem_probe_init(&tp->up, l->Kn, c->m, c->r, c->cores, l->n_phys, 0, 0);
    alloc_read_window(tp, tp->up.phys_read_counts, c->n);
    tp->tucker_hist = um_alloc((size_t)c->H * sizeof(VizTuckerHistory));
    l->probe = &tp->up;
}

// UltraMemV2: one head; the grid is the Kn x Kn virtual grid of its window
// (Kn = sqrt(g) n); reads are watched per window row (Kn*Kn = g n^2 rows).
static void tap_um2(VizTap *tp, UmUltraMemV2 *l, int block) {
    tp->kind = VIZ_LAYER_ULTRAMEM2, tp->block = block, tp->um2 = l;
    um_retrieval_probe_init(&tp->rp, l->Kn, l->cfg.m, 0, 0);
    alloc_read_window(tp, tp->rp.read_counts, l->Kn);
    tp->tucker_hist = um_alloc(sizeof(VizTuckerHistory));
    l->probe = &tp->rp;
}

static int um2_fits(const UmUltraMemV2 *l) {
    return l->Kn <= VIZ_MAX_N && l->cfg.m <= VIZ_MAX_K && l->cfg.cores <= VIZ_MAX_CORES && l->cfg.r <= VIZ_MAX_RANK &&
           l->Kn * l->Kn == l->n_win;
}

// PEER: PKM's search over shared keys, one expert (up, down) per slot.
static void tap_peer(VizTap *tp, UmPeer *l, int block) {
    tp->kind = VIZ_LAYER_PEER, tp->block = block, tp->peer = l;
    um_retrieval_probe_init(&tp->rp, l->cfg.n, l->cfg.k, 0, 0);
    alloc_read_window(tp, tp->rp.read_counts, l->cfg.n);
    l->probe = &tp->rp;
}

static int ultramem_fits(const UmUltraMem *l) {
    return l->Kn <= VIZ_MAX_N && l->cfg.m <= VIZ_MAX_K && l->cfg.cores <= VIZ_MAX_CORES && l->cfg.r <= VIZ_MAX_RANK &&
           l->cfg.n * l->cfg.n == l->n_phys;
}

static void tap_moe(VizTap *tp, UmMoe *l, int block, int T) {
    tp->kind = VIZ_LAYER_MOE, tp->block = block, tp->moe = l;
    // Only the first sequence of a batch (T tokens) is kept per token.
    um_moe_probe_init(&tp->mp, l->X, l->k, T < l->max_tokens ? T : l->max_tokens, MOE_PROBE_WINDOW);
    tp->moe_hist = um_alloc(sizeof(VizMoe));
    tp->moe_hist->X = l->X, tp->moe_hist->k = l->k;
    um_moe_attach_probe(l, &tp->mp);
}

int viz_taps_attach(VizTaps *t, UmModel *m) {
    memset(t, 0, sizeof *t);
    for (int b = 0; b < m->cfg.n_layers && m->slots; b++) {
        UmFfnSlot *s = &m->slots[b];
        if (s->pkm && t->n < VIZ_MAX_LAYERS && s->pkm->cfg.n <= VIZ_MAX_N && s->pkm->cfg.k <= VIZ_MAX_K)
            tap_pkm(&t->tap[t->n++], s->pkm, b);
        if (s->moe && t->n < VIZ_MAX_LAYERS && s->moe->X <= VIZ_MAX_X) tap_moe(&t->tap[t->n++], s->moe, b, m->cfg.block_size);
        if (s->um2 && t->n < VIZ_MAX_LAYERS && um2_fits(s->um2)) tap_um2(&t->tap[t->n++], s->um2, b);
        if (s->peer && t->n < VIZ_MAX_LAYERS && s->peer->cfg.n <= VIZ_MAX_N && s->peer->cfg.k <= VIZ_MAX_K)
            tap_peer(&t->tap[t->n++], s->peer, b);
    }
    // Skip-layer memories live beside the blocks: listed after them, each
    // under the block whose FFN input it reads.
    for (int i = 0; i < m->cfg.um_layers && i < UM_MAX_MEM_LAYERS; i++)
        if (m->mems[i] && t->n < VIZ_MAX_LAYERS && ultramem_fits(m->mems[i]))
            tap_ultramem(&t->tap[t->n++], m->mems[i], m->cfg.um_read[i]);
    return t->n;
}

void viz_taps_detach(VizTaps *t) {
    for (int i = 0; i < t->n; i++) {
        VizTap *tp = &t->tap[i];
        if (tp->pkm) tp->pkm->probe = NULL;
        if (tp->um2) {
            tp->um2->probe = NULL;
            um_free(tp->tucker_hist);
        }
        if (tp->peer) tp->peer->probe = NULL;
        if (tp->pkm || tp->um2 || tp->peer) um_retrieval_probe_free(&tp->rp);
        if (tp->um) {
            tp->um->probe = NULL;
            um_ultramem_probe_free(&tp->up);
            um_free(tp->tucker_hist);
        }
        um_free(tp->chunk_reads);
        um_free(tp->at_chunk_start);
        if (tp->moe) {
            um_moe_attach_probe(tp->moe, NULL);
            um_moe_probe_free(&tp->mp);
            um_free(tp->moe_hist);
        }
    }
    memset(t, 0, sizeof *t);
}

void viz_taps_reset_reads(VizTaps *t) {
    for (int i = 0; i < t->n; i++) {
        VizTap *tp = &t->tap[i];
        if (tp->pkm || tp->um2 || tp->peer) um_retrieval_probe_reset_counts(&tp->rp);
        if (tp->um) um_ultramem_probe_reset_counts(&tp->up);
        if (tp->at_chunk_start) memset(tp->at_chunk_start, 0, (size_t)tp->read_slots * sizeof(uint64_t));
        tp->chunks_full = 0, tp->steps_in_chunk = 0;
    }
}

void viz_taps_select(VizTaps *t, int token, int head) {
    for (int i = 0; i < t->n; i++) {
        VizTap *tp = &t->tap[i];
        UmRetrievalProbe *p = (tp->pkm || tp->um2 || tp->peer) ? &tp->rp : tp->um ? &tp->up.base : NULL;
        if (!p) continue;
        int H = viz_taps_heads(t, i);
        p->token = token;
        p->head = head < H ? head : H - 1;
    }
}

int viz_taps_heads(const VizTaps *t, int i) {
    if (i < 0 || i >= t->n) return 1;
    const VizTap *tp = &t->tap[i];
    return tp->pkm ? tp->pkm->cfg.H : tp->um ? tp->um->cfg.H : tp->peer ? tp->peer->cfg.H : 1;
}

// ---------------------------------------------------------------- per step
// The probe's read counts only ever grow. To show the RECENT reads, every
// VIZ_READ_CHUNK_STEPS steps the growth since the chunk began is stored in a
// ring of VIZ_READ_CHUNKS chunks.
static void close_chunk(VizTap *tp) {
    int slots = tp->read_slots;
    float *dst = tp->chunk_reads + (size_t)tp->chunk_next * slots;
    for (int i = 0; i < slots; i++) {
        dst[i] = (float)(tp->counts[i] - tp->at_chunk_start[i]);
        tp->at_chunk_start[i] = tp->counts[i];
    }
    tp->chunk_next = (tp->chunk_next + 1) % VIZ_READ_CHUNKS;
    if (tp->chunks_full < VIZ_READ_CHUNKS) tp->chunks_full++;
    tp->steps_in_chunk = 0;
}

// The singular values of each head's summed core, as the last forward
// computed them (the layer needs them to select, so they are free to read).
static void sample_tucker(VizTap *tp, int step) {
    const UmUltraMem *l = tp->um;
    if (!l->cfg.tdqkr) return;
    for (int h = 0; h < l->cfg.H; h++) {
        VizTuckerHistory *th = &tp->tucker_hist[h];
        if (th->n > 0 && th->step[th->n - 1] >= (float)step) continue;  // um viz reruns: one point
        float sv[VIZ_MAX_RANK];
        for (int j = 0; j < l->cfg.r; j++) sv[j] = (float)l->svd[h].s[j];
        viz_tucker_add(th, (float)step, sv, l->cfg.r);
    }
}

// UltraMemV2: one head, always TDQKR; same sampling as above.
static void sample_tucker_v2(VizTap *tp, int step) {
    const UmUltraMemV2 *l = tp->um2;
    VizTuckerHistory *th = tp->tucker_hist;
    if (th->n > 0 && th->step[th->n - 1] >= (float)step) return;
    float sv[VIZ_MAX_RANK];
    for (int j = 0; j < l->cfg.r; j++) sv[j] = (float)l->svd.s[j];
    viz_tucker_add(th, (float)step, sv, l->cfg.r);
}

void viz_taps_after_step(VizTaps *t, int step) {
    for (int i = 0; i < t->n; i++) {
        VizTap *tp = &t->tap[i];
        if (tp->counts && ++tp->steps_in_chunk >= VIZ_READ_CHUNK_STEPS) close_chunk(tp);
        if (tp->um) sample_tucker(tp, step);
        if (tp->um2) sample_tucker_v2(tp, step);
        if (tp->moe && tp->mp.filled > 0) {
            double frac[VIZ_MAX_X];
            float f[VIZ_MAX_X];
            um_moe_probe_window_fraction(&tp->mp, frac);
            for (int e = 0; e < tp->mp.X; e++) f[e] = (float)frac[e];
            viz_moe_history_add(tp->moe_hist, (float)step, f);
        }
    }
}

// ---------------------------------------------------------------- capture
static void copy_values(VizRetrieval *r, const real *table, int Dv, const int *row, int k);
static void capture_reads(VizRetrieval *r, const VizTap *tp);

// PKM and PEER share the additive product-key grid: every cell is row score
// + column score. They differ in the layer kind, the head count and which
// table holds the winners' value rows.
static void capture_additive(VizRetrieval *r, const VizTap *tp, int kind, int n_heads, const real *table, int D) {
    const UmRetrievalProbe *p = &tp->rp;
    int n = p->n, k = p->k;
    r->present = p->filled;
    r->kind = kind, r->tucker = 0;
    r->n = n, r->k = k, r->head = p->head, r->n_heads = n_heads, r->token = p->token;
    r->n_cores = 1, r->n_virtual = 0, r->raw_weights = 0;
    for (int i = 0; i < n; i++) r->row_scores[i] = (float)p->row_scores[i], r->col_scores[i] = (float)p->col_scores[i];
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) r->grid[i * n + j] = r->row_scores[i] + r->col_scores[j];
    for (int q = 0; q < k; q++) {
        r->grid_rows[q] = p->grid_rows[q], r->grid_cols[q] = p->grid_cols[q];
        r->slots[q] = p->slots[q];
        r->scores[q] = (float)p->scores[q], r->weights[q] = (float)p->weights[q];
    }
    copy_values(r, table, D, p->slots, k);
    capture_reads(r, tp);
}

static void capture_pkm(VizRetrieval *r, const VizTap *tp) {
    capture_additive(r, tp, VIZ_LAYER_PKM, tp->pkm->cfg.H, tp->pkm->values->data, tp->pkm->D);
}

// The winners' value rows (row[q] of a table with Dv columns), first dims.
static void copy_values(VizRetrieval *r, const real *table, int Dv, const int *row, int k) {
    int shown = Dv < VIZ_MAX_VDIM ? Dv : VIZ_MAX_VDIM;
    r->value_dim = Dv, r->value_dim_shown = shown;
    for (int q = 0; q < k; q++) {
        const real *v = table + (size_t)row[q] * Dv;
        for (int d = 0; d < shown; d++) r->values[q][d] = (float)v[d];
    }
}

// Reads in the window: the full chunks plus the chunk in progress.
static void capture_reads(VizRetrieval *r, const VizTap *tp) {
    int slots = tp->read_slots;
    r->reads_side = (tp->um || tp->um2) ? tp->read_side : 0;
    for (int i = 0; i < slots; i++) r->reads[i] = (float)(tp->counts[i] - tp->at_chunk_start[i]);
    for (int c = 0; c < tp->chunks_full; c++) {
        const float *src = tp->chunk_reads + (size_t)c * slots;
        for (int i = 0; i < slots; i++) r->reads[i] += src[i];
    }
    r->window_steps = tp->chunks_full * VIZ_READ_CHUNK_STEPS + tp->steps_in_chunk;
    r->window_reads = 0;
    for (int i = 0; i < slots; i++) r->window_reads += r->reads[i];
    viz_read_stats(r->reads, slots, &r->usage_pct, &r->kl_uniform, &r->dead_slots);
}

// UltraMem: the probe holds the selection scores per side (u.S_row, t.S_col
// with TDQKR), the m x m candidates rescored exactly, and every rank's side
// scores. The full Kn x Kn grid the panel draws is S_row^T Csum S_col for
// every pair (what the rank-1 shortcut avoids computing), or S_row + S_col
// without TDQKR; the candidates' cells are then overwritten with the probe's
// own exact scores, so the marked winners show exactly what the layer used.
static void capture_ultramem(VizRetrieval *r, const VizTap *tp) {
    const UmUltraMemProbe *up = &tp->up;
    const UmRetrievalProbe *p = &up->base;
    const UmUltraMem *l = tp->um;
    int n = p->n, k = p->k, R = up->r, hc = up->h;
    r->present = p->filled;
    r->kind = VIZ_LAYER_ULTRAMEM, r->tucker = l->cfg.tdqkr;
    r->n = n, r->k = k, r->head = p->head, r->n_heads = l->cfg.H, r->token = p->token;
    for (int i = 0; i < n; i++) r->row_scores[i] = (float)p->row_scores[i], r->col_scores[i] = (float)p->col_scores[i];
    if (l->cfg.tdqkr) {
        const real *C = l->core_sum + (size_t)p->head * R * R;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int a = 0; a < R; a++)
                    for (int b = 0; b < R; b++)
                        s += (double)up->side_row[a * n + i] * C[a * R + b] * up->side_col[b * n + j];
                r->grid[i * n + j] = (float)s;
            }
    } else {
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) r->grid[i * n + j] = r->row_scores[i] + r->col_scores[j];
    }
    for (int a = 0; a < k; a++)
        for (int b = 0; b < k; b++) r->grid[p->grid_rows[a] * n + p->grid_cols[b]] = (float)p->grid[a * k + b];
    for (int q = 0; q < k; q++) {
        r->grid_rows[q] = p->grid_rows[q], r->grid_cols[q] = p->grid_cols[q];
        r->slots[q] = p->slots[q];
        r->scores[q] = (float)p->scores[q], r->weights[q] = (float)p->weights[q];
        r->phys[q] = up->phys[q];
        r->virtual_block[q] = up->block[q];
        for (int c = 0; c < hc; c++) r->core_weights[c][q] = (float)up->core_weights[q * hc + c];
    }
    r->n_cores = hc;
    r->n_virtual = l->cfg.E > 1 ? l->cfg.E : 0;
    r->raw_weights = !l->cfg.softmax;
    copy_values(r, l->values->data, l->cfg.Dv, up->phys, k);
    capture_reads(r, tp);
}

// UltraMemV2: like UltraMem's grid (one head, no IVE blocks). The full
// Kn x Kn grid is S_row^T Csum S_col from the probe search's per-rank side
// scores (the layer keeps them in probe_ws); the m x m candidates' cells are
// the layer's own exact scores. A winner's weight is sum_c s_jc <P, Ax>
// (not a softmax); its value row lives in the window (own or ring table).
static void capture_um2(VizRetrieval *r, const VizTap *tp) {
    const UmRetrievalProbe *p = &tp->rp;
    const UmUltraMemV2 *l = tp->um2;
    const UmUltraMemSearch *ws = &l->probe_ws;
    int n = p->n, k = p->k, R = l->cfg.r, hc = l->cfg.cores, Dv = l->cfg.Dv;
    r->present = p->filled && p->token < l->N;
    r->kind = VIZ_LAYER_ULTRAMEM2, r->tucker = 1;
    r->n = n, r->k = k, r->head = 0, r->n_heads = 1, r->token = p->token;
    for (int i = 0; i < n; i++) r->row_scores[i] = (float)p->row_scores[i], r->col_scores[i] = (float)p->col_scores[i];
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int a = 0; a < R; a++)
                for (int b = 0; b < R; b++)
                    s += (double)ws->S_row[a * n + i] * l->core_sum[a * R + b] * ws->S_col[b * n + j];
            r->grid[i * n + j] = (float)s;
        }
    for (int a = 0; a < k; a++)
        for (int b = 0; b < k; b++) r->grid[p->grid_rows[a] * n + p->grid_cols[b]] = (float)p->grid[a * k + b];
    int shown = Dv < VIZ_MAX_VDIM ? Dv : VIZ_MAX_VDIM;
    r->value_dim = Dv, r->value_dim_shown = shown;
    size_t o = (size_t)(r->present ? p->token : 0) * l->cfg.m;
    for (int q = 0; q < k; q++) {
        r->grid_rows[q] = p->grid_rows[q], r->grid_cols[q] = p->grid_cols[q];
        r->slots[q] = p->slots[q];
        r->scores[q] = (float)p->scores[q], r->weights[q] = (float)p->weights[q];
        int w = l->win[o + q];
        r->phys[q] = w, r->virtual_block[q] = 0;
        for (int c = 0; c < hc; c++) r->core_weights[c][q] = (float)(l->score[(o + q) * hc + c] * l->act[o + q]);
        const real *V = l->ring_values[w / l->n_tab]->data + (size_t)(w % l->n_tab) * Dv;
        for (int d = 0; d < shown; d++) r->values[q][d] = (float)V[d];
    }
    r->n_cores = hc, r->n_virtual = 0, r->raw_weights = 1;
    capture_reads(r, tp);
}

// PEER: the winners' weights are the softmax gates; the value rows shown are
// the experts' down vectors.
static void capture_peer(VizRetrieval *r, const VizTap *tp) {
    capture_additive(r, tp, VIZ_LAYER_PEER, tp->peer->cfg.H, tp->peer->down->data, tp->peer->D);
}

// The router's view of the tokens around the selected one (first sequence).
static void capture_moe(VizMoe *s, const VizTap *tp, const UmModel *m, int token) {
    const UmMoeProbe *p = &tp->mp;
    memcpy(s, tp->moe_hist, sizeof *s);  // the load history, then the per-token part
    s->present = p->steps > 0;
    s->X = p->X, s->k = p->k;
    int rows = 32, first = token - rows * 2 / 3;
    if (first + rows > p->n_tokens) first = p->n_tokens - rows;
    if (first < 0) first = 0;
    if (rows > p->n_tokens - first) rows = p->n_tokens - first;
    s->first_token = first, s->n_tokens = rows, s->selected = token - first;
    if (s->selected >= rows) s->selected = -1;
    int kk = p->k < 8 ? p->k : 8;
    for (int r = 0; r < rows; r++) {
        int t = first + r;
        for (int e = 0; e < p->X; e++) s->probs[r][e] = p->probs[(size_t)t * p->X + e];
        for (int j = 0; j < kk; j++) s->chosen[r][j] = p->chosen[(size_t)t * p->k + j];
        s->bytes[r] = (unsigned char)(m->inputs ? m->inputs[t] : '?');
    }
}

void viz_capture(VizSnapshot *s, const VizTaps *t, const UmModel *m, int layer, int head, int token) {
    s->n_layers = t->n;
    for (int i = 0; i < t->n; i++) s->layer_kind[i] = t->tap[i].kind, s->layer_block[i] = t->tap[i].block;
    s->layer = t->n > 0 ? (layer < 0 ? 0 : layer >= t->n ? t->n - 1 : layer) : 0;
    s->head = head, s->token = token;
    // The selected sequence: the first one of the last forward pass.
    int T = m->T < VIZ_MAX_CTX ? m->T : VIZ_MAX_CTX;
    s->ctx_len = m->inputs ? T : 0;
    for (int i = 0; i < s->ctx_len; i++) s->ctx[i] = (unsigned char)m->inputs[i];
    s->mem.present = 0, s->moe.present = 0, s->tucker.n = 0;
    if (t->n == 0) return;
    const VizTap *tp = &t->tap[s->layer];
    if (tp->pkm) capture_pkm(&s->mem, tp);
    if (tp->um2) {
        capture_um2(&s->mem, tp);
        s->tucker = *tp->tucker_hist;
    }
    if (tp->peer) capture_peer(&s->mem, tp);
    if (tp->moe) capture_moe(&s->moe, tp, m, token);
    if (tp->um) {
        capture_ultramem(&s->mem, tp);
        s->tucker = tp->tucker_hist[tp->up.base.head];  // the selected head's core
    }
}
